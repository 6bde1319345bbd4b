using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Text.Json;
using Dsl.Optimizers;
using Dsl.Runtime;

namespace Dsl.Bench;

/// <summary>
/// Whole training steps side by side: <see cref="BenchMlp"/>.TrainStep with AdamW versus the same
/// model and optimizer in PyTorch (bench/torch_mlp.py, Debian's /usr/bin/python3), at batch 128 and
/// 16 on 1 and 2 threads, in one run. Prints ms/step, GFLOP/s and the ratio.
/// </summary>
internal static class MlpBench
{
    public static int Run(ReadOnlySpan<string> args)
    {
        int steps = 60;
        string python = "/usr/bin/python3";
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--steps" when i + 1 < args.Length: steps = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--python" when i + 1 < args.Length: python = args[++i]; break;
                default:
                    Console.Error.WriteLine($"mlp: unknown option {args[i]}; options: --steps N --python PATH");
                    return 2;
            }
        }

        string script = Path.Combine(RepoRoot(), "bench", "torch_mlp.py");
        Console.WriteLine("TrainStep of MLP 784-1024-1024-10 (ReLU, softmax CE, AdamW); median ms per step");
        Console.WriteLine($"{"batch",5} {"threads",7} {"Dsl ms",9} {"GFLOP/s",8} {"torch ms",9} {"GFLOP/s",8} {"torch/Dsl",9}");
        foreach (int batch in new[] { 128, 16 })
        {
            foreach (int threads in new[] { 1, 2 })
            {
                double ours = TimeOurs(batch, threads, steps);
                double? theirs = TimeTorch(python, script, batch, threads, steps);
                double flops = FlopsPerStep(batch);
                string torchColumns = theirs is double t
                    ? $"{t,9:F2} {flops / t / 1e6,8:F1} {t / ours,9:F2}"
                    : $"{"n/a",9} {"",8} {"",9}";
                Console.WriteLine($"{batch,5} {threads,7} {ours,9:F2} {flops / ours / 1e6,8:F1} {torchColumns}");
            }
        }

        Console.WriteLine("torch/Dsl > 1 means Dsl is faster. FLOPs count the matrix products only.");
        return 0;
    }

    /// <summary>2·B·(Σ in·out) for the forward, the same for weight gradients, and for input
    /// gradients of every layer but the first.</summary>
    private static double FlopsPerStep(int batch)
    {
        double forward = 2.0 * batch * (784 * 1024 + 1024 * 1024 + 1024 * 10);
        double inputGradients = 2.0 * batch * (1024 * 1024 + 1024 * 10);
        return 2 * forward + inputGradients;
    }

    private static double TimeOurs(int batch, int threads, int steps)
    {
        WorkerPool.Shared.Threads = threads;
        var model = new BenchMlp(seed: 0);
        var optimizer = new AdamW(1e-3, weightDecay: 0.01);
        var random = new SeededRandom(1);
        var x = new float[batch * BenchMlp.InputFeatures];
        for (int i = 0; i < x.Length; i++) x[i] = (float)random.NextGaussian();
        var y = new int[batch];
        for (int i = 0; i < y.Length; i++) y[i] = random.NextInt(10);

        for (int i = 0; i < 20; i++) model.TrainStep(x, y, optimizer);
        var times = new List<double>(steps);
        for (int i = 0; i < steps; i++)
        {
            long start = Stopwatch.GetTimestamp();
            model.TrainStep(x, y, optimizer);
            times.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
        }

        times.Sort();
        return times[times.Count / 2];
    }

    private static double? TimeTorch(string python, string script, int batch, int threads, int steps) =>
        TorchProcess.RunForNumber(python, script, threads,
            new[] { "--batch", batch.ToString(CultureInfo.InvariantCulture), "--threads", threads.ToString(CultureInfo.InvariantCulture), "--steps", steps.ToString(CultureInfo.InvariantCulture) },
            "median_ms");

    internal static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Dsl.sln"))) return dir.FullName;
        return Directory.GetCurrentDirectory();
    }
}
