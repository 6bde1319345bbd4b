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
/// The CharGpt sample's training iteration (batch sampling, forward, backward, clipping, AdamW) against the same
/// model in PyTorch 1.13 (bench/torch_chargpt.py, Debian's /usr/bin/python3) stock and tuned, on 1 and 2 threads,
/// in one run: median ms per iteration and the ratios.
/// </summary>
internal static class CharGptBench
{
    public static int Run(ReadOnlySpan<string> args)
    {
        int steps = 60;
        int rounds = 3;
        bool profile = false;
        string python = "/usr/bin/python3";
        string? data = null;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--steps" when i + 1 < args.Length: steps = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--rounds" when i + 1 < args.Length: rounds = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--python" when i + 1 < args.Length: python = args[++i]; break;
                case "--data" when i + 1 < args.Length: data = args[++i]; break;
                case "--profile": profile = true; break;
                default:
                    Console.Error.WriteLine($"chargpt: unknown option {args[i]}; options: --steps N --rounds N --profile --python PATH --data PATH");
                    return 2;
            }
        }

        string root = MlpBench.RepoRoot();
        data ??= DefaultData(root);
        string script = Path.Combine(root, "bench", "torch_chargpt.py");
        int parameters = global::CharGpt.CharGpt.ParameterCount;
        Console.WriteLine($"CharGpt iteration (batch 12 × 64, 4 layers, width 128, {parameters:N0} parameters; sample + forward + backward + clip + AdamW) — {Machine.Cpu()}");
        if (profile)
        {
            foreach (int threads in new[] { 1, 2 })
            {
                Console.WriteLine();
                Console.WriteLine($"profile: {threads} thread(s), {steps} iterations after warm-up; load average {Machine.LoadAverage()}");
                TorchProcess.RunSelf(WorkerArguments(data, threads, steps, profile: true), echo: true)?.Dispose();
            }

            return 0;
        }

        new SideBySide(
            $"CharGpt training iteration, median over {steps} iterations after 10 of warm-up",
            threads => TorchProcess.RunSelf(WorkerArguments(data, threads, steps, profile: false)),
            (threads, settings) => TorchProcess.RunForJson(python, script, threads, TorchArguments(data, threads, steps), settings))
            .Run(rounds);
        Console.WriteLine();
        Console.WriteLine("torch/Dsl > 1 means Dsl is faster. PyTorch \"tuned\": " + string.Join(' ', Array.ConvertAll(TorchProcess.TunedEnvironment, e => $"{e.Name}={e.Value}")) + ".");
        return 0;
    }

    /// <summary>The worker command (a fresh process): times the sample's iteration on one thread count and prints one JSON line.</summary>
    public static int Worker(ReadOnlySpan<string> args)
    {
        int threads = 1, steps = 60;
        bool profile = false;
        string? data = null;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--threads": threads = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--steps": steps = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--data": data = args[++i]; break;
                case "--profile": profile = true; break;
                default: Console.Error.WriteLine($"chargpt-worker: unknown option {args[i]}"); return 2;
            }
        }

        var corpus = CharCorpus.Load(data ?? DefaultData(MlpBench.RepoRoot()));
        WorkerPool.Shared.Threads = threads;
        var model = new global::CharGpt.CharGpt(seed: 1337);
        var optimizer = new AdamW(1e-3, beta2: 0.99, weightDecay: 0.1) { MaxGradientNorm = 1.0 };
        var random = new SeededRandom(1);
        var inputs = new int[12 * 64];
        var targets = new int[inputs.Length];
        var times = new List<double>(steps);

        // The calling thread's CPU time per iteration beside the wall time: on one thread all the work runs on
        // it, so on a shared machine this leaves out the time spent descheduled.
        var cpuTimes = new List<double>(steps);
        StepProfile? stepProfile = null;
        for (int i = 0; i < steps + 10; i++)
        {
            if (profile && i == 10)
            {
                model.Compiled.Profile = stepProfile = new StepProfile(global::CharGpt.CharGpt.Engine<float>.ProfileSteps);
            }

            long start = Stopwatch.GetTimestamp();
            double cpuStart = Machine.ThreadCpuMilliseconds();
            optimizer.LearningRate = LearningRateSchedule.WarmupCosine(i, 100, 2000, 1e-3, 1e-4);
            CharCorpus.SampleBatch(corpus.Train, inputs, targets, 12, 64, random);
            model.TrainStep(inputs, targets, optimizer);
            if (i >= 10)
            {
                times.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
                cpuTimes.Add(Machine.ThreadCpuMilliseconds() - cpuStart);
            }
        }

        if (stepProfile is not null)
        {
            model.Compiled.Profile = null;
            stepProfile.Write(Console.Out, steps);
        }

        times.Sort();
        cpuTimes.Sort();
        Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["threads"] = threads,
            ["median_ms"] = times[times.Count / 2],
            ["min_ms"] = times[0],
            ["caller_cpu_median_ms"] = cpuTimes[cpuTimes.Count / 2],
            ["peak_rss_kib"] = Machine.PeakRssKiB(),
            ["arena_bytes"] = (long)global::CharGpt.CharGpt.Engine<float>.ArenaLength * sizeof(float),
        }));
        return 0;
    }

    private static string DefaultData(string root) => Path.GetFullPath(Path.Combine(root, "..", "shared", "data", "tinyshakespeare", "input.txt"));

    private static string[] WorkerArguments(string data, int threads, int steps, bool profile)
    {
        var list = new List<string> { "chargpt-worker", "--data", data, "--threads", Str(threads), "--steps", Str(steps) };
        if (profile) list.Add("--profile");
        return [.. list];
    }

    private static string[] TorchArguments(string data, int threads, int steps) =>
        ["--data", data, "--threads", Str(threads), "--iters", Str(steps + 10),
            "--eval-interval", "1000000", "--eval-iters", "1", "--timing-warmup", "10", "--log-interval", "1000000"];

    private static string Str(int value) => value.ToString(CultureInfo.InvariantCulture);
}
