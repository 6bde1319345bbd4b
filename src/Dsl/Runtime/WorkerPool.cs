using System;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.ExceptionServices;
using System.Threading;

namespace Dsl.Runtime;

/// <summary>Work split into <c>count</c> independent parts, run by <see cref="WorkerPool"/>.</summary>
public interface IParallelWork
{
    /// <summary>Runs part <paramref name="index"/> of <paramref name="count"/>.</summary>
    void Run(int index, int count);
}

/// <summary>
/// A fixed set of dedicated worker threads (one per core, the caller being one of them) that run
/// an <see cref="IParallelWork"/> without allocating. <see cref="Threads"/> sets how many are used.
/// </summary>
/// <remarks>
/// <para>
/// The pool owns <c>maxThreads - 1</c> background threads; the thread that calls <see cref="Run"/>
/// is the remaining one and takes parts too, so a two-core machine needs only one helper.
/// Parts are handed out through a shared counter, so <c>parts</c> may exceed the number of threads.
/// </para>
/// <para>
/// Helpers keep polling for about a millisecond after each run before blocking, because a training
/// step issues products back to back with little serial work in between, and waking a blocked
/// thread costs tens of microseconds; polling yields the core, so it costs nothing the step needs.
/// </para>
/// <para>
/// One <see cref="Run"/> at a time uses the helpers. A call made while another is in progress
/// (from another thread, or from inside a part) runs all its parts inline on its caller instead of
/// waiting, so the pool never deadlocks and stays correct, only slower, under concurrent use.
/// </para>
/// </remarks>
public sealed class WorkerPool
{
    // How long a helper with nothing to do keeps polling (a few busy spins, then yields, never
    // Sleep(1)) before it blocks on its event. Waking a blocked thread costs 10–100 µs here (more
    // the longer it slept), a training step runs products back to back with serial work of
    // microseconds to a millisecond in between, and yielding leaves the core to anyone who needs it.
    private static readonly long s_idleSpinTicks = Stopwatch.Frequency / 1000;

    // The caller waiting for the helpers to finish polls longer still: they are known to be busy
    // and close to done, and a blocked caller would add a wake-up to every product whose parts
    // finish unevenly.
    private static readonly long s_completionSpinTicks = Stopwatch.Frequency / 200;

    private readonly Helper[] _helpers;
    private readonly Signal _done = new();
    private int _threads;
    private int _busy;
    private volatile bool _measureBusyTime;
    private long _helperBusyTicks;
    private long _callerWaitTicks;

    // State of the run in progress, written by the caller before the helpers are signalled
    // (the event's interlocked Set publishes it) and read by them after they wake.
    private IParallelWork? _work;
    private long _runHelperBytes;
    private int _parts;
    private int _next;
    private int _activeHelpers;
    private Exception? _error;

    /// <summary>
    /// The process-wide pool used by the kernels, with <see cref="Environment.ProcessorCount"/> threads.
    /// When the environment variable <c>DSL_THREADS</c> holds a positive integer, it caps the pool:
    /// <see cref="MaxThreads"/> (and so <see cref="Threads"/>) is at most that value.
    /// </summary>
    public static WorkerPool Shared { get; } = CreateShared();

    /// <summary>Creates a pool of up to <paramref name="maxThreads"/> threads.</summary>
    /// <param name="maxThreads">Threads the pool can use, the caller included (≥ 1); the pool
    /// starts <c>maxThreads - 1</c> background threads and uses all of them until <see cref="Threads"/> is lowered.</param>
    public WorkerPool(int maxThreads)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxThreads, 1);
        MaxThreads = maxThreads;
        _threads = maxThreads;
        _helpers = new Helper[maxThreads - 1];
        for (int i = 0; i < _helpers.Length; i++)
        {
            var helper = new Helper();
            _helpers[i] = helper;
            var thread = new Thread(HelperLoop)
            {
                IsBackground = true,
                Name = "Dsl.WorkerPool #" + (i + 1).ToString(CultureInfo.InvariantCulture),
            };
            thread.Start(helper);
        }
    }

    /// <summary>The most threads this pool can use, the caller included.</summary>
    public int MaxThreads { get; }

    /// <summary>
    /// Bytes allocated so far by the pool's helper threads, as of the end of each one's last run
    /// (<see cref="GC.GetAllocatedBytesForCurrentThread"/> read on each helper). With the caller's
    /// own count this proves a step allocation-free on every thread, which a process-wide count
    /// cannot inside a test host whose own threads allocate in the background.
    /// </summary>
    public long HelperAllocatedBytes
    {
        get
        {
            long total = 0;
            foreach (var helper in _helpers)
            {
                total += Volatile.Read(ref helper.AllocatedBytes);
            }

            return total;
        }
    }

    /// <summary>
    /// Bytes that helper threads (of any pool) allocated while running parts of the runs this thread
    /// started. With <see cref="GC.GetAllocatedBytesForCurrentThread"/> this proves a step
    /// allocation-free on every thread it used, and unlike <see cref="HelperAllocatedBytes"/> it does
    /// not see what the helpers did for other threads' runs (tests running in parallel).
    /// </summary>
    public static long HelperAllocatedBytesForCurrentThread => t_helperBytesForCaller;

    [ThreadStatic]
    private static long t_helperBytesForCaller;

    /// <summary>
    /// When true, the pool adds up <see cref="HelperBusyTicks"/> and <see cref="CallerWaitTicks"/>
    /// (a <see cref="StepProfile"/> turns it on); off by default, when a run reads no clock.
    /// </summary>
    public bool MeasureBusyTime
    {
        get => _measureBusyTime;
        set => _measureBusyTime = value;
    }

    /// <summary><see cref="Stopwatch"/> ticks the helpers have spent running parts, summed over
    /// helpers, while <see cref="MeasureBusyTime"/> was on.</summary>
    public long HelperBusyTicks => Interlocked.Read(ref _helperBusyTicks);

    /// <summary><see cref="Stopwatch"/> ticks callers of <see cref="Run"/> have spent waiting for the
    /// helpers after finishing their own parts, while <see cref="MeasureBusyTime"/> was on.</summary>
    public long CallerWaitTicks => Interlocked.Read(ref _callerWaitTicks);

    /// <summary>Number of threads used (1 ..= max); 1 runs everything on the caller.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is below 1 or above <see cref="MaxThreads"/>.</exception>
    public int Threads
    {
        get => Volatile.Read(ref _threads);
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1);
            ArgumentOutOfRangeException.ThrowIfGreaterThan(value, MaxThreads);
            Volatile.Write(ref _threads, value);
        }
    }

    /// <summary>Runs <c>work.Run(i, parts)</c> for every i &lt; parts, spread over the threads; returns when all are done.</summary>
    /// <remarks>
    /// Allocates nothing. If parts throw, every other part still runs, and the first exception
    /// captured is rethrown on the caller with its original stack trace.
    /// </remarks>
    /// <exception cref="ArgumentNullException"><paramref name="work"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="parts"/> is negative.</exception>
    public void Run(IParallelWork work, int parts)
    {
        ArgumentNullException.ThrowIfNull(work);
        ArgumentOutOfRangeException.ThrowIfNegative(parts);

        // Touch this thread's counter on every call: a thread static's storage is allocated on its
        // thread's first access, and a caller whose early runs all went inline (the helpers busy with
        // another thread's run) would otherwise pay those bytes in some later, warm step.
        _ = Volatile.Read(ref t_helperBytesForCaller);
        int helpers = Math.Min(Threads, parts) - 1;
        if (helpers <= 0 || Interlocked.CompareExchange(ref _busy, 1, 0) != 0)
        {
            for (int i = 0; i < parts; i++)
            {
                work.Run(i, parts);
            }

            return;
        }

        Exception? error;
        try
        {
            _work = work;
            _parts = parts;
            _next = 0;
            _error = null;
            _runHelperBytes = 0;
            _activeHelpers = helpers;
            _done.Reset();
            for (int i = 0; i < helpers; i++)
            {
                _helpers[i].Wake.Set();
            }

            Execute();

            // Wait for the event rather than for the parts or the counter: the last helper sets it
            // after its last touch of the shared state, so neither a helper still looking at _next
            // nor a late Set can leak into the next run.
            if (_measureBusyTime)
            {
                long waitStart = Stopwatch.GetTimestamp();
                SpinThenWait(_done, s_completionSpinTicks);
                Interlocked.Add(ref _callerWaitTicks, Stopwatch.GetTimestamp() - waitStart);
            }
            else
            {
                SpinThenWait(_done, s_completionSpinTicks);
            }

            t_helperBytesForCaller += Volatile.Read(ref _runHelperBytes);

            error = _error;
            _work = null;
            _error = null;
        }
        finally
        {
            Volatile.Write(ref _busy, 0);
        }

        if (error is not null)
        {
            ExceptionDispatchInfo.Throw(error);
        }
    }

    /// <summary>The thread count for <see cref="Shared"/>: <paramref name="processorCount"/>, capped by
    /// <paramref name="dslThreads"/> (the value of <c>DSL_THREADS</c>) when that is a positive integer.</summary>
    internal static int SharedThreadCount(string? dslThreads, int processorCount)
    {
        int threads = Math.Max(1, processorCount);
        if (int.TryParse(dslThreads, NumberStyles.Integer, CultureInfo.InvariantCulture, out int cap) && cap > 0)
        {
            threads = Math.Min(threads, cap);
        }

        return threads;
    }

    private static WorkerPool CreateShared()
        => new(SharedThreadCount(Environment.GetEnvironmentVariable("DSL_THREADS"), Environment.ProcessorCount));

    private static void SpinThenWait(Signal signal, long spinTicks)
    {
        if (signal.IsSet)
        {
            return;
        }

        long deadline = Stopwatch.GetTimestamp() + spinTicks;
        var spinner = default(SpinWait);
        while (!signal.IsSet)
        {
            // Check the clock only once busy spinning has turned into yielding.
            if (spinner.NextSpinWillYield && Stopwatch.GetTimestamp() > deadline)
            {
                signal.Wait();
                return;
            }

            spinner.SpinOnce(sleep1Threshold: -1);
        }
    }

    private void HelperLoop(object? state)
    {
        var helper = (Helper)state!;
        while (true)
        {
            SpinThenWait(helper.Wake, s_idleSpinTicks);
            helper.Wake.Reset();
            long start = GC.GetAllocatedBytesForCurrentThread();
            if (_measureBusyTime)
            {
                long busyStart = Stopwatch.GetTimestamp();
                Execute();
                Interlocked.Add(ref _helperBusyTicks, Stopwatch.GetTimestamp() - busyStart);
            }
            else
            {
                Execute();
            }

            // Published before the decrement (a full fence), so the caller sees both once Run returns.
            long end = GC.GetAllocatedBytesForCurrentThread();
            Volatile.Write(ref helper.AllocatedBytes, end);
            if (end != start)
            {
                Interlocked.Add(ref _runHelperBytes, end - start);
            }

            if (Interlocked.Decrement(ref _activeHelpers) == 0)
            {
                _done.Set();
            }
        }
    }

    private void Execute()
    {
        IParallelWork work = _work!;
        int parts = _parts;
        while (true)
        {
            int index = Interlocked.Increment(ref _next) - 1;
            if (index >= parts)
            {
                return;
            }

            try
            {
                work.Run(index, parts);
            }
            catch (Exception e)
            {
                Interlocked.CompareExchange(ref _error, e, null);
            }
        }
    }

    private sealed class Helper
    {
        public Signal Wake { get; } = new();

        /// <summary>This helper thread's allocated-bytes count at the end of its last run.</summary>
        public long AllocatedBytes;
    }

    /// <summary>
    /// A manual-reset event whose monitor object exists from construction. ManualResetEventSlim
    /// creates its lock object lazily, the first time a wait really blocks, which shows up as a
    /// 24-byte allocation in whichever training step first sleeps: the zero-allocation test caught it.
    /// </summary>
    private sealed class Signal
    {
        private readonly object _gate = new();
        private volatile bool _set;

        public bool IsSet => _set;

        public void Set()
        {
            lock (_gate)
            {
                _set = true;
                Monitor.PulseAll(_gate);
            }
        }

        public void Reset() => _set = false;

        public void Wait()
        {
            lock (_gate)
            {
                while (!_set)
                {
                    Monitor.Wait(_gate);
                }
            }
        }
    }
}
