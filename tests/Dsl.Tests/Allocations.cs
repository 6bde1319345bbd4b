using System;
using Dsl.Runtime;

namespace Dsl.Tests;

/// <summary>
/// How much a warm training step allocates. A step that allocates does so on every call, so it shows in every
/// window of calls. On a loaded machine a test now and then saw a one-off 32 bytes inside one window, in a
/// different test each time, passing when re-run (also with tiered compilation off; its source was not found:
/// no [ThreadStatic], lock or tiering cause in our code). So a window is measured up to <c>windows</c> times and
/// the least is returned: zero only if one whole window of steps allocated nothing, which a per-step allocation
/// can never give.
/// </summary>
internal static class Allocations
{
    /// <summary>Bytes allocated by <paramref name="steps"/> calls of <paramref name="step"/> on this thread (Caller)
    /// and on the worker pools' helpers for this thread's runs (Helpers): the least window of up to
    /// <paramref name="windows"/>, stopping at the first that allocated nothing.</summary>
    public static (long Caller, long Helpers) PerWindow(Action step, int steps, int windows = 3)
    {
        ArgumentNullException.ThrowIfNull(step);
        var least = Window(step, steps);
        for (int w = 1; w < windows && least != (0, 0); w++)
        {
            var next = Window(step, steps);
            if (next.Caller + next.Helpers < least.Caller + least.Helpers) least = next;
        }

        return least;
    }

    private static (long Caller, long Helpers) Window(Action step, int steps)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        long helpers = WorkerPool.HelperAllocatedBytesForCurrentThread;
        for (int i = 0; i < steps; i++) step();
        return (GC.GetAllocatedBytesForCurrentThread() - before, WorkerPool.HelperAllocatedBytesForCurrentThread - helpers);
    }
}
