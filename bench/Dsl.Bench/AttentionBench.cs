using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using Dsl.Kernels;
using Dsl.Runtime;

namespace Dsl.Bench;

/// <summary>
/// Times the CPU softmax attention kernels (<see cref="Attention.Forward"/>, <see cref="Attention.Backward"/>) at
/// CharGpt's shape by default (batch 12, T = 64, 4 causal heads of 32): one thread by the thread's CPU time (time
/// spent descheduled on a shared machine left out), two by wall time; medians of the samples, best beside.
/// </summary>
internal static class AttentionBench
{
    public static int Run(ReadOnlySpan<string> args)
    {
        int batch = 12, seq = 64, heads = 4, size = 32, runs = 41;
        bool causal = true;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--batch" when i + 1 < args.Length: batch = Int(args[++i]); break;
                case "--seq" when i + 1 < args.Length: seq = Int(args[++i]); break;
                case "--heads" when i + 1 < args.Length: heads = Int(args[++i]); break;
                case "--head-size" when i + 1 < args.Length: size = Int(args[++i]); break;
                case "--runs" when i + 1 < args.Length: runs = Int(args[++i]); break;
                case "--full": causal = false; break;
                default:
                    Console.Error.WriteLine($"attention: unknown option {args[i]}; options: --batch N --seq N --heads N --head-size N --runs N --full");
                    return 2;
            }
        }

        var options = new AttentionOptions(heads, size, size, seq, causal, 0, AttentionScaleMode.Fixed, 1 / Math.Sqrt(size));
        int rows = batch * seq, width = heads * size, stride = 3 * width;
        var random = new Random(7);
        float[] qkv = Fill(random, rows * stride), dOutput = Fill(random, rows * width);
        float[] output = new float[rows * width], lse = new float[batch * heads * seq], grads = new float[rows * stride];
        Console.WriteLine($"softmax attention, batch {batch} × T {seq}, {heads} heads of {size}, {(causal ? "causal" : "full")} — {Machine.Cpu()}; load average {Machine.LoadAverage()}");
        Console.WriteLine($"{"kernel",-9} {"thr",3} {"median µs",10} {"best µs",9}");
        WorkerPool pool = WorkerPool.Shared;
        int saved = pool.Threads;
        try
        {
            foreach (int threads in pool.MaxThreads >= 2 ? new[] { 1, 2 } : [1])
            {
                pool.Threads = threads;
                Report("forward", threads, Time(threads, runs, () => Attention.Forward<float>(options, batch, qkv.AsSpan(0), qkv.AsSpan(width), qkv.AsSpan(2 * width), stride, output, width, lse)));
                Report("backward", threads, Time(threads, runs, () => Attention.Backward<float>(
                    options, batch, qkv.AsSpan(0), qkv.AsSpan(width), qkv.AsSpan(2 * width), stride, output, dOutput, width, lse,
                    grads.AsSpan(0), grads.AsSpan(width), grads.AsSpan(2 * width), stride)));
            }
        }
        finally
        {
            pool.Threads = saved;
        }

        Console.WriteLine($"load average at the end {Machine.LoadAverage()}. One thread: thread CPU time; two: wall time.");
        return 0;
    }

    private static void Report(string name, int threads, (double Median, double Best) t)
        => Console.WriteLine(string.Format(CultureInfo.InvariantCulture, "{0,-9} {1,3} {2,10:F1} {3,9:F1}", name, threads, t.Median, t.Best));

    private static (double Median, double Best) Time(int threads, int runs, Action call)
    {
        var warm = Stopwatch.StartNew();
        while (warm.ElapsedMilliseconds < 300)
        {
            call();
        }

        const int Repeats = 20;
        var samples = new List<double>(runs);
        for (int r = 0; r < runs; r++)
        {
            long start = Stopwatch.GetTimestamp();
            double cpuStart = threads == 1 ? Machine.ThreadCpuMilliseconds() : 0;
            for (int i = 0; i < Repeats; i++)
            {
                call();
            }

            double ms = threads == 1 ? Machine.ThreadCpuMilliseconds() - cpuStart : Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            samples.Add(1000 * ms / Repeats);
        }

        samples.Sort();
        return (samples[samples.Count / 2], samples[0]);
    }

    private static float[] Fill(Random random, int length)
    {
        var values = new float[length];
        for (int i = 0; i < length; i++)
        {
            values[i] = (float)((random.NextDouble() * 2) - 1);
        }

        return values;
    }

    private static int Int(string s) => int.Parse(s, CultureInfo.InvariantCulture);
}
