using System;
using Dsl;
using Dsl.Cuda;
using Dsl.IO;
using Dsl.Optimizers;
using Dsl.Training;

namespace FashionMultiTask;

/// <summary>
/// A Fashion-MNIST split as the two tasks see it: standardized images for the input, the class labels, and
/// each image's 7×7 thumbnail (the 4×4 averages of the raw pixels in [0, 1]) as the regression target.
/// </summary>
/// <remarks>
/// The thumbnails are kept in [0, 1] on purpose (not standardized): their mean squared error starts near
/// 0.1–0.2 while the 10-class cross-entropy starts near ln 10 ≈ 2.3, an order of magnitude apart, which is
/// what the weightings are meant to deal with.
/// </remarks>
public sealed class TaskData
{
    /// <summary>Side of a Fashion-MNIST image.</summary>
    public const int ImageSide = 28;
    /// <summary>Side of the pooling window.</summary>
    public const int Pool = 4;
    /// <summary>Side of the thumbnail (28 / 4).</summary>
    public const int ThumbnailSide = ImageSide / Pool;
    /// <summary>Values per thumbnail (the regression head's width).</summary>
    public const int ThumbnailFeatures = ThumbnailSide * ThumbnailSide;
    /// <summary>Values per image.</summary>
    public const int ImageFeatures = ImageSide * ImageSide;

    // The training set's global pixel mean and deviation (as in the FashionMnist sample).
    private const float Mean = 0.2860f, Deviation = 0.3530f;

    private TaskData(float[] inputs, int[] labels, float[] thumbnails)
    {
        Inputs = inputs;
        Labels = labels;
        Thumbnails = thumbnails;
    }

    /// <summary>[Count, 784] standardized pixels, (p − 0.2860)/0.3530.</summary>
    public float[] Inputs { get; }

    /// <summary>[Count] class labels in [0, 10).</summary>
    public int[] Labels { get; }

    /// <summary>[Count, 49] thumbnails: the mean of each 4×4 block of the raw pixels, in [0, 1].</summary>
    public float[] Thumbnails { get; }

    /// <summary>Number of images.</summary>
    public int Count => Labels.Length;

    /// <summary>The images as the trainer takes them: the inputs, and the targets of both tasks by their [Loss]
    /// parameter names ("y": the labels, "thumb": the thumbnails); the arrays are not copied.</summary>
    public TaskDataset<float> ToDataset() => new ArrayTaskDataset<float>(Inputs, ImageFeatures,
        TaskTargets.Of(Count).Add(MultiTaskTraining.Classes, Labels, 1).Add(MultiTaskTraining.Thumbnail, Thumbnails, ThumbnailFeatures));

    /// <summary>The first <paramref name="count"/> images of <paramref name="set"/> (all of them by default);
    /// <paramref name="set"/> is left unchanged.</summary>
    /// <exception cref="ArgumentException">The images are not 28×28, or <paramref name="count"/> is out of range.</exception>
    public static TaskData From(LabelledImages set, int count = -1)
    {
        ArgumentNullException.ThrowIfNull(set);
        if (set.Features != ImageFeatures)
            throw new ArgumentException($"expected 28×28 images ({ImageFeatures} values), got {set.Features} values per image", nameof(set));
        if (count < 0) count = set.Count;
        if (count > set.Count)
            throw new ArgumentException($"count {count} is more than the {set.Count} images of the set", nameof(count));

        var inputs = new float[count * ImageFeatures];
        var thumbnails = new float[count * ThumbnailFeatures];
        for (int i = 0; i < count; i++)
        {
            ReadOnlySpan<float> image = set.Images.AsSpan(i * ImageFeatures, ImageFeatures);
            Thumbnail(image, thumbnails.AsSpan(i * ThumbnailFeatures, ThumbnailFeatures));
            Span<float> input = inputs.AsSpan(i * ImageFeatures, ImageFeatures);
            for (int p = 0; p < ImageFeatures; p++) input[p] = (image[p] - Mean) / Deviation;
        }

        return new TaskData(inputs, set.Labels.AsSpan(0, count).ToArray(), thumbnails);
    }

    /// <summary>thumb[r, c] = mean of image[4r .. 4r + 3, 4c .. 4c + 3].</summary>
    public static void Thumbnail(ReadOnlySpan<float> image, Span<float> thumbnail)
    {
        for (int r = 0; r < ThumbnailSide; r++)
        {
            for (int c = 0; c < ThumbnailSide; c++)
            {
                float sum = 0;
                for (int dr = 0; dr < Pool; dr++)
                    for (int dc = 0; dc < Pool; dc++)
                        sum += image[((r * Pool) + dr) * ImageSide + (c * Pool) + dc];
                thumbnail[(r * ThumbnailSide) + c] = sum / (Pool * Pool);
            }
        }
    }
}

/// <summary>One weighting of the comparison: its name and how to create its model from a seed.</summary>
/// <param name="Name">The <c>TaskWeighting</c> member the model uses.</param>
/// <param name="Create">Creates the model with parameters initialised from the seed.</param>
public sealed record Weighting(string Name, Func<ulong, IMultiTaskModel<float>> Create)
{
    /// <summary>The four weightings in the order the sample runs them.</summary>
    public static readonly Weighting[] All =
    [
        new("Sum", seed => new SumModel(seed)),
        new("InitialLoss", seed => new InitialLossModel(seed)),
        new("LogSum", seed => new LogSumModel(seed)),
        new("Uncertainty", seed => new UncertaintyModel(seed)),
    ];
}

/// <summary>
/// How the sample trains each model with <see cref="Trainer"/>: shuffled batches of <see cref="BatchSize"/> (epoch
/// e's order drawn from (seed, e), so every weighting sees the same batches in the same order; an epoch's last
/// partial batch is dropped), AdamW at <see cref="PeakLearningRate"/> with a linear warm-up over the first 5 % of the
/// schedule and a cosine decay to 1 % of it, evaluated on the test set after every epoch: the combined loss, each
/// task's loss ("y_loss": cross-entropy, "thumb_loss": thumbnail MSE) and the classifier's accuracy.
/// </summary>
public static class MultiTaskTraining
{
    /// <summary>Images per step (the models' MaxBatch).</summary>
    public const int BatchSize = SumModel.MaxBatch;
    /// <summary>AdamW's learning rate after the warm-up.</summary>
    public const double PeakLearningRate = 1e-3;
    /// <summary>The classification task's target (the [Loss] parameter).</summary>
    public const string Classes = "y";
    /// <summary>The thumbnail task's target (the [Loss] parameter).</summary>
    public const string Thumbnail = "thumb";

    /// <summary>The learning rate at each step of a schedule spanning <paramref name="scheduleSteps"/> steps (the
    /// steps of the default run): a shorter run is a prefix of it, so it can be resumed into a longer one.</summary>
    public static Func<long, double> Schedule(long scheduleSteps) =>
        step => LearningRateSchedule.WarmupCosine(step, scheduleSteps / 20, scheduleSteps, PeakLearningRate, PeakLearningRate / 100);

    /// <summary>A trainer of <paramref name="model"/> with the sample's optimizer, schedule and accuracy metric;
    /// <paramref name="options"/> gives the rest (epochs, seed, run folder, checkpoints).</summary>
    public static Trainer Create(IMultiTaskModel<float> model, TrainerOptions options, long scheduleSteps)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        options.LearningRate = Schedule(scheduleSteps);
        var trainer = new Trainer(model, new AdamW(PeakLearningRate), options);
        trainer.AddTaskMetric("accuracy", (outputs, targets) => Trainer.Accuracy(outputs, targets.Labels(Classes), model.OutputFeatures));
        return trainer;
    }

    /// <summary>A training step on the GPU through <paramref name="device"/> (see <see cref="DeviceModels.Open"/>):
    /// sets the trainer's step, per-task losses and download of the parameters before each evaluation.</summary>
    public static TaskStep<float> OnDevice(Trainer trainer, CudaTrainer device)
    {
        ArgumentNullException.ThrowIfNull(trainer);
        ArgumentNullException.ThrowIfNull(device);
        CudaTargets targets = device.CreateTargets();
        trainer.LastTaskLosses = () => device.TaskLosses;
        trainer.BeforeEvaluate = () => device.Session.Download(trainer.Model.Engine.Parameters, 0);
        return (inputs, batch, optimizer) =>
        {
            targets.SetLabels(Classes, batch.Labels(Classes)).SetTensor(Thumbnail, batch.Values(Thumbnail));
            return (float)device.TrainStep(inputs, targets, optimizer);
        };
    }
}
