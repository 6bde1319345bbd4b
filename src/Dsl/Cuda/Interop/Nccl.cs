using System;
using System.Runtime.InteropServices;

namespace Dsl.Cuda.Interop;

/// <summary>
/// NCCL (nccl.h): the calls one all-reduce of the gradient slice needs. The enum values are nccl.h's own
/// (ncclFloat32 = 7, ncclSum = 0, ncclScalarHostImmediate = 1); ncclUniqueId is 128 opaque bytes passed by value.
/// Written without NCCL installed (no GPU on the machine): checked against published copies of nccl.h.
/// </summary>
internal static unsafe partial class Nccl
{
    /// <summary>The shared library the LibraryImport declarations name (NCCL 2's soname).</summary>
    public const string Library = "libnccl.so.2";

    /// <summary>ncclSuccess.</summary>
    public const int Success = 0;

    /// <summary>ncclFloat32.</summary>
    public const int Float32 = 7;

    /// <summary>ncclSum.</summary>
    public const int Sum = 0;

    /// <summary>ncclScalarHostImmediate: the pre-multiplication scalar is read from host memory when the call is made.</summary>
    public const int ScalarHostImmediate = 1;

    /// <summary>NCCL_UNIQUE_ID_BYTES.</summary>
    public const int UniqueIdBytes = 128;

    /// <summary>ncclUniqueId: 128 opaque bytes, made by one rank and given to all.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct UniqueId
    {
        public fixed byte Internal[UniqueIdBytes];
    }

    /// <summary>Loads <paramref name="file"/>, or throws saying what to install.</summary>
    /// <exception cref="CudaUnavailableException">NCCL does not load.</exception>
    public static void Require(string file = Library)
    {
        if (!NativeLibrary.TryLoad(file, out _))
            throw new CudaUnavailableException($"NCCL ({file}) could not be loaded: install NVIDIA's NCCL 2 (the libnccl2 package, or pip nvidia-nccl-cu12 with its lib folder on LD_LIBRARY_PATH). " +
                "Data-parallel training on GPUs reduces the gradients with it; on CPUs, use MpiCommunicator.");
    }

    /// <summary>ncclGetErrorString's text for <paramref name="result"/>.</summary>
    public static string ErrorString(int result)
    {
        IntPtr text = ncclGetErrorString(result);
        return text == IntPtr.Zero ? $"NCCL error {result}" : Marshal.PtrToStringUTF8(text) ?? $"NCCL error {result}";
    }

    /// <summary>Throws <see cref="CudaException"/> naming <paramref name="call"/> unless <paramref name="result"/> is ncclSuccess.</summary>
    public static void Check(int result, string call)
    {
        if (result != Success) throw new CudaException($"{call} failed: {ErrorString(result)} (NCCL result {result}).");
    }

    [LibraryImport(Library)]
    public static partial int ncclGetVersion(int* version);

    [LibraryImport(Library)]
    public static partial int ncclGetUniqueId(UniqueId* id);

    [LibraryImport(Library)]
    public static partial int ncclCommInitRank(IntPtr* comm, int ranks, UniqueId id, int rank);

    [LibraryImport(Library)]
    public static partial int ncclCommDestroy(IntPtr comm);

    [LibraryImport(Library)]
    public static partial int ncclRedOpCreatePreMulSum(int* op, void* scalar, int datatype, int residence, IntPtr comm);

    [LibraryImport(Library)]
    public static partial int ncclRedOpDestroy(int op, IntPtr comm);

    [LibraryImport(Library)]
    public static partial int ncclAllReduce(ulong send, ulong receive, nuint count, int datatype, int op, IntPtr comm, IntPtr stream);

    [LibraryImport(Library)]
    public static partial IntPtr ncclGetErrorString(int result);
}
