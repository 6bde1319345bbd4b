using System;
using System.Diagnostics;
using System.Globalization;
using System.IO;

namespace Dsl.Runtime;

/// <summary>
/// Wall time per schedule step of a generated engine, and how much of it the worker threads sat
/// idle: set <c>model.Compiled.Profile = new StepProfile(Engine&lt;float&gt;.ProfileSteps)</c>, train,
/// then <see cref="Write"/> the table. With no profile set (the default) the engine times nothing.
/// </summary>
/// <remarks>
/// <para>
/// The generated forward calls <see cref="Begin"/> before its first step and the engine calls
/// <see cref="Lap"/> after every step (forward steps, then the loss, then backward steps, then the
/// optimizer), so each lap is the time since the previous one: a step's kernels plus the little glue
/// between them. Evaluation and prediction run the same forward, so their forward laps land in the
/// same rows; each row reports its calls, and the time per call.
/// </para>
/// <para>
/// Idle time: while a profile is timing, <see cref="WorkerPool.Shared"/> counts the time its helpers
/// spend running parts and the time the caller spends waiting for them. A lap of wall time W on
/// N threads offers N·W of thread time; idle is the helpers' W − busy plus the caller's wait,
/// shown as a share of N·W. One-thread laps (and products small enough to stay on the caller) are
/// never idle by this count.
/// </para>
/// <para>Allocates nothing after construction; not thread-safe (one engine, one step at a time).</para>
/// </remarks>
public sealed class StepProfile
{
    private readonly string[] _names;
    private readonly long[] _ticks;
    private readonly long[] _idleTicks;
    private readonly long[] _calls;
    private readonly WorkerPool _pool;
    private long _last;
    private long _lastBusy;
    private long _lastWait;

    /// <summary>Creates a profile for the steps named <paramref name="steps"/> (a generated
    /// <c>Engine&lt;T&gt;.ProfileSteps</c>) and turns on busy-time counting in <paramref name="pool"/>
    /// (default <see cref="WorkerPool.Shared"/>, the pool the kernels use).</summary>
    public StepProfile(ReadOnlySpan<string> steps, WorkerPool? pool = null)
    {
        _names = steps.ToArray();
        _ticks = new long[steps.Length];
        _idleTicks = new long[steps.Length];
        _calls = new long[steps.Length];
        _pool = pool ?? WorkerPool.Shared;
        _pool.MeasureBusyTime = true;
    }

    /// <summary>Number of steps.</summary>
    public int Count => _names.Length;

    /// <summary>Total wall time of every lap recorded, in milliseconds.</summary>
    public double TotalMilliseconds
    {
        get
        {
            long total = 0;
            foreach (long t in _ticks)
            {
                total += t;
            }

            return total * 1e3 / Stopwatch.Frequency;
        }
    }

    /// <summary>The name of step <paramref name="step"/>.</summary>
    public string Name(int step) => _names[step];

    /// <summary>Laps recorded for step <paramref name="step"/>.</summary>
    public long Calls(int step) => _calls[step];

    /// <summary>Total wall time of step <paramref name="step"/>, in milliseconds.</summary>
    public double Milliseconds(int step) => _ticks[step] * 1e3 / Stopwatch.Frequency;

    /// <summary>Idle thread time during step <paramref name="step"/>, in thread-milliseconds (see remarks).</summary>
    public double IdleMilliseconds(int step) => _idleTicks[step] * 1e3 / Stopwatch.Frequency;

    /// <summary>Starts a pass: the next <see cref="Lap"/> measures from here.</summary>
    public void Begin()
    {
        _lastBusy = _pool.HelperBusyTicks;
        _lastWait = _pool.CallerWaitTicks;
        _last = Stopwatch.GetTimestamp();
    }

    /// <summary>Charges the time since the previous lap (or <see cref="Begin"/>) to <paramref name="step"/>.</summary>
    public void Lap(int step)
    {
        long now = Stopwatch.GetTimestamp();
        long wall = now - _last;
        long busy = _pool.HelperBusyTicks;
        long wait = _pool.CallerWaitTicks;
        long helpers = _pool.Threads - 1;
        long idle = (helpers * wall) - (busy - _lastBusy) + (wait - _lastWait);
        if ((uint)step < (uint)_ticks.Length)
        {
            _ticks[step] += wall;
            _idleTicks[step] += Math.Max(0, idle);
            _calls[step]++;
        }

        _lastBusy = busy;
        _lastWait = wait;
        _last = Stopwatch.GetTimestamp();
    }

    /// <summary>Forgets every lap (after a warm-up, say).</summary>
    public void Reset()
    {
        Array.Clear(_ticks);
        Array.Clear(_idleTicks);
        Array.Clear(_calls);
    }

    /// <summary>
    /// Writes one line per step that ran: calls, ms per call, share of the total, idle share of the
    /// step's thread time; then the total per <paramref name="passes"/> (e.g. training steps).
    /// </summary>
    /// <exception cref="ArgumentNullException"><paramref name="writer"/> is null.</exception>
    public void Write(TextWriter writer, long passes = 1)
    {
        ArgumentNullException.ThrowIfNull(writer);
        int threads = _pool.Threads;
        double total = TotalMilliseconds;
        int width = 24;
        foreach (string name in _names)
        {
            width = Math.Max(width, name.Length);
        }

        var c = CultureInfo.InvariantCulture;
        writer.WriteLine(string.Format(c, "{0} {1,8} {2,10} {3,7} {4,7}", "step".PadRight(width), "calls", "ms/call", "share", "idle"));
        double idleTotal = 0;
        for (int i = 0; i < _names.Length; i++)
        {
            if (_calls[i] == 0)
            {
                continue;
            }

            double ms = Milliseconds(i);
            double idle = IdleMilliseconds(i);
            idleTotal += idle;
            writer.WriteLine(string.Format(
                c, "{0} {1,8} {2,10:F4} {3,6:F1}% {4,6:F1}%",
                _names[i].PadRight(width), _calls[i], ms / _calls[i], total > 0 ? 100 * ms / total : 0, ms > 0 ? 100 * idle / (ms * threads) : 0));
        }

        writer.WriteLine(string.Format(
            c, "{0} {1,8} {2,10:F4} {3,6:F1}% {4,6:F1}%   ({5} threads)",
            "total per pass".PadRight(width), passes, passes > 0 ? total / passes : 0, 100.0, total > 0 ? 100 * idleTotal / (total * threads) : 0, threads));
    }
}
