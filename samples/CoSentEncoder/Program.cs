using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Dsl;
using Dsl.Cuda;
using Dsl.Cuda.Interop;
using Dsl.IO;
using Dsl.Runtime;
using Dsl.Training;

namespace CoSentEncoder;

/// <summary>
/// Trains the same sentence encoder twice on the STS benchmark, once with CoSENT and once with cosine-MSE
/// (same seed, same batches, same budget), through <see cref="Trainer"/>: the loss and Spearman correlation on
/// sts-dev after every epoch, on sts-test at the end, and which loss did better. Each loss has its own run
/// folder under --out and its own checkpoint (--checkpoint PATH writes PATH with ".cosent" or ".cosine-mse"
/// before the extension; --resume PATH reads them). --device cuda trains with the generated CUDA program
/// (docs/cuda.md), downloads the parameters before each evaluation and computes the correlations on the CPU;
/// without a usable GPU it fails with exit code 1 (no silent CPU fallback).
/// </summary>
internal static class Program
{
    private static int Main(string[] args)
    {
        var cli = new TrainingCommandLine(
            "Trains a small sentence encoder on the STS benchmark with CoSENT and with cosine-MSE and compares their Spearman correlations.",
            PairTraining.Defaults());
        var device = cli.Add("--device", "cpu", "cpu, or cuda to train with the generated CUDA program", "cpu", "cuda");
        if (!cli.TryParse(args, out int exit)) return exit;
        TrainerOptions options = cli.Options;
        bool cuda = cli.Get(device) == "cuda";
        if (cuda && (options.CheckpointPath is not null || options.ResumeFrom is not null))
        {
            Console.Error.WriteLine("--device cuda keeps the optimizer state on the GPU, which full-state checkpoints do not read yet: train on the CPU to use --checkpoint or --resume.");
            return 2;
        }

        var losses = new (string Name, string Run, Func<ulong, ISupervisedModel<int, float>> Create, Func<CudaProgram> Program, float ScoreScale)[]
        {
            ("CoSENT", "cosent", seed => new CoSentModel(seed), () => CoSentModel.CudaProgram, 1f),
            ("cosine-MSE", "cosine-mse", seed => new CosineMseModel(seed), () => CosineMseModel.CudaProgram, 1f / StsBenchmark.MaxScore),
        };
        if (options.ResumeFrom is not null && !losses.Any(l => File.Exists(options.ForRun(l.Run).ResumeFrom)))
        {
            Console.Error.WriteLine($"--resume {options.ResumeFrom}: none of {string.Join(", ", losses.Select(l => options.ForRun(l.Run).ResumeFrom))} exists (--checkpoint PATH writes one per loss).");
            return 1;
        }

        string data = cli.Get(cli.Data) ?? FindData() ?? "stsbenchmark";
        IReadOnlyList<StsPair> trainPairs, devPairs, testPairs;
        try
        {
            (trainPairs, devPairs, testPairs) = StsBenchmark.Load(data);
        }
        catch (DatasetNotFoundException e)
        {
            Console.Error.WriteLine(e.Message + " Pass --data DIR (the repository expects ../shared/data/stsbenchmark).");
            return 1;
        }

        var vocabulary = StsData.BuildVocabulary(trainPairs);
        StsData train = StsData.Encode(trainPairs, vocabulary), dev = StsData.Encode(devPairs, vocabulary), test = StsData.Encode(testPairs, vocabulary);
        const int dim = CoSentModel.OutputFeatures;
        Console.WriteLine($"{data}: {train.Count:N0} train / {dev.Count:N0} dev / {test.Count:N0} test pairs; vocabulary {vocabulary.Count:N0} words (min count {StsData.MinCount}, pad and unknown included)");
        Console.WriteLine($"encoder: embeddings {dim} → Dense 256 + tanh per word → mean over words → Dense {dim}; {CoSentModel.ParameterCount:N0} parameters; {StsData.PairsPerBatch} pairs per step; {options.Epochs} epochs; {WorkerPool.Shared.Threads} thread(s)");

        var results = new List<(string Name, double Test)>();
        foreach (var loss in losses)
        {
            var model = loss.Create(options.Seed);
            var runOptions = options.ForRun(loss.Run);
            Console.WriteLine();
            Console.WriteLine(cuda ? $"— {loss.Name} — training on the GPU (the generated CUDA program); Spearman on the CPU" : $"— {loss.Name} —");
            if (runOptions.ResumeFrom is { } resume && !File.Exists(resume))
            {
                Console.WriteLine($"no checkpoint {resume}: this loss starts afresh");
                runOptions.ResumeFrom = null;
            }

            var trainer = PairTraining.Create(model, runOptions);
            CudaTrainer? gpu = null;
            TrainStep<int, float>? step = null;
            if (cuda)
            {
                try
                {
                    gpu = CudaTrainer.ForTokens(loss.Program(), model.Engine.Arena, StsData.Sequence, options.Seed);
                }
                catch (CudaUnavailableException e)
                {
                    Console.Error.WriteLine($"--device cuda: {e.Message} Run without --device cuda (or with --device cpu) to train on the CPU.");
                    return 1;
                }

                step = (ids, scores, optimizer) => (float)gpu.TrainStep(ids, scores, optimizer);
                trainer.BeforeEvaluate = () => gpu.Session.Download(model.Engine.Parameters, 0);
            }

            trainer.Fit(train.ToDataset(loss.ScoreScale), dev.ToDataset(loss.ScoreScale), step);
            gpu?.Dispose();
            double spearman = trainer.Evaluate(test.ToDataset(loss.ScoreScale))[PairTraining.Spearman];
            Console.WriteLine($"sts-test Spearman {spearman:F4}");
            Console.WriteLine($"memory: {ProcessMemory.Describe((long)model.Engine.Arena.Length * sizeof(float))}");
            results.Add((loss.Name, spearman));
        }

        double cosentTest = results[0].Test, mseTest = results[1].Test;
        Console.WriteLine();
        Console.WriteLine($"sts-test Spearman: CoSENT {cosentTest:F4}, cosine-MSE {mseTest:F4}");
        Console.WriteLine(cosentTest > mseTest ? $"CoSENT did better, by {cosentTest - mseTest:F4}."
            : mseTest > cosentTest ? $"cosine-MSE did better, by {mseTest - cosentTest:F4}."
            : "They tie.");
        return 0;
    }

    /// <summary>The STS benchmark in the shared data folder next to the repository, searched upwards from
    /// the working directory.</summary>
    private static string? FindData()
    {
        for (var dir = new DirectoryInfo(Directory.GetCurrentDirectory()); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "shared", "data", "stsbenchmark");
            if (File.Exists(Path.Combine(candidate, StsBenchmark.TrainFile))) return candidate;
        }

        return null;
    }
}
