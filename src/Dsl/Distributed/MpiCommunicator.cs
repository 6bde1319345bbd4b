using System;
using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Threading;
using Dsl.Distributed.Interop;

namespace Dsl.Distributed;

/// <summary>
/// MPI_COMM_WORLD of Open MPI, through LibraryImport bindings of the dozen calls data parallelism needs
/// (<see cref="Interop.OpenMpi"/>). Start the ranks with <c>mpirun -np N dotnet app.dll</c>; each rank creates
/// <see cref="World"/> once. Errors return codes (MPI_ERRORS_RETURN) and become <see cref="CommunicatorException"/>s
/// naming the call; every wait polls MPI_Test with a deadline, so a rank that stops makes the others fail with
/// <see cref="CommunicatorTimeoutException"/> rather than hang (mpirun itself usually stops the job first, naming
/// the rank that exited). An unhandled exception on any rank aborts the whole job with that rank's number.
/// Calls are allowed from any one thread at a time (MPI_THREAD_SERIALIZED).
/// </summary>
public sealed unsafe class MpiCommunicator : ICommunicator
{
    /// <summary>Most reductions one rank may have in flight at once.</summary>
    public const int MaxPendingRequests = 64;

    /// <summary>The environment variable that overrides the default <see cref="Timeout"/> (seconds).</summary>
    public const string TimeoutVariable = "DSL_MPI_TIMEOUT";

    private static readonly object s_gate = new();
    private static MpiCommunicator? s_world;
    private static bool s_finalized;

    private readonly OpenMpi.Handles _handles;
    // Pinned (MPI reads and writes the handles through pointers during its calls).
    private readonly IntPtr[] _requests = GC.AllocateArray<IntPtr>(MaxPendingRequests, pinned: true);
    private readonly MemoryHandle[] _pins = new MemoryHandle[MaxPendingRequests];
    private readonly long[] _sequences = new long[MaxPendingRequests];
    private readonly bool[] _busy = new bool[MaxPendingRequests];
    private readonly int[] _counts = new int[MaxPendingRequests];
    private readonly double[] _scalar = new double[1];
    private long _nextSequence = 1;
    private string? _broken;

    private MpiCommunicator(OpenMpi.Handles handles, int rank, int size, string transport)
    {
        _handles = handles;
        Rank = rank;
        Size = size;
        Transport = transport;
        string? seconds = Environment.GetEnvironmentVariable(TimeoutVariable);
        Timeout = seconds is not null && double.TryParse(seconds, NumberStyles.Float, CultureInfo.InvariantCulture, out double s) && s > 0
            ? TimeSpan.FromSeconds(s)
            : TimeSpan.FromMinutes(5);
    }

    /// <summary>
    /// MPI_COMM_WORLD, initialising MPI on first use (MPI_Init_thread, MPI_THREAD_SERIALIZED); MPI is finalised
    /// when it is disposed or when the process exits.
    /// </summary>
    /// <exception cref="MpiUnavailableException">Open MPI is not installed (the message says what to install).</exception>
    /// <exception cref="CommunicatorException">MPI_Init_thread failed, or MPI was already finalised.</exception>
    public static MpiCommunicator World
    {
        get
        {
            lock (s_gate)
            {
                if (s_world is not null) return s_world;
                if (s_finalized) throw new CommunicatorException("MPI has been finalised in this process (the world communicator was disposed); it cannot start again.");
                var handles = OpenMpi.Load();
                int initialized = 0, provided = 0, rank = 0, size = 0;
                Check(OpenMpi.MPI_Initialized(&initialized), "MPI_Initialized", -1);
                if (initialized == 0)
                    Check(OpenMpi.MPI_Init_thread(null, null, OpenMpi.ThreadSerialized, &provided), "MPI_Init_thread", -1);
                Check(OpenMpi.MPI_Comm_set_errhandler(handles.CommWorld, handles.ErrorsReturn), "MPI_Comm_set_errhandler", -1);
                Check(OpenMpi.MPI_Comm_rank(handles.CommWorld, &rank), "MPI_Comm_rank", -1);
                Check(OpenMpi.MPI_Comm_size(handles.CommWorld, &size), "MPI_Comm_size", rank);
                s_world = new MpiCommunicator(handles, rank, size, OpenMpi.LibraryVersion());
                AppDomain.CurrentDomain.UnhandledException += s_world.OnUnhandledException;
                AppDomain.CurrentDomain.ProcessExit += static (_, _) => FinalizeWorld();
                return s_world;
            }
        }
    }

    /// <inheritdoc/>
    public int Rank { get; }

    /// <inheritdoc/>
    public int Size { get; }

    /// <inheritdoc/>
    public string Transport { get; }

    /// <inheritdoc/>
    /// <remarks>Five minutes unless <see cref="TimeoutVariable"/> says otherwise: long enough for rank 0 to write a
    /// checkpoint while the others wait, short enough that a stalled job ends.</remarks>
    public TimeSpan Timeout { get; set; }

    /// <inheritdoc/>
    public void AllReduceSum(Span<double> values)
    {
        if (values.Length == 0) return;
        // The blocking call is the non-blocking one waited for, so it has the same deadline.
        fixed (double* p = values)
        {
            int slot = Reserve(values.Length);
            IntPtr* request = RequestOf(slot);
            Check(OpenMpi.MPI_Iallreduce(OpenMpi.InPlace, p, values.Length, _handles.Double, _handles.Sum, _handles.CommWorld, request), "MPI_Iallreduce", Rank);
            WaitSlot(slot, "all-reduce of doubles");
        }
    }

    /// <inheritdoc/>
    public void AllReduceSum(Span<float> values)
    {
        if (values.Length == 0) return;
        fixed (float* p = values)
        {
            int slot = Reserve(values.Length);
            IntPtr* request = RequestOf(slot);
            Check(OpenMpi.MPI_Iallreduce(OpenMpi.InPlace, p, values.Length, _handles.Float, _handles.Sum, _handles.CommWorld, request), "MPI_Iallreduce", Rank);
            WaitSlot(slot, "all-reduce of floats");
        }
    }

    /// <summary>Sums one value across ranks.</summary>
    public double AllReduceSum(double value)
    {
        _scalar[0] = value;
        AllReduceSum(_scalar.AsSpan());
        return _scalar[0];
    }

    /// <inheritdoc/>
    public void Broadcast(Span<byte> data, int root)
    {
        if ((uint)root >= (uint)Size) throw new ArgumentOutOfRangeException(nameof(root), root, $"root must be a rank, 0 to {Size - 1}.");
        if (data.Length == 0) return;
        fixed (byte* p = data)
        {
            int slot = Reserve(data.Length);
            Check(OpenMpi.MPI_Ibcast(p, data.Length, _handles.Byte, root, _handles.CommWorld, RequestOf(slot)), "MPI_Ibcast", Rank);
            WaitSlot(slot, "broadcast");
        }
    }

    /// <inheritdoc/>
    public void Barrier()
    {
        int slot = Reserve(0);
        Check(OpenMpi.MPI_Ibarrier(_handles.CommWorld, RequestOf(slot)), "MPI_Ibarrier", Rank);
        WaitSlot(slot, "barrier");
    }

    /// <inheritdoc/>
    public ReductionRequest StartAllReduceSum<T>(Memory<T> values) where T : unmanaged
    {
        IntPtr type = typeof(T) == typeof(float) ? _handles.Float
            : typeof(T) == typeof(double) ? _handles.Double
            : throw new NotSupportedException($"all-reduce sums float or double values, not {typeof(T).Name}.");
        int slot = Reserve(values.Length);
        _pins[slot] = values.Pin();
        int rc = OpenMpi.MPI_Iallreduce(OpenMpi.InPlace, _pins[slot].Pointer, values.Length, type, _handles.Sum, _handles.CommWorld, RequestOf(slot));
        if (rc != OpenMpi.Success)
        {
            Release(slot);
            Check(rc, "MPI_Iallreduce", Rank);
        }

        return new ReductionRequest(slot, _sequences[slot]);
    }

    /// <inheritdoc/>
    public bool Test(ReductionRequest request)
    {
        int slot = SlotOf(request);
        if (slot < 0) return true;
        return TestSlot(slot);
    }

    /// <inheritdoc/>
    public void Wait(ReductionRequest request)
    {
        int slot = SlotOf(request);
        if (slot >= 0) WaitSlot(slot, "all-reduce"); // the message is built only on a timeout: a step allocates nothing
    }

    /// <inheritdoc/>
    public void Abort(string message, int errorCode = 1)
    {
        Console.Out.Flush();
        Console.Error.WriteLine($"[dsl] rank {Rank} of {Size}: {message}; stopping all ranks (MPI_Abort).");
        Console.Error.Flush();
        OpenMpi.MPI_Abort(_handles.CommWorld, errorCode);
        Environment.Exit(errorCode);
    }

    /// <summary>Finalises MPI (once every rank has finished its collectives); the world cannot be used again.</summary>
    public void Dispose() => FinalizeWorld();

    private static void FinalizeWorld()
    {
        lock (s_gate)
        {
            if (s_world is null || s_finalized) return;
            AppDomain.CurrentDomain.UnhandledException -= s_world.OnUnhandledException;
            s_finalized = true;
            s_world = null;
            int finalized = 0;
            if (OpenMpi.MPI_Finalized(&finalized) == OpenMpi.Success && finalized == 0)
                OpenMpi.MPI_Finalize();
        }
    }

    private void OnUnhandledException(object sender, UnhandledExceptionEventArgs e) =>
        Abort($"failed with an unhandled exception: {e.ExceptionObject}", errorCode: 1);

    private IntPtr* RequestOf(int slot) => (IntPtr*)Unsafe.AsPointer(ref _requests[slot]); // a pinned array: the address is stable

    private int Reserve(int count)
    {
        if (_broken is not null) throw new CommunicatorException($"rank {Rank}: the communicator cannot be used after an earlier failure ({_broken}).");
        for (int slot = 0; slot < MaxPendingRequests; slot++)
        {
            if (_busy[slot]) continue;
            _busy[slot] = true;
            _sequences[slot] = _nextSequence++;
            _counts[slot] = count;
            return slot;
        }

        throw new InvalidOperationException($"rank {Rank}: {MaxPendingRequests} reductions are already in flight; wait for some before starting more.");
    }

    private void Release(int slot)
    {
        _pins[slot].Dispose();
        _pins[slot] = default;
        _busy[slot] = false;
    }

    private int SlotOf(ReductionRequest request)
    {
        int slot = request.Slot;
        if ((uint)slot >= MaxPendingRequests || request.Sequence == 0)
            throw new ArgumentException("not a request of this communicator.", nameof(request));
        // A finished request's slot is free or reused with a newer sequence number: it has completed.
        return _busy[slot] && _sequences[slot] == request.Sequence ? slot : -1;
    }

    private bool TestSlot(int slot)
    {
        int flag = 0;
        Check(OpenMpi.MPI_Test(RequestOf(slot), &flag, null), "MPI_Test", Rank);
        if (flag == 0) return false;
        Release(slot);
        return true;
    }

    private void WaitSlot(int slot, string operation)
    {
        long start = Stopwatch.GetTimestamp();
        long limit = Timeout == System.Threading.Timeout.InfiniteTimeSpan ? long.MaxValue : (long)(Timeout.TotalSeconds * Stopwatch.Frequency);
        for (int spins = 0; !TestSlot(slot); spins++)
        {
            // Spin briefly (the peer is usually microseconds away), then yield the core: with ranks
            // oversubscribing the cores, a busy waiter would starve the rank it waits for.
            if (spins < 64) Thread.SpinWait(32);
            else if (spins < 100_000) Thread.Yield();
            else Thread.Sleep(1);
            if ((spins & 63) == 63 && Stopwatch.GetTimestamp() - start > limit)
            {
                _broken = $"{operation} timed out";
                throw new CommunicatorTimeoutException($"rank {Rank} of {Size}: the {operation} of {_counts[slot]} value(s) did not complete within {Timeout.TotalSeconds:0.#} s: " +
                    $"another rank has stopped, stalled or is not making the same calls (mpirun names a rank that exited). Set {TimeoutVariable} (seconds) to wait longer.");
            }
        }
    }

    private static void Check(int rc, string call, int rank)
    {
        if (rc != OpenMpi.Success)
            throw new CommunicatorException($"{call} failed{(rank >= 0 ? $" on rank {rank}" : "")}: {OpenMpi.ErrorString(rc)} (MPI error {rc}).");
    }
}
