using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using Dsl.IO;
using Dsl.Optimizers;
using Dsl.Runtime;

namespace Dsl.Bench;

/// <summary>
/// What the non-finite guard costs on the CharGpt sample's training iteration: two models from the same seed,
/// one with <c>Guard.Enabled</c> (the default) and one without, stepped alternately on the same batches in one
/// run (so both see the same machine load), median ms per step and the ratio, on 1 and 2 threads.
/// </summary>
internal static class GuardBench
{
    public static int Run(ReadOnlySpan<string> args)
    {
        int steps = 200;
        string? data = null;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--steps" when i + 1 < args.Length: steps = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--data" when i + 1 < args.Length: data = args[++i]; break;
                default:
                    Console.Error.WriteLine($"guard: unknown option {args[i]}; options: --steps N --data PATH");
                    return 2;
            }
        }

        string root = MlpBench.RepoRoot();
        data ??= Path.GetFullPath(Path.Combine(root, "..", "shared", "data", "tinyshakespeare", "input.txt"));
        var corpus = CharCorpus.Load(data);
        Console.WriteLine($"CharGpt TrainStep (batch 12 × 64, clip 1.0, AdamW) with the non-finite guard on and off, alternating; median ms over {steps} steps each");
        Console.WriteLine($"{"threads",7} {"guard on",9} {"guard off",9} {"on/off",7}");
        foreach (int threads in new[] { 1, 2 })
        {
            WorkerPool.Shared.Threads = threads;
            var (on, off) = Time(corpus, steps);
            Console.WriteLine($"{threads,7} {on,9:F3} {off,9:F3} {on / off,7:F4}");
        }

        return 0;
    }

    private static (double On, double Off) Time(CharCorpus corpus, int steps)
    {
        var guarded = new global::CharGpt.CharGpt(seed: 1337);
        var unguarded = new global::CharGpt.CharGpt(seed: 1337);
        unguarded.Guard.Enabled = false;
        var a = new AdamW(1e-3, beta2: 0.99, weightDecay: 0.1) { MaxGradientNorm = 1.0 };
        var b = new AdamW(1e-3, beta2: 0.99, weightDecay: 0.1) { MaxGradientNorm = 1.0 };
        var random = new SeededRandom(1);
        var inputs = new int[12 * 64];
        var targets = new int[inputs.Length];
        var on = new List<double>(steps);
        var off = new List<double>(steps);
        for (int i = 0; i < steps + 10; i++)
        {
            CharCorpus.SampleBatch(corpus.Train, inputs, targets, 12, 64, random);
            // Alternate which model goes first, so neither always follows the batch sampling.
            bool guardFirst = i % 2 == 0;
            double first = Step(guardFirst ? guarded : unguarded, guardFirst ? a : b, inputs, targets);
            double second = Step(guardFirst ? unguarded : guarded, guardFirst ? b : a, inputs, targets);
            if (i < 10) continue;
            on.Add(guardFirst ? first : second);
            off.Add(guardFirst ? second : first);
        }

        if (guarded.Guard.SkippedSteps != 0) throw new InvalidOperationException("a guarded step was skipped: the comparison is not like for like");
        on.Sort();
        off.Sort();
        return (on[on.Count / 2], off[off.Count / 2]);
    }

    private static double Step(global::CharGpt.CharGpt model, AdamW optimizer, int[] inputs, int[] targets)
    {
        long start = Stopwatch.GetTimestamp();
        model.TrainStep(inputs, targets, optimizer);
        return Stopwatch.GetElapsedTime(start).TotalMilliseconds;
    }
}
