using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using Dsl.Cuda;
using Dsl.Cuda.Interop;
using Dsl.IO;
using Dsl.Optimizers;
using Dsl.Runtime;

namespace CoSentEncoder;

/// <summary>
/// Trains the same sentence encoder twice on the STS benchmark, once with CoSENT and once with
/// cosine-MSE (same seed, same batches, same budget), prints the Spearman correlation on sts-dev after
/// every epoch and on sts-test at the end, and says which loss did better.
/// Options: --epochs N (default 6), --seed N, --threads N, --data DIR, --device cpu|cuda (default cpu; cuda
/// trains with the generated CUDA program, docs/cuda.md, downloads the parameters and computes the Spearman
/// correlations on the CPU; without a usable GPU it fails with exit code 1 — no silent CPU fallback).
/// </summary>
internal static class Program
{
    private const int Dim = CoSentModel.OutputFeatures;
    private const string Options = "--epochs N --seed N --threads N --data DIR --device cpu|cuda";

    private static int Main(string[] args)
    {
        int epochs = 6;
        ulong seed = 1;
        string? data = null;
        bool cuda = false;
        for (int i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "--epochs": epochs = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--seed": seed = ulong.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--threads": WorkerPool.Shared.Threads = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--data": data = Next(); break;
                case "--device":
                    string device = Next();
                    if (device is not ("cpu" or "cuda"))
                    {
                        Console.Error.WriteLine($"--device {device}: expected cpu or cuda");
                        return 2;
                    }

                    cuda = device == "cuda";
                    break;
                default:
                    Console.Error.WriteLine($"unknown option {args[i]}; options: {Options}");
                    return 2;
            }
        }

        if (epochs < 1)
        {
            Console.Error.WriteLine($"--epochs must be at least 1, was {epochs}");
            return 2;
        }

        data ??= FindData() ?? "stsbenchmark";
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
        var train = StsData.Encode(trainPairs, vocabulary);
        var dev = StsData.Encode(devPairs, vocabulary);
        var test = StsData.Encode(testPairs, vocabulary);
        Console.WriteLine($"{data}: {train.Count:N0} train / {dev.Count:N0} dev / {test.Count:N0} test pairs; vocabulary {vocabulary.Count:N0} words (min count {StsData.MinCount}, pad and unknown included)");
        Console.WriteLine($"encoder: embeddings {Dim} → Dense 256 + tanh per word → mean over words → Dense {Dim}; {CoSentModel.ParameterCount:N0} parameters; {StsData.PairsPerBatch} pairs per step; {epochs} epochs; {WorkerPool.Shared.Threads} thread(s)");

        double cosentTest, mseTest;
        try
        {
            var cosent = new CoSentModel(seed);
            cosentTest = Train("CoSENT", cosent, OpenDevice(cuda, CoSentModel.CudaProgram, cosent.Compiled.Arena, seed),
                cosent.Compiled.Parameters, 1f, train, dev, test, epochs, seed);
            var mse = new CosineMseModel(seed);
            mseTest = Train("cosine-MSE", mse, OpenDevice(cuda, CosineMseModel.CudaProgram, mse.Compiled.Arena, seed),
                mse.Compiled.Parameters, 1f / StsBenchmark.MaxScore, train, dev, test, epochs, seed);
        }
        catch (CudaUnavailableException e)
        {
            Console.Error.WriteLine($"--device cuda: {e.Message} Run without --device cuda (or with --device cpu) to train on the CPU.");
            return 1;
        }

        Console.WriteLine();
        Console.WriteLine($"sts-test Spearman: CoSENT {cosentTest:F4}, cosine-MSE {mseTest:F4}");
        Console.WriteLine(cosentTest > mseTest ? $"CoSENT did better, by {cosentTest - mseTest:F4}."
            : mseTest > cosentTest ? $"cosine-MSE did better, by {mseTest - cosentTest:F4}."
            : "They tie.");
        return 0;
    }

    /// <summary>With --device cuda, a device trainer on the model's generated CUDA program (its arena's initialised
    /// parameters uploaded); null on the CPU.</summary>
    /// <exception cref="CudaUnavailableException">No usable GPU.</exception>
    private static CudaTrainer? OpenDevice(bool cuda, CudaProgram program, float[] arena, ulong seed) =>
        cuda ? CudaTrainer.ForTokens(program, arena, StsData.Sequence, seed) : null;

    /// <summary>Trains <paramref name="model"/> (on the device when <paramref name="device"/> is set: its parameters are
    /// downloaded into <paramref name="parameters"/>, the model's parameter region, before each evaluation).</summary>
    private static double Train(string name, IPairEncoder model, CudaTrainer? device, Span<float> parameters, float scoreScale, StsData train, StsData dev, StsData test, int epochs, ulong seed)
    {
        Console.WriteLine();
        Console.WriteLine(device is null ? $"— {name} —" : $"— {name} — training on the GPU (the generated CUDA program); Spearman on the CPU");
        var optimizer = new AdamW(1e-3, weightDecay: 0.01);
        var trainer = new PairTrainer(model, optimizer, train, scoreScale, seed, device);
        var clock = Stopwatch.StartNew();
        for (int epoch = 1; epoch <= epochs; epoch++)
        {
            double total = 0;
            for (int s = 0; s < trainer.StepsPerEpoch; s++) total += trainer.Step();
            device?.Session.Download(parameters, 0);
            double spearman = PairTrainer.Spearman(model, dev, Dim);
            Console.WriteLine($"epoch {epoch}/{epochs}  mean loss {total / trainer.StepsPerEpoch:F4}  sts-dev Spearman {spearman:F4}  ({clock.Elapsed.TotalSeconds:F0} s)");
        }

        double result = PairTrainer.Spearman(model, test, Dim);
        Console.WriteLine($"sts-test Spearman {result:F4}");
        device?.Dispose();
        return result;
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
