using System;
using System.Runtime.InteropServices;

namespace Dsl.Cuda.Interop;

/// <summary>The CUDA driver API calls the runner uses (cuda.h; 64-bit device pointers as ulong).</summary>
internal static unsafe partial class Driver
{
    [LibraryImport(CudaLibraries.Driver)]
    public static partial int cuInit(uint flags);

    [LibraryImport(CudaLibraries.Driver)]
    public static partial int cuDeviceGetCount(out int count);

    [LibraryImport(CudaLibraries.Driver)]
    public static partial int cuDeviceGet(out int device, int ordinal);

    [LibraryImport(CudaLibraries.Driver)]
    public static partial int cuDeviceGetAttribute(out int value, int attribute, int device);

    [LibraryImport(CudaLibraries.Driver, EntryPoint = "cuDevicePrimaryCtxRetain")]
    public static partial int cuDevicePrimaryCtxRetain(out IntPtr context, int device);

    [LibraryImport(CudaLibraries.Driver, EntryPoint = "cuDevicePrimaryCtxRelease_v2")]
    public static partial int cuDevicePrimaryCtxRelease(int device);

    [LibraryImport(CudaLibraries.Driver)]
    public static partial int cuCtxSetCurrent(IntPtr context);

    [LibraryImport(CudaLibraries.Driver)]
    public static partial int cuCtxSynchronize();

    [LibraryImport(CudaLibraries.Driver)]
    public static partial int cuModuleLoadData(out IntPtr module, byte* image);

    [LibraryImport(CudaLibraries.Driver)]
    public static partial int cuModuleUnload(IntPtr module);

    [LibraryImport(CudaLibraries.Driver, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int cuModuleGetFunction(out IntPtr function, IntPtr module, string name);

    [LibraryImport(CudaLibraries.Driver)]
    public static partial int cuLaunchKernel(IntPtr function, uint gridX, uint gridY, uint gridZ, uint blockX, uint blockY, uint blockZ,
        uint sharedMemBytes, IntPtr stream, void** kernelParams, void** extra);

    [LibraryImport(CudaLibraries.Driver, EntryPoint = "cuMemAlloc_v2")]
    public static partial int cuMemAlloc(out ulong pointer, nuint bytes);

    [LibraryImport(CudaLibraries.Driver, EntryPoint = "cuMemFree_v2")]
    public static partial int cuMemFree(ulong pointer);

    [LibraryImport(CudaLibraries.Driver, EntryPoint = "cuMemcpyHtoD_v2")]
    public static partial int cuMemcpyHtoD(ulong destination, void* source, nuint bytes);

    [LibraryImport(CudaLibraries.Driver, EntryPoint = "cuMemcpyDtoH_v2")]
    public static partial int cuMemcpyDtoH(void* destination, ulong source, nuint bytes);

    [LibraryImport(CudaLibraries.Driver)]
    public static partial int cuGetErrorName(int error, out IntPtr name);

    /// <summary>Throws a <see cref="CudaException"/> naming <paramref name="call"/> when <paramref name="result"/> is not CUDA_SUCCESS.</summary>
    public static void Check(int result, string call)
    {
        if (result == 0) return;
        string name = cuGetErrorName(result, out IntPtr text) == 0 && text != IntPtr.Zero ? Marshal.PtrToStringUTF8(text) ?? "?" : "?";
        throw new CudaException($"{call} failed: {name} ({result})");
    }
}

/// <summary>NVRTC: CUDA C to PTX at run time.</summary>
internal static unsafe partial class Nvrtc
{
    [LibraryImport(CudaLibraries.Nvrtc, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int nvrtcCreateProgram(out IntPtr program, string source, string name, int headers, IntPtr headerSources, IntPtr includeNames);

    [LibraryImport(CudaLibraries.Nvrtc)]
    public static partial int nvrtcCompileProgram(IntPtr program, int count, IntPtr* options);

    [LibraryImport(CudaLibraries.Nvrtc)]
    public static partial int nvrtcGetPTXSize(IntPtr program, out nuint size);

    [LibraryImport(CudaLibraries.Nvrtc)]
    public static partial int nvrtcGetPTX(IntPtr program, byte* ptx);

    [LibraryImport(CudaLibraries.Nvrtc)]
    public static partial int nvrtcGetProgramLogSize(IntPtr program, out nuint size);

    [LibraryImport(CudaLibraries.Nvrtc)]
    public static partial int nvrtcGetProgramLog(IntPtr program, byte* log);

    [LibraryImport(CudaLibraries.Nvrtc)]
    public static partial int nvrtcDestroyProgram(ref IntPtr program);
}

/// <summary>cuBLAS (v2 API, column-major).</summary>
internal static unsafe partial class Cublas
{
    [LibraryImport(CudaLibraries.Cublas, EntryPoint = "cublasCreate_v2")]
    public static partial int cublasCreate(out IntPtr handle);

    [LibraryImport(CudaLibraries.Cublas, EntryPoint = "cublasDestroy_v2")]
    public static partial int cublasDestroy(IntPtr handle);

    /// <summary>CUBLAS_DEFAULT_MATH: FP32 GEMMs in full FP32, no TF32 tensor-core rounding.</summary>
    public const int DefaultMath = 0;

    [LibraryImport(CudaLibraries.Cublas)]
    public static partial int cublasSetMathMode(IntPtr handle, int mode);

    [LibraryImport(CudaLibraries.Cublas, EntryPoint = "cublasSgemm_v2")]
    public static partial int cublasSgemm(IntPtr handle, int transa, int transb, int m, int n, int k,
        float* alpha, ulong a, int lda, ulong b, int ldb, float* beta, ulong c, int ldc);

    /// <summary>Throws naming the call when <paramref name="status"/> is not CUBLAS_STATUS_SUCCESS.</summary>
    public static void Check(int status, string call)
    {
        if (status != 0) throw new CudaException($"{call} failed: cuBLAS status {status}");
    }
}
