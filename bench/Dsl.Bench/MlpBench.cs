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
/// Whole training steps side by side: <see cref="BenchMlp"/>.TrainStep with AdamW versus the same model and
/// optimizer in PyTorch (bench/torch_mlp.py, Debian's /usr/bin/python3) stock and tuned, at batch 128 and 16 on
/// 1 and 2 threads, and the latency of one batch-1 forward (Predict against inference_mode), in one run.
/// </summary>
internal static class MlpBench
{
    public static int Run(ReadOnlySpan<string> args)
    {
        int steps = 60;
        int rounds = 3;
        bool profile = false;
        string python = "/usr/bin/python3";
        var batches = new List<int> { 128, 16 };
        bool infer = true;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--steps" when i + 1 < args.Length: steps = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--rounds" when i + 1 < args.Length: rounds = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--python" when i + 1 < args.Length: python = args[++i]; break;
                case "--profile": profile = true; break;
                case "--batch" when i + 1 < args.Length:
                    batches = [.. Array.ConvertAll(args[++i].Split(','), s => int.Parse(s, CultureInfo.InvariantCulture))];
                    break;
                case "--no-infer": infer = false; break;
                default:
                    Console.Error.WriteLine($"mlp: unknown option {args[i]}; options: --steps N --rounds N --batch 128,16 --no-infer --profile --python PATH");
                    return 2;
            }
        }

        string script = Path.Combine(RepoRoot(), "bench", "torch_mlp.py");
        Console.WriteLine($"MLP 784-1024-1024-10 (ReLU, softmax CE, AdamW) — {Machine.Cpu()}");
        if (profile)
        {
            foreach (int batch in batches)
            {
                foreach (int threads in new[] { 1, 2 })
                {
                    Console.WriteLine();
                    Console.WriteLine($"profile: batch {batch}, {threads} thread(s), {steps} steps after warm-up; load average {Machine.LoadAverage()}");
                    TorchProcess.RunSelf(WorkerArguments(batch, threads, steps, inference: false, profile: true), echo: true)?.Dispose();
                }
            }

            return 0;
        }

        foreach (int batch in batches)
        {
            int b = batch;
            new SideBySide(
                $"TrainStep, batch {b} ({FlopsPerStep(b) / 1e9:F2} GFLOP of matrix products per step)",
                threads => TorchProcess.RunSelf(WorkerArguments(b, threads, steps, inference: false, profile: false)),
                (threads, settings) => TorchProcess.RunForJson(python, script, threads, TorchArguments(b, threads, steps, inference: false), settings))
                .Run(rounds);
        }

        if (infer)
        {
            int calls = 20 * steps;
            new SideBySide(
                "Inference latency, batch 1 (Predict of one image against model(x) under torch.inference_mode())",
                threads => TorchProcess.RunSelf(WorkerArguments(1, threads, calls, inference: true, profile: false)),
                (threads, settings) => TorchProcess.RunForJson(python, script, threads, TorchArguments(1, threads, calls, inference: true), settings))
                .Run(rounds);
        }

        Console.WriteLine();
        Console.WriteLine("torch/Dsl > 1 means Dsl is faster. PyTorch \"tuned\": " + string.Join(' ', Array.ConvertAll(TorchProcess.TunedEnvironment, e => $"{e.Name}={e.Value}")) + ".");
        return 0;
    }

    /// <summary>The worker command (a fresh process): times one configuration and prints one JSON line.</summary>
    public static int Worker(ReadOnlySpan<string> args)
    {
        int batch = 128, threads = 1, steps = 60;
        bool inference = false, profile = false;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--batch": batch = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--threads": threads = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--steps": steps = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--infer": inference = true; break;
                case "--profile": profile = true; break;
                default: Console.Error.WriteLine($"mlp-worker: unknown option {args[i]}"); return 2;
            }
        }

        WorkerPool.Shared.Threads = threads;
        var model = new BenchMlp(seed: 0);
        var optimizer = new AdamW(1e-3, weightDecay: 0.01);
        var random = new SeededRandom(1);
        var x = new float[batch * BenchMlp.InputFeatures];
        for (int i = 0; i < x.Length; i++) x[i] = (float)random.NextGaussian();
        var y = new int[batch];
        for (int i = 0; i < y.Length; i++) y[i] = random.NextInt(10);
        var logits = new float[batch * BenchMlp.OutputFeatures];

        Action work = inference ? () => model.Predict(x, logits) : () => model.TrainStep(x, y, optimizer);
        for (int i = 0; i < Math.Max(20, steps / 5); i++) work();
        StepProfile? stepProfile = null;
        if (profile)
        {
            model.Compiled.Profile = stepProfile = new StepProfile(BenchMlp.Engine<float>.ProfileSteps);
        }

        var times = new double[steps];
        for (int i = 0; i < steps; i++)
        {
            long start = Stopwatch.GetTimestamp();
            work();
            times[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }

        if (stepProfile is not null)
        {
            model.Compiled.Profile = null;
            stepProfile.Write(Console.Out, steps);
        }

        Array.Sort(times);
        Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["batch"] = batch,
            ["threads"] = threads,
            ["median_ms"] = times[steps / 2],
            ["min_ms"] = times[0],
            ["peak_rss_kib"] = Machine.PeakRssKiB(),
            ["arena_bytes"] = (long)BenchMlp.Engine<float>.ArenaLength * sizeof(float),
        }));
        return 0;
    }

    private static string[] WorkerArguments(int batch, int threads, int steps, bool inference, bool profile)
    {
        var list = new List<string> { "mlp-worker", "--batch", Str(batch), "--threads", Str(threads), "--steps", Str(steps) };
        if (inference) list.Add("--infer");
        if (profile) list.Add("--profile");
        return [.. list];
    }

    private static string[] TorchArguments(int batch, int threads, int steps, bool inference)
    {
        var list = new List<string> { "--batch", Str(batch), "--threads", Str(threads), "--steps", Str(steps) };
        if (inference) list.Add("--infer");
        return [.. list];
    }

    private static string Str(int value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>2·B·(Σ in·out) for the forward, the same for weight gradients, and for input
    /// gradients of every layer but the first.</summary>
    private static double FlopsPerStep(int batch)
    {
        double forward = 2.0 * batch * (784 * 1024 + 1024 * 1024 + 1024 * 10);
        double inputGradients = 2.0 * batch * (1024 * 1024 + 1024 * 10);
        return 2 * forward + inputGradients;
    }

    internal static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Dsl.sln"))) return dir.FullName;
        return Directory.GetCurrentDirectory();
    }
}
