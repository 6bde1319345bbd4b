using System;
using Dsl.IO;
using Dsl.Optimizers;
using Dsl.Runtime;
using Dsl.Training;

namespace FashionMnist;

/// <summary>
/// Trains <see cref="FashionMlp"/> on Fashion-MNIST (Debian package dataset-fashion-mnist) with AdamW
/// and a cosine learning-rate decay, through <see cref="Trainer"/>: a live progress line, per-epoch
/// train loss, test loss and accuracy, a run folder (--out) and full-state checkpoints (--checkpoint,
/// --resume). --device cuda trains with the generated CUDA program (docs/cuda.md) and fails with
/// what is missing when no GPU is usable: there is no silent fallback. --learning-rate sets the peak;
/// one that blows the run up stops it through the model's non-finite guard (exit code 3, nothing saved).
/// </summary>
internal static class Program
{
    private static int Main(string[] args)
    {
        var cli = new TrainingCommandLine(
            "Trains a 784-1024-1024-10 ReLU MLP with dropout on Fashion-MNIST (AdamW, cosine decay) and reports the test accuracy.",
            new TrainerOptions { Epochs = 15, Seed = 1, OutputDirectory = "runs/fashion-mnist", ValidationName = "test" },
            defaultData: Dsl.IO.FashionMnist.DefaultDirectory);
        var decayEpochs = cli.Add("--decay-epochs", 15, "Epochs the cosine decay of the learning rate spans, whatever --epochs is (a shorter run is a prefix of the full one, so it can be resumed into it)");
        var device = cli.Add("--device", "cpu", "cpu, or cuda to train with the generated CUDA program", "cpu", "cuda");
        var learningRate = cli.Add("--learning-rate", 1e-3, "Peak learning rate of the cosine decay (AdamW)");
        if (!cli.TryParse(args, out int exit)) return exit;
        TrainerOptions options = cli.Options;
        bool cuda = cli.Get(device) == "cuda";
        if (cuda && (options.CheckpointPath is not null || options.ResumeFrom is not null))
        {
            Console.Error.WriteLine("--device cuda keeps the optimizer state on the GPU, which full-state checkpoints do not read yet: train on the CPU to use --checkpoint or --resume.");
            return 2;
        }

        LabelledImages train, test;
        try
        {
            (train, test) = Dsl.IO.FashionMnist.Load(cli.Get(cli.Data)!);
        }
        catch (DatasetNotFoundException e)
        {
            Console.Error.WriteLine(e.Message);
            return 1;
        }

        Standardize(train.Images);
        Standardize(test.Images);
        Console.WriteLine($"Fashion-MNIST: {train.Count} training and {test.Count} test images; model {nameof(FashionMlp)} with {FashionMlp.ParameterCount:N0} parameters; {WorkerPool.Shared.Threads} thread(s)");

        var model = new FashionMlp(options.Seed);
        Dsl.Cuda.CudaTrainer? gpu = null;
        if (cuda)
        {
            try
            {
                gpu = new Dsl.Cuda.CudaTrainer(FashionMlp.CudaProgram, model.Compiled.Arena, FashionMlp.Engine<float>.InputOffset, FashionMlp.InputFeatures, FashionMlp.Engine<float>.OutputOffset, options.Seed);
            }
            catch (Dsl.Cuda.Interop.CudaUnavailableException e)
            {
                Console.Error.WriteLine($"--device cuda: {e.Message} Run without --device cuda (or with --device cpu) to train on the CPU.");
                return 1;
            }

            Console.WriteLine("training on the GPU (the generated CUDA program); evaluation on the CPU from the downloaded parameters");
        }

        long decaySteps = (long)cli.Get(decayEpochs) * (train.Count / FashionMlp.MaxBatch);
        // Cosine decay from the peak to 1 % of it over --decay-epochs (15, the default run's length).
        double peakLearningRate = cli.Get(learningRate);
        options.LearningRate = step => peakLearningRate * (0.01 + (0.99 * 0.5 * (1 + Math.Cos(Math.PI * Math.Min(step, decaySteps) / decaySteps))));
        var trainer = new Trainer(model, new AdamW(peakLearningRate, weightDecay: 0.05), options);
        trainer.LastStepSkipped = () => model.Guard.LastStepSkipped; // the progress line and metrics count skipped steps
        TrainStep<float, int>? step = null;
        if (gpu is not null)
        {
            step = (x, y, optimizer) => (float)gpu.TrainStep(x, y, optimizer);
            trainer.BeforeEvaluate = () => gpu.Session.Download(model.Compiled.Parameters, 0);
        }

        TrainingResult result;
        try
        {
            result = trainer.Fit(
                new ArrayDataset<float, int>(train.Images, train.Features, train.Labels, 1),
                new ArrayDataset<float, int>(test.Images, test.Features, test.Labels, 1),
                step);
        }
        catch (NonFiniteTrainingException e)
        {
            // Several steps in a row were NaN or ∞ (the guard skipped their updates): stop, saving nothing.
            gpu?.Dispose();
            Console.WriteLine();
            Console.Error.WriteLine(e.Message);
            return 3;
        }

        gpu?.Dispose();
        Console.WriteLine($"final test accuracy {result.LastValidation?["accuracy"] ?? double.NaN:F4} after {result.Epochs.Count} epoch(s) in {result.Elapsed.TotalSeconds:F0} s");
        ReportTimeToAccuracy(result, options.ValidationName, 0.89);
        Console.WriteLine($"memory: {ProcessMemory.Describe((long)model.Compiled.Arena.Length * sizeof(float))}");
        return 0;
    }

    /// <summary>
    /// "reached test accuracy 0.89 at epoch E after S s": the first epoch whose evaluation reached
    /// <paramref name="target"/>, S the wall time of the steps of epochs 1..E (evaluation excluded); then where
    /// the rest of Fit's wall time went (evaluations, batch staging, checkpoints, the progress line).
    /// </summary>
    private static void ReportTimeToAccuracy(TrainingResult result, string split, double target)
    {
        double steps = 0;
        Evaluation? reached = null;
        foreach (EpochSummary epoch in result.Epochs)
        {
            steps += epoch.Seconds;
            reached = result.Evaluations.Find(e => e.Split == split && e.Epoch == epoch.Epoch && e["accuracy"] >= target);
            if (reached is not null)
            {
                Console.WriteLine(FormattableString.Invariant($"reached {split} accuracy {target:F2} at epoch {epoch.Epoch} after {steps:F1} s of training steps ({reached["accuracy"]:F4})"));
                break;
            }
        }

        if (reached is null)
        {
            Console.WriteLine(FormattableString.Invariant($"{split} accuracy never reached {target:F2} in {result.Epochs.Count} epoch(s)"));
        }

        double allSteps = 0;
        foreach (EpochSummary epoch in result.Epochs) allSteps += epoch.Seconds;
        double wall = result.Elapsed.TotalSeconds;
        Console.WriteLine(FormattableString.Invariant($"time: {allSteps:F1} s in training steps of {wall:F1} s in Fit; {wall - allSteps:F1} s outside the steps (evaluations, checkpoints, start-up)"));
    }

    /// <summary>Per-pixel standardisation with the training set's global mean and deviation (0.2860, 0.3530).</summary>
    private static void Standardize(float[] images)
    {
        const float mean = 0.2860f, deviation = 0.3530f;
        for (int i = 0; i < images.Length; i++) images[i] = (images[i] - mean) / deviation;
    }
}
