using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using Dsl.Cuda;
using Dsl.Cuda.Interop;
using Dsl.IO;
using Dsl.Runtime;

namespace FashionMultiTask;

/// <summary>
/// Trains the same two-task model (a shared 784 → 256 ReLU trunk, a 10-class head and a 7×7 thumbnail head)
/// on Fashion-MNIST under each multi-task weighting — Sum, InitialLoss, LogSum, Uncertainty — with the same
/// seed, batches and budget, prints both test losses after every epoch, then a table of the results.
/// Options: --epochs N (default 5), --seed N (default 1), --threads N, --data DIR, --device cpu|cuda (default cpu;
/// cuda trains with the generated CUDA programs, docs/cuda.md, downloads the parameters after each epoch and scores
/// the test set on the CPU; without a usable GPU it fails with exit code 1 — no silent CPU fallback).
/// </summary>
internal static class Program
{
    private const string Usage = "options: --epochs N (default 5) --seed N (default 1) --threads N --data DIR --device cpu|cuda (default cpu)";

    private static int Main(string[] args)
    {
        int epochs = 5;
        ulong seed = 1;
        string data = Dsl.IO.FashionMnist.DefaultDirectory;
        bool cuda = false;
        for (int i = 0; i < args.Length; i++)
        {
            string option = args[i];
            if (option is not ("--epochs" or "--seed" or "--threads" or "--data" or "--device"))
            {
                Console.Error.WriteLine($"unknown option {option}; {Usage}");
                return 2;
            }

            if (i + 1 >= args.Length)
            {
                Console.Error.WriteLine($"{option} needs a value; {Usage}");
                return 2;
            }

            string value = args[++i];
            switch (option)
            {
                case "--epochs":
                    if (!int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out epochs) || epochs < 1)
                        return Fail($"--epochs {value}: expected a whole number of at least 1");
                    break;
                case "--seed":
                    if (!ulong.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out seed))
                        return Fail($"--seed {value}: expected a whole number from 0 to {ulong.MaxValue}");
                    break;
                case "--threads":
                    if (!int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int threads) || threads < 1)
                        return Fail($"--threads {value}: expected a whole number of at least 1");
                    WorkerPool.Shared.Threads = threads;
                    break;
                case "--device":
                    if (value is not ("cpu" or "cuda"))
                        return Fail($"--device {value}: expected cpu or cuda");
                    cuda = value == "cuda";
                    break;
                default:
                    data = value;
                    break;
            }
        }

        LabelledImages trainImages, testImages;
        try
        {
            (trainImages, testImages) = Dsl.IO.FashionMnist.Load(data);
        }
        catch (DatasetNotFoundException e)
        {
            Console.Error.WriteLine(e.Message);
            return 1;
        }

        TaskData train = TaskData.From(trainImages), test = TaskData.From(testImages);
        Console.WriteLine($"Fashion-MNIST: {train.Count} training and {test.Count} test images; two tasks on a shared 784 → 256 ReLU trunk: "
            + $"10 classes (cross-entropy) and the 7×7 thumbnail in [0, 1] (MSE); {SumModel.ParameterCount:N0} parameters "
            + $"(+2 log-variances for Uncertainty); {epochs} epoch(s) of batch {MultiTaskTrainer.BatchSize}, AdamW {MultiTaskTrainer.PeakLearningRate:G} "
            + $"with warm-up and cosine decay; seed {seed}; {WorkerPool.Shared.Threads} thread(s)");

        // A live progress line (rewritten with \r) only on a terminal; a redirected log gets one line per epoch.
        bool live = !Console.IsOutputRedirected;
        string lineStart = live ? "\r" : "";
        var results = new List<(string Name, TaskScores Scores, double Seconds, double[] Weights)>();
        var clock = Stopwatch.StartNew();
        foreach (Weighting weighting in Weighting.All)
        {
            IMultiTaskModel model = weighting.Create(seed);
            CudaTrainer? device = null;
            if (cuda)
            {
                try
                {
                    device = DeviceModels.Open(model, seed);
                }
                catch (CudaUnavailableException e)
                {
                    Console.Error.WriteLine($"--device cuda: {e.Message} Run without --device cuda (or with --device cpu) to train on the CPU.");
                    return 1;
                }
            }

            var trainer = new MultiTaskTrainer(model, train, epochs, seed, device);
            TaskScores initial = TaskScores.Of(model, test);
            Console.WriteLine();
            Console.WriteLine(device is null ? $"TaskWeighting.{weighting.Name}" : $"TaskWeighting.{weighting.Name} (training on the GPU, the generated CUDA program; scores on the CPU)");
            Console.WriteLine($"  epoch  0/{epochs}  test cross-entropy {initial.CrossEntropy:F4}  thumbnail MSE {initial.ThumbnailMse:F5}  accuracy {initial.Accuracy:F4}");
            TaskScores scores = initial;
            for (int epoch = 1; epoch <= epochs; epoch++)
            {
                int e = epoch;
                Action<int, double>? progress = live
                    ? (steps, loss) => Console.Write($"\r  epoch {e,2}/{epochs}  step {steps,4}/{trainer.StepsPerEpoch}  combined loss {loss:F4}   ")
                    : null;
                double trainLoss = trainer.RunEpoch(progress);
                scores = TaskScores.Of(model, test);
                Console.WriteLine($"{lineStart}  epoch {epoch,2}/{epochs}  test cross-entropy {scores.CrossEntropy:F4}  thumbnail MSE {scores.ThumbnailMse:F5}  "
                    + $"accuracy {scores.Accuracy:F4}  (train combined loss {trainLoss:F4}, {trainer.TrainingSeconds:F1} s){(live ? "   " : "")}");
            }

            double[] weights = trainer.TaskWeights.ToArray();
            device?.Dispose();
            Console.WriteLine($"  last step's task weights ∂L/∂L_i: cross-entropy {weights[0]:G4}, thumbnail MSE {weights[1]:G4} (ratio MSE/CE {weights[1] / weights[0]:G4})");
            results.Add((weighting.Name, scores, trainer.TrainingSeconds, weights));
        }

        Console.WriteLine();
        Console.WriteLine($"After {epochs} epoch(s), seed {seed}, on the {test.Count} test images ({clock.Elapsed.TotalSeconds:F0} s in all):");
        Console.WriteLine();
        Console.WriteLine("| Weighting    | Test accuracy | Test thumbnail MSE | Test cross-entropy | Training s | Last weights CE, MSE |");
        Console.WriteLine("|--------------|--------------:|-------------------:|-------------------:|-----------:|----------------------|");
        foreach (var (name, s, seconds, w) in results)
            Console.WriteLine($"| {name,-12} | {s.Accuracy,13:F4} | {s.ThumbnailMse,18:F5} | {s.CrossEntropy,18:F4} | {seconds,10:F1} | {w[0],-9:G3} {w[1],-10:G3} |");
        return 0;
    }

    private static int Fail(string message)
    {
        Console.Error.WriteLine($"{message}; {Usage}");
        return 2;
    }
}
