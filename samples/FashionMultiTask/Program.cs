using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using Dsl;
using Dsl.Cuda;
using Dsl.Cuda.Interop;
using Dsl.IO;
using Dsl.Runtime;
using Dsl.Training;

namespace FashionMultiTask;

/// <summary>
/// Trains the same two-task model (a shared 784 → 256 ReLU trunk, a 10-class head and a 7×7 thumbnail head)
/// on Fashion-MNIST under each multi-task weighting — Sum, InitialLoss, LogSum, Uncertainty — with the same
/// seed, batches and budget, through <see cref="Trainer"/>: both test losses and the accuracy after every epoch,
/// then a table of the results. Each weighting has its own run folder under --out and its own checkpoint
/// (--checkpoint PATH writes PATH with ".sum", ".initialloss", … before the extension; --resume PATH reads
/// them). --device cuda trains with the generated CUDA programs (docs/cuda.md), downloads the parameters
/// before each evaluation and scores the test set on the CPU; without a usable GPU it fails with exit code 1
/// (no silent CPU fallback).
/// </summary>
internal static class Program
{
    private static int Main(string[] args)
    {
        var cli = new TrainingCommandLine(
            "Trains one two-task model (10 classes and the 7×7 thumbnail of Fashion-MNIST) under each multi-task weighting and compares them.",
            new TrainerOptions { Epochs = 5, Seed = 1, OutputDirectory = "runs/fashion-multitask", ValidationName = "test", Monitor = "accuracy", EvaluateAtStart = true },
            defaultData: Dsl.IO.FashionMnist.DefaultDirectory);
        var decayEpochs = cli.Add("--decay-epochs", 5, "Epochs the warm-up and cosine decay span, whatever --epochs is (a shorter run is a prefix of the full one, so it can be resumed into it)");
        var device = cli.Add("--device", "cpu", "cpu, or cuda to train with the generated CUDA programs", "cpu", "cuda");
        if (!cli.TryParse(args, out int exit)) return exit;
        TrainerOptions options = cli.Options;
        bool cuda = cli.Get(device) == "cuda";
        if (cuda && (options.CheckpointPath is not null || options.ResumeFrom is not null))
        {
            Console.Error.WriteLine("--device cuda keeps the optimizer state on the GPU, which full-state checkpoints do not read yet: train on the CPU to use --checkpoint or --resume.");
            return 2;
        }

        if (options.ResumeFrom is not null && !Weighting.All.Any(w => File.Exists(options.ForRun(RunName(w)).ResumeFrom)))
        {
            Console.Error.WriteLine($"--resume {options.ResumeFrom}: none of {string.Join(", ", Weighting.All.Select(w => options.ForRun(RunName(w)).ResumeFrom))} exists (--checkpoint PATH writes one per weighting).");
            return 1;
        }

        LabelledImages trainImages, testImages;
        try
        {
            (trainImages, testImages) = Dsl.IO.FashionMnist.Load(cli.Get(cli.Data)!);
        }
        catch (DatasetNotFoundException e)
        {
            Console.Error.WriteLine(e.Message);
            return 1;
        }

        TaskData trainData = TaskData.From(trainImages), testData = TaskData.From(testImages);
        TaskDataset<float> train = trainData.ToDataset(), test = testData.ToDataset();
        long scheduleSteps = (long)cli.Get(decayEpochs) * (train.Count / MultiTaskTraining.BatchSize);
        Console.WriteLine($"Fashion-MNIST: {train.Count} training and {test.Count} test images; two tasks on a shared 784 → 256 ReLU trunk: "
            + $"10 classes (cross-entropy, y_loss) and the 7×7 thumbnail in [0, 1] (MSE, thumb_loss); {SumModel.ParameterCount:N0} parameters "
            + $"(+2 log-variances for Uncertainty); {options.Epochs} epoch(s) of batch {MultiTaskTraining.BatchSize}, AdamW {MultiTaskTraining.PeakLearningRate:G} "
            + $"with warm-up and cosine decay over {cli.Get(decayEpochs)} epoch(s); seed {options.Seed}; {WorkerPool.Shared.Threads} thread(s)");

        var results = new List<(string Name, Evaluation? Scores, double Seconds, double[] Weights)>();
        var clock = Stopwatch.StartNew();
        foreach (Weighting weighting in Weighting.All)
        {
            var model = weighting.Create(options.Seed);
            var runOptions = options.ForRun(RunName(weighting));
            Console.WriteLine();
            Console.WriteLine($"TaskWeighting.{weighting.Name}{(cuda ? " (training on the GPU, the generated CUDA program; scores on the CPU)" : "")}");
            if (runOptions.ResumeFrom is { } resume && !File.Exists(resume))
            {
                Console.WriteLine($"  no checkpoint {resume}: this weighting starts afresh");
                runOptions.ResumeFrom = null;
            }

            var trainer = MultiTaskTraining.Create(model, runOptions, scheduleSteps);
            CudaTrainer? gpu = null;
            TaskStep<float>? step = null;
            if (cuda)
            {
                try
                {
                    gpu = DeviceModels.Open(model, options.Seed);
                }
                catch (CudaUnavailableException e)
                {
                    Console.Error.WriteLine($"--device cuda: {e.Message} Run without --device cuda (or with --device cpu) to train on the CPU.");
                    return 1;
                }

                step = MultiTaskTraining.OnDevice(trainer, gpu);
            }

            TrainingResult result = trainer.Fit(train, test, step);
            double[] weights = (gpu is null ? model.TaskWeights : gpu.TaskWeights).ToArray();
            gpu?.Dispose();
            Console.WriteLine($"  last step's task weights ∂L/∂L_i: cross-entropy {weights[0]:G4}, thumbnail MSE {weights[1]:G4} (ratio MSE/CE {weights[1] / weights[0]:G4})");
            Console.WriteLine($"  memory: {ProcessMemory.Describe((long)model.Engine.Arena.Length * sizeof(float))}");
            results.Add((weighting.Name, result.LastValidation, result.Epochs.Sum(e => e.Seconds), weights));
        }

        Console.WriteLine();
        Console.WriteLine($"After {options.Epochs} epoch(s), seed {options.Seed}, on the {test.Count} test images ({clock.Elapsed.TotalSeconds:F0} s in all):");
        Console.WriteLine();
        Console.WriteLine("| Weighting    | Test accuracy | Test thumbnail MSE | Test cross-entropy | Training s | Last weights CE, MSE |");
        Console.WriteLine("|--------------|--------------:|-------------------:|-------------------:|-----------:|----------------------|");
        foreach (var (name, s, seconds, w) in results)
        {
            double accuracy = s?["accuracy"] ?? double.NaN, mse = s?[Trainer.TaskLossKey(MultiTaskTraining.Thumbnail)] ?? double.NaN;
            double crossEntropy = s?[Trainer.TaskLossKey(MultiTaskTraining.Classes)] ?? double.NaN;
            Console.WriteLine($"| {name,-12} | {accuracy,13:F4} | {mse,18:F5} | {crossEntropy,18:F4} | {seconds,10:F1} | {w[0],-9:G3} {w[1],-10:G3} |");
        }

        return 0;
    }

    /// <summary>The run folder and checkpoint suffix of a weighting ("sum", "initialloss", …).</summary>
    private static string RunName(Weighting weighting) => weighting.Name.ToLowerInvariant();
}
