using System;
using System.Diagnostics;
using System.Threading;
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

        var samples = new double[50];
        for (int i = 0; i < samples.Length; i++)
        {
            Thread.Sleep(20);
            long t = Stopwatch.GetTimestamp();
            pool.Run(work, pool.MaxThreads);
            samples[i] = Stopwatch.GetElapsedTime(t).TotalMicroseconds;
        }

        Array.Sort(samples);
        Console.WriteLine($"after 20 ms idle:   {samples[samples.Length / 2],8:F2} µs per Run (median)");
        return 0;
    }

    private sealed class NoWork : IParallelWork
    {
        public void Run(int index, int count)
        {
        }
    }
}
