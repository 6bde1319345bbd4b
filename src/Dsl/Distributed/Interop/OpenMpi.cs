using System;
using System.Runtime.InteropServices;
using System.Text;

namespace Dsl.Distributed.Interop;

/// <summary>
/// The few MPI calls data parallelism needs, bound to Open MPI's C ABI (libmpi.so.40, Open MPI 3 to 5; Debian's
/// <c>libopenmpi3</c>, which <c>openmpi-bin</c> installs). Open MPI's handles are pointers to exported globals
/// (<c>MPI_COMM_WORLD</c> is <c>&amp;ompi_mpi_comm_world</c>, <c>MPI_FLOAT</c> is <c>&amp;ompi_mpi_float</c>, …), so they are
/// looked up by name once the library is loaded. MPICH's ABI (integer handles) is a different binary interface
/// and is not supported: <see cref="Load"/> says so.
/// </summary>
internal static unsafe partial class OpenMpi
{
    /// <summary>The shared library every LibraryImport below names; loaded by file name through the default probing.</summary>
    public const string Library = "libmpi.so.40";

    /// <summary>MPI_SUCCESS.</summary>
    public const int Success = 0;

    /// <summary>MPI_THREAD_SERIALIZED: any thread may call, never two at once (the training loop's thread calls; the
    /// worker pool's threads never do).</summary>
    public const int ThreadSerialized = 2;

    /// <summary>MPI_IN_PLACE: <c>((void *) 1)</c> in Open MPI's mpi.h.</summary>
    public static readonly void* InPlace = (void*)1;

    /// <summary>MPI_MAX_ERROR_STRING and MPI_MAX_LIBRARY_VERSION_STRING (both 256 in Open MPI 4).</summary>
    public const int MaxString = 256;

    private static readonly object s_gate = new();
    private static Handles? s_handles;

    /// <summary>The predefined handles, resolved when the library was loaded.</summary>
    public sealed record Handles(IntPtr CommWorld, IntPtr Float, IntPtr Double, IntPtr Byte, IntPtr Sum, IntPtr ErrorsReturn);

    /// <summary>Loads Open MPI and resolves its predefined handles (once), or throws saying what is missing.</summary>
    /// <exception cref="MpiUnavailableException">libmpi.so.40 is not installed, or it is not Open MPI.</exception>
    public static Handles Load()
    {
        lock (s_gate)
        {
            return s_handles ??= Resolve(Library);
        }
    }

    /// <summary>Loads <paramref name="file"/> and resolves Open MPI's predefined handles in it (tests pass other files
    /// to see the errors).</summary>
    /// <exception cref="MpiUnavailableException">The file does not load, or it is not Open MPI.</exception>
    internal static Handles Resolve(string file)
    {
        if (!NativeLibrary.TryLoad(file, out IntPtr library))
            throw new MpiUnavailableException($"Open MPI ({file}) could not be loaded: install it (Debian/Ubuntu: sudo apt-get install openmpi-bin libopenmpi-dev) " +
                "and start the ranks with mpirun, or train in one process (without --ddp and outside mpirun).");
        IntPtr Export(string name) => NativeLibrary.TryGetExport(library, name, out IntPtr address)
            ? address
            : throw new MpiUnavailableException($"{file} has no symbol {name}: it is not Open MPI's library (other MPI implementations, such as MPICH, have a different binary interface and are not supported).");
        return new Handles(Export("ompi_mpi_comm_world"), Export("ompi_mpi_float"), Export("ompi_mpi_double"), Export("ompi_mpi_byte"),
            Export("ompi_mpi_op_sum"), Export("ompi_mpi_errors_return"));
    }

    /// <summary>MPI_Error_string of <paramref name="code"/>, or the number when even that fails.</summary>
    public static string ErrorString(int code)
    {
        byte* text = stackalloc byte[MaxString];
        int length = 0;
        return MPI_Error_string(code, text, &length) == Success && length > 0
            ? Encoding.UTF8.GetString(text, Math.Min(length, MaxString))
            : $"MPI error {code}";
    }

    /// <summary>MPI_Get_library_version's first line, e.g. "Open MPI v4.1.4, package: Debian OpenMPI, …".</summary>
    public static string LibraryVersion()
    {
        byte* text = stackalloc byte[MaxString];
        int length = 0;
        if (MPI_Get_library_version(text, &length) != Success) return "Open MPI";
        string version = Encoding.UTF8.GetString(text, Math.Min(length, MaxString));
        int comma = version.IndexOf(',', StringComparison.Ordinal);
        return (comma > 0 ? version[..comma] : version).Trim();
    }

    [LibraryImport(Library)]
    public static partial int MPI_Initialized(int* flag);

    [LibraryImport(Library)]
    public static partial int MPI_Finalized(int* flag);

    [LibraryImport(Library)]
    public static partial int MPI_Init_thread(int* argc, byte*** argv, int required, int* provided);

    [LibraryImport(Library)]
    public static partial int MPI_Finalize();

    [LibraryImport(Library)]
    public static partial int MPI_Abort(IntPtr comm, int errorCode);

    [LibraryImport(Library)]
    public static partial int MPI_Comm_rank(IntPtr comm, int* rank);

    [LibraryImport(Library)]
    public static partial int MPI_Comm_size(IntPtr comm, int* size);

    [LibraryImport(Library)]
    public static partial int MPI_Comm_set_errhandler(IntPtr comm, IntPtr handler);

    [LibraryImport(Library)]
    public static partial int MPI_Iallreduce(void* send, void* receive, int count, IntPtr datatype, IntPtr op, IntPtr comm, IntPtr* request);

    [LibraryImport(Library)]
    public static partial int MPI_Ibcast(void* buffer, int count, IntPtr datatype, int root, IntPtr comm, IntPtr* request);

    [LibraryImport(Library)]
    public static partial int MPI_Ibarrier(IntPtr comm, IntPtr* request);

    /// <summary>MPI_Test with MPI_STATUS_IGNORE (a null status).</summary>
    [LibraryImport(Library)]
    public static partial int MPI_Test(IntPtr* request, int* flag, void* status);

    [LibraryImport(Library)]
    public static partial int MPI_Error_string(int code, byte* text, int* length);

    [LibraryImport(Library)]
    public static partial int MPI_Get_library_version(byte* text, int* length);
}
