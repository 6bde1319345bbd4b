using System;
using System.Runtime.InteropServices;

namespace Dsl.Cuda.Interop;

/// <summary>
/// cuBLASLt (cublasLt.h): matrix products with fused epilogues. Only what <see cref="CublasLtPlan"/> needs.
/// The enum values below were checked against published copies of cublasLt.h/library_types.h (no CUDA toolkit
/// is installed on the machine this was written on); each is the header's own number.
/// </summary>
internal static unsafe partial class CublasLt
{
    /// <summary>CUBLAS_COMPUTE_32F: FP32 multiply and accumulate, no TF32 (that is CUBLAS_COMPUTE_32F_FAST_TF32 = 77).</summary>
    public const int Compute32F = 68;

    /// <summary>CUDA_R_32F (library_types.h).</summary>
    public const int R32F = 0;

    /// <summary>CUBLAS_OP_N.</summary>
    public const int OpN = 0;

    /// <summary>CUBLAS_OP_T.</summary>
    public const int OpT = 1;

    // cublasLtMatmulDescAttributes_t
    public const int DescTransA = 3;
    public const int DescTransB = 4;
    public const int DescEpilogue = 7;
    public const int DescBiasPointer = 8;
    public const int DescEpilogueAuxPointer = 11;
    public const int DescEpilogueAuxLd = 12;

    // cublasLtMatmulPreferenceAttributes_t
    public const int PrefMaxWorkspaceBytes = 1;
    public const int PrefMinAlignmentABytes = 5;
    public const int PrefMinAlignmentBBytes = 6;
    public const int PrefMinAlignmentCBytes = 7;
    public const int PrefMinAlignmentDBytes = 8;

    /// <summary>cublasLtMatmulHeuristicResult_t: the algorithm (cublasLtMatmulAlgo_t, 8 × uint64), the workspace it
    /// needs, its state, its waves count and four reserved ints (96 bytes).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct HeuristicResult
    {
        public fixed ulong Algo[8];
        public nuint WorkspaceSize;
        public int State;
        public float WavesCount;
        public fixed int Reserved[4];
    }

    [LibraryImport(CudaLibraries.CublasLt)]
    public static partial int cublasLtCreate(out IntPtr handle);

    [LibraryImport(CudaLibraries.CublasLt)]
    public static partial int cublasLtDestroy(IntPtr handle);

    [LibraryImport(CudaLibraries.CublasLt)]
    public static partial int cublasLtMatmulDescCreate(out IntPtr desc, int computeType, int scaleType);

    [LibraryImport(CudaLibraries.CublasLt)]
    public static partial int cublasLtMatmulDescDestroy(IntPtr desc);

    [LibraryImport(CudaLibraries.CublasLt)]
    public static partial int cublasLtMatmulDescSetAttribute(IntPtr desc, int attribute, void* value, nuint size);

    [LibraryImport(CudaLibraries.CublasLt)]
    public static partial int cublasLtMatrixLayoutCreate(out IntPtr layout, int type, ulong rows, ulong cols, long ld);

    [LibraryImport(CudaLibraries.CublasLt)]
    public static partial int cublasLtMatrixLayoutDestroy(IntPtr layout);

    [LibraryImport(CudaLibraries.CublasLt)]
    public static partial int cublasLtMatmulPreferenceCreate(out IntPtr preference);

    [LibraryImport(CudaLibraries.CublasLt)]
    public static partial int cublasLtMatmulPreferenceSetAttribute(IntPtr preference, int attribute, void* value, nuint size);

    [LibraryImport(CudaLibraries.CublasLt)]
    public static partial int cublasLtMatmulPreferenceDestroy(IntPtr preference);

    [LibraryImport(CudaLibraries.CublasLt)]
    public static partial int cublasLtMatmulAlgoGetHeuristic(IntPtr handle, IntPtr desc, IntPtr a, IntPtr b, IntPtr c, IntPtr d, IntPtr preference,
        int requested, HeuristicResult* results, out int returned);

    [LibraryImport(CudaLibraries.CublasLt)]
    public static partial int cublasLtMatmul(IntPtr handle, IntPtr desc, float* alpha, ulong a, IntPtr aLayout, ulong b, IntPtr bLayout, float* beta,
        ulong c, IntPtr cLayout, ulong d, IntPtr dLayout, ulong* algo, ulong workspace, nuint workspaceSize, IntPtr stream);

    /// <summary>Throws naming the call when <paramref name="status"/> is not CUBLAS_STATUS_SUCCESS.</summary>
    public static void Check(int status, string call)
    {
        if (status != 0) throw new CudaException($"{call} failed: cuBLAS status {status}");
    }
}
