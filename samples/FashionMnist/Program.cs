using System;
using System.Diagnostics;
using System.Globalization;
using Dsl.IO;
using Dsl.Optimizers;
using Dsl.Runtime;

namespace FashionMnist;

/// <summary>
/// Trains <see cref="FashionMlp"/> on Fashion-MNIST (Debian package dataset-fashion-mnist) with
/// AdamW and a cosine learning-rate schedule, printing a live progress line, per-epoch loss,
/// test accuracy and throughput, then saves a safetensors checkpoint.
/// Options: --epochs N (default 15), --threads N, --seed N, --data DIR, --checkpoint PATH,
/// --device cpu|cuda (default cpu; cuda runs the generated CUDA program, docs/cuda.md, and fails with
/// what is missing when no GPU is usable: there is no silent fallback).
/// </summary>
internal static class Program
{
    private static int Main(string[] args)
    {
        int epochs = 15;
        ulong seed = 1;
        string data = Dsl.IO.FashionMnist.DefaultDirectory;
        string checkpoint = "fashion-mlp.safetensors";
        bool cuda = false;
        for (int i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "--epochs": epochs = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--threads": WorkerPool.Shared.Threads = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--seed": seed = ulong.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--data": data = Next(); break;
                case "--checkpoint": checkpoint = Next(); break;
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
                    Console.Error.WriteLine($"unknown option {args[i]}; options: --epochs N --threads N --seed N --data DIR --checkpoint PATH --device cpu|cuda");
                    return 2;
            }
        }

        LabelledImages train, test;
        try
        {
            (train, test) = Dsl.IO.FashionMnist.Load(data);
        }
        catch (DatasetNotFoundException e)
        {
            Console.Error.WriteLine(e.Message);
            return 1;
        }

        Standardize(train.Images);
        Standardize(test.Images);
        Console.WriteLine($"Fashion-MNIST: {train.Count} training and {test.Count} test images; model {nameof(FashionMlp)} with {FashionMlp.ParameterCount:N0} parameters; {WorkerPool.Shared.Threads} thread(s)");

        var model = new FashionMlp(seed);
        Dsl.Cuda.CudaTrainer? gpu = null;
        if (cuda)
        {
            try
            {
                gpu = new Dsl.Cuda.CudaTrainer(FashionMlp.CudaProgram, model.Compiled.Arena, FashionMlp.Engine<float>.InputOffset, FashionMlp.InputFeatures, FashionMlp.Engine<float>.OutputOffset, seed);
            }
            catch (Dsl.Cuda.Interop.CudaUnavailableException e)
            {
                Console.Error.WriteLine($"--device cuda: {e.Message} Run without --device cuda (or with --device cpu) to train on the CPU.");
                return 1;
            }

            Console.WriteLine("training on the GPU (the generated CUDA program)");
        }

        const int batch = FashionMlp.MaxBatch;
        int stepsPerEpoch = train.Count / batch;
        int totalSteps = epochs * stepsPerEpoch;
        const double peakLearningRate = 1e-3;
        var optimizer = new AdamW(peakLearningRate, weightDecay: 0.05);

        var order = new int[train.Count];
        for (int i = 0; i < order.Length; i++) order[i] = i;
        var random = new SeededRandom(seed);
        var inputs = new float[batch * train.Features];
        var labels = new int[batch];
        var logits = new float[test.Count * FashionMlp.OutputFeatures];
        var clock = Stopwatch.StartNew();
        int step = 0;
        double accuracy = 0;

        for (int epoch = 1; epoch <= epochs; epoch++)
        {
            random.Shuffle(order);
            double lossSum = 0;
            var epochClock = Stopwatch.StartNew();
            for (int s = 0; s < stepsPerEpoch; s++, step++)
            {
                for (int r = 0; r < batch; r++)
                {
                    int index = order[s * batch + r];
                    train.Images.AsSpan(index * train.Features, train.Features).CopyTo(inputs.AsSpan(r * train.Features));
                    labels[r] = train.Labels[index];
                }

                // Cosine decay from the peak to 1 % of it over the whole run.
                optimizer.LearningRate = peakLearningRate * (0.01 + 0.99 * 0.5 * (1 + Math.Cos(Math.PI * step / totalSteps)));
                lossSum += gpu is null ? model.TrainStep(inputs, labels, optimizer) : gpu.TrainStep(inputs, labels, optimizer);
                if (s % 20 == 0 || s == stepsPerEpoch - 1)
                {
                    double rate = (s + 1) * batch / epochClock.Elapsed.TotalSeconds;
                    Console.Write($"\repoch {epoch}/{epochs}  step {s + 1,4}/{stepsPerEpoch}  loss {lossSum / (s + 1):F4}  {rate,7:F0} samples/s  ");
                }
            }

            double seconds = epochClock.Elapsed.TotalSeconds;
            if (gpu is null) model.Predict(test.Images, logits);
            else gpu.Predict(test.Images, logits);
            accuracy = Accuracy(logits, test.Labels);
            Console.WriteLine($"\repoch {epoch,2}/{epochs}  train loss {lossSum / stepsPerEpoch:F4}  test accuracy {accuracy:F4}  {stepsPerEpoch * batch / seconds:F0} samples/s  ({seconds:F1} s)          ");
        }

        if (gpu is not null)
        {
            // The trained parameters live on the device: bring them back into the model before saving.
            float[] parameters = new float[FashionMlp.Engine<float>.ParameterRegion];
            gpu.Session.Download(parameters, 0);
            parameters.CopyTo(model.Compiled.Parameters);
            gpu.Dispose();
        }

        model.Save(checkpoint);
        Console.WriteLine($"final test accuracy {accuracy:F4} after {epochs} epochs in {clock.Elapsed.TotalSeconds:F0} s; checkpoint saved to {checkpoint}");
        return 0;
    }

    /// <summary>Per-pixel standardisation with the training set's global mean and deviation (0.2860, 0.3530).</summary>
    private static void Standardize(float[] images)
    {
        const float mean = 0.2860f, deviation = 0.3530f;
        for (int i = 0; i < images.Length; i++) images[i] = (images[i] - mean) / deviation;
    }

    private static double Accuracy(float[] logits, int[] labels)
    {
        int correct = 0;
        int classes = FashionMlp.OutputFeatures;
        for (int r = 0; r < labels.Length; r++)
        {
            var row = logits.AsSpan(r * classes, classes);
            int best = 0;
            for (int c = 1; c < classes; c++)
                if (row[c] > row[best]) best = c;
            if (best == labels[r]) correct++;
        }

        return (double)correct / labels.Length;
    }
}
