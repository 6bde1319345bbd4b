using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Text.Json;
using Dsl.IO;
using Dsl.Optimizers;
using Dsl.Runtime;

namespace Dsl.Bench;

/// <summary>
/// The CharGpt sample's training iteration (batch sampling, forward, backward, clipping, AdamW) against
/// the same model in PyTorch 1.13 (bench/torch_chargpt.py, Debian's /usr/bin/python3), on 1 and 2
/// threads, in one run: median ms per iteration and the ratio.
/// </summary>
internal static class CharGptBench
{
    public static int Run(ReadOnlySpan<string> args)
    {
        int steps = 60;
        string python = "/usr/bin/python3";
        string? data = null;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--steps" when i + 1 < args.Length: steps = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--python" when i + 1 < args.Length: python = args[++i]; break;
                case "--data" when i + 1 < args.Length: data = args[++i]; break;
                default:
                    Console.Error.WriteLine($"chargpt: unknown option {args[i]}; options: --steps N --python PATH --data PATH");
                    return 2;
            }
        }

        string root = MlpBench.RepoRoot();
        data ??= Path.GetFullPath(Path.Combine(root, "..", "shared", "data", "tinyshakespeare", "input.txt"));
        var corpus = CharCorpus.Load(data);
        string script = Path.Combine(root, "bench", "torch_chargpt.py");
        int parameters = global::CharGpt.CharGpt.ParameterCount;
        Console.WriteLine($"CharGpt iteration (batch 12 × 64, 4 layers, width 128, {parameters:N0} parameters; sample + forward + backward + clip + AdamW); median ms over {steps} iterations");
        Console.WriteLine($"{"threads",7} {"Dsl ms",9} {"torch ms",9} {"torch/Dsl",9}");
        foreach (int threads in new[] { 1, 2 })
        {
            double ours = TimeOurs(corpus, threads, steps);
            double? theirs = TimeTorch(python, script, data, threads, steps);
            string torch = theirs is double t ? $"{t,9:F2} {t / ours,9:F2}" : $"{"n/a",9} {"",9}";
            Console.WriteLine($"{threads,7} {ours,9:F2} {torch}");
        }

        Console.WriteLine("torch/Dsl > 1 means Dsl is faster.");
        return 0;
    }

    private static double TimeOurs(CharCorpus corpus, int threads, int steps)
    {
        WorkerPool.Shared.Threads = threads;
        var model = new global::CharGpt.CharGpt(seed: 1337);
        var optimizer = new AdamW(1e-3, beta2: 0.99, weightDecay: 0.1) { MaxGradientNorm = 1.0 };
        var random = new SeededRandom(1);
        var inputs = new int[12 * 64];
        var targets = new int[inputs.Length];
        var times = new List<double>(steps);
        for (int i = 0; i < steps + 10; i++)
        {
            long start = Stopwatch.GetTimestamp();
            optimizer.LearningRate = LearningRateSchedule.WarmupCosine(i, 100, 2000, 1e-3, 1e-4);
            CharCorpus.SampleBatch(corpus.Train, inputs, targets, 12, 64, random);
            model.TrainStep(inputs, targets, optimizer);
            if (i >= 10) times.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
        }

        times.Sort();
        return times[times.Count / 2];
    }

    private static double? TimeTorch(string python, string script, string data, int threads, int steps) =>
        TorchProcess.RunForNumber(python, script, threads,
            new[] { "--data", data, "--threads", threads.ToString(CultureInfo.InvariantCulture), "--iters", (steps + 10).ToString(CultureInfo.InvariantCulture),
                "--eval-interval", "1000000", "--eval-iters", "1", "--timing-warmup", "10", "--log-interval", "1000000" },
            "median_iter_ms");
}
