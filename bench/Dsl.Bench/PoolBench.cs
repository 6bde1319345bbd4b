using System;
using System.Diagnostics;
using Dsl.Runtime;

namespace Dsl.Bench;

/// <summary>Round-trip cost of <see cref="WorkerPool.Run"/> with trivial parts: back to back (helpers
/// still spinning) and after an idle pause (helpers asleep).</summary>
internal static class PoolBench
{
    public static int Run(ReadOnlySpan<string> args)
    {
        _ = args;
        WorkerPool pool = WorkerPool.Shared;
        var work = new NoWork();
        Console.WriteLine($"WorkerPool.Shared: {pool.MaxThreads} threads");
        for (int i = 0; i < 10_000; i++)
        {
            pool.Run(work, pool.MaxThreads);
        }

        const int calls = 100_000;
        long start = Stopwatch.GetTimestamp();
        for (int i = 0; i < calls; i++)
        {
            pool.Run(work, pool.MaxThreads);
        }

        Console.WriteLine($"back to back:       {Stopwatch.GetElapsedTime(start).TotalMicroseconds / calls,8:F2} µs per Run");

        // Serial work between runs (busy caller, helpers idle) of growing length: shows how long
        // helpers keep spinning before a Run has to wake them from their events.
        foreach (int gapMicroseconds in new[] { 10, 50, 100, 200, 500, 1000, 5000, 20000 })
        {
            var samples = new double[41];
            for (int i = 0; i < samples.Length; i++)
            {
                long until = Stopwatch.GetTimestamp() + (long)(gapMicroseconds * 1e-6 * Stopwatch.Frequency);
                while (Stopwatch.GetTimestamp() < until)
                {
                }

                long t = Stopwatch.GetTimestamp();
                pool.Run(work, pool.MaxThreads);
                samples[i] = Stopwatch.GetElapsedTime(t).TotalMicroseconds;
            }

            Array.Sort(samples);
            Console.WriteLine($"after {gapMicroseconds,5} µs of serial work: {samples[samples.Length / 2],8:F2} µs per Run (median)");
        }

        return 0;
    }

    private sealed class NoWork : IParallelWork
    {
        public void Run(int index, int count)
        {
        }
    }
}
