using System;
using System.Globalization;
using System.IO;
using System.Runtime.InteropServices;
using Dsl.Optimizers;

namespace Dsl.Bench;

/// <summary>
/// A reference check, not a benchmark: the CharGpt sample's model and training loop against PyTorch
/// from the same starting point. bench/torch_chargpt.py --export writes its initial weights (under the
/// DSL model's tensor names), every step's batch and every step's loss and gradient norm; this loads
/// the weights, replays the batches through <c>TrainStep</c> with the sample's optimizer and schedule,
/// and prints both losses side by side with the largest differences. Float32 on both sides with
/// different summation orders, so the two runs drift apart slowly; the first steps should agree to
/// about 1e-5 and the curves should stay together.
/// </summary>
internal static class CharGptParity
{
    public static int Run(ReadOnlySpan<string> args)
    {
        int steps = 200;
        string python = "/usr/bin/python3";
        string? data = null;
        string? directory = null;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--steps" when i + 1 < args.Length: steps = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--python" when i + 1 < args.Length: python = args[++i]; break;
                case "--data" when i + 1 < args.Length: data = args[++i]; break;
                case "--dir" when i + 1 < args.Length: directory = args[++i]; break;
                default:
                    Console.Error.WriteLine($"chargpt-parity: unknown option {args[i]}; options: --steps N --python PATH --data PATH --dir DIR (reuse an export)");
                    return 2;
            }
        }

        string root = MlpBench.RepoRoot();
        data ??= Path.GetFullPath(Path.Combine(root, "..", "shared", "data", "tinyshakespeare", "input.txt"));
        if (directory is null)
        {
            directory = Path.Combine(Path.GetTempPath(), "chargpt-parity");
            if (!Export(python, Path.Combine(root, "bench", "torch_chargpt.py"), data, directory, steps))
            {
                return 1;
            }
        }

        const int Rows = 12 * 64;
        byte[] batches = File.ReadAllBytes(Path.Combine(directory, "batches.bin"));
        string[] reference = File.ReadAllLines(Path.Combine(directory, "losses.txt"));
        int available = Math.Min(reference.Length, batches.Length / (2 * Rows * sizeof(int)));
        if (available < steps)
        {
            Console.Error.WriteLine($"{directory} holds {available} steps; running those.");
            steps = available;
        }

        var model = new global::CharGpt.CharGpt();
        model.Load(Path.Combine(directory, "init.safetensors"));
        var optimizer = new AdamW(1e-3, beta1: 0.9, beta2: 0.99, weightDecay: 0.1) { MaxGradientNorm = 1.0 };
        ReadOnlySpan<int> all = MemoryMarshal.Cast<byte, int>(batches);
        double maxLoss = 0, maxNorm = 0, sumLoss = 0;
        Console.WriteLine($"{"step",5} {"torch loss",11} {"Dsl loss",11} {"rel diff",9} {"torch |g|",10} {"Dsl |g|",10} {"rel diff",9}");
        for (int step = 0; step < steps; step++)
        {
            ReadOnlySpan<int> inputs = all.Slice(2 * step * Rows, Rows);
            ReadOnlySpan<int> targets = all.Slice((2 * step * Rows) + Rows, Rows);
            optimizer.LearningRate = LearningRateSchedule.WarmupCosine(step, 100, 2000, 1e-3, 1e-4);
            double loss = model.TrainStep(inputs, targets, optimizer);
            string[] fields = reference[step].Split(' ');
            double torchLoss = double.Parse(fields[0], CultureInfo.InvariantCulture);
            double torchNorm = double.Parse(fields[1], CultureInfo.InvariantCulture);
            double lossDiff = Math.Abs(loss - torchLoss) / Math.Abs(torchLoss);
            double normDiff = Math.Abs(optimizer.LastGradientNorm - torchNorm) / Math.Abs(torchNorm);
            maxLoss = Math.Max(maxLoss, lossDiff);
            maxNorm = Math.Max(maxNorm, normDiff);
            sumLoss += loss - torchLoss;
            if (step < 10 || step % 50 == 49 || step == steps - 1)
            {
                Console.WriteLine($"{step,5} {torchLoss,11:F6} {loss,11:F6} {lossDiff,9:E1} {torchNorm,10:F4} {optimizer.LastGradientNorm,10:F4} {normDiff,9:E1}");
            }
        }

        Console.WriteLine($"{steps} steps: largest relative loss difference {maxLoss:E2}, gradient norm {maxNorm:E2}; mean (Dsl − torch) loss {sumLoss / steps:E2}");

        // Both trained models on the whole validation split (the same windows as torch_chargpt.py --full-val).
        var corpus = Dsl.IO.CharCorpus.Load(data);
        int windows = Dsl.IO.CharCorpus.WindowCount(corpus.Validation.Length, 64);
        var windowInputs = new int[windows * 64];
        var windowTargets = new int[windows * 64];
        Dsl.IO.CharCorpus.Windows(corpus.Validation, 0, windows, 64, windowInputs, windowTargets);
        double ours = model.Evaluate(windowInputs, windowTargets);
        string summary = Path.Combine(directory, "summary.json");
        string theirs = "n/a";
        if (File.Exists(summary))
        {
            using var json = System.Text.Json.JsonDocument.Parse(File.ReadAllText(summary));
            if (json.RootElement.TryGetProperty("full_val", out var value) && json.RootElement.GetProperty("iters").GetInt32() == steps)
            {
                theirs = value.GetDouble().ToString("F4", CultureInfo.InvariantCulture);
            }
        }

        Console.WriteLine($"val loss over the whole validation split ({windows} windows of 64): torch {theirs}, Dsl {ours:F4}");
        return 0;
    }

    private static bool Export(string python, string script, string data, string directory, int steps) =>
        TorchProcess.Run(python, script, threads: null, new[]
        {
            "--data", data, "--iters", steps.ToString(CultureInfo.InvariantCulture), "--eval-interval", "1000000", "--eval-iters", "1",
            "--log-interval", "1000000", "--full-val", "--json", Path.Combine(directory, "summary.json"), "--export", directory,
        }) is not null;
}
