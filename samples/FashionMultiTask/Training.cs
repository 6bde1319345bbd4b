using System;
using System.Diagnostics;
using Dsl.Cuda;
using Dsl.IO;
using Dsl.Optimizers;
using Dsl.Runtime;

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
public sealed record Weighting(string Name, Func<ulong, IMultiTaskModel> Create)
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

/// <summary>A model's scores on a set: accuracy of the classifier and each task's mean loss.</summary>
/// <param name="Accuracy">Fraction of images whose largest logit is the label.</param>
/// <param name="CrossEntropy">Mean softmax cross-entropy of the classifier.</param>
/// <param name="ThumbnailMse">Mean squared error of the thumbnail head (over images and the 49 values).</param>
public readonly record struct TaskScores(double Accuracy, double CrossEntropy, double ThumbnailMse)
{
    /// <summary>Scores <paramref name="model"/> on <paramref name="set"/> (no updates, no dropout).</summary>
    public static TaskScores Of(IMultiTaskModel model, TaskData set)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(set);
        Span<double> tasks = stackalloc double[2];
        model.Evaluate(set.Inputs, set.Labels, set.Thumbnails, tasks);
        var logits = new float[set.Count * Dsl.IO.FashionMnist.ClassCount];
        model.Predict(set.Inputs, logits);
        int correct = 0;
        for (int r = 0; r < set.Count; r++)
        {
            ReadOnlySpan<float> row = logits.AsSpan(r * Dsl.IO.FashionMnist.ClassCount, Dsl.IO.FashionMnist.ClassCount);
            int best = 0;
            for (int c = 1; c < row.Length; c++)
                if (row[c] > row[best]) best = c;
            if (best == set.Labels[r]) correct++;
        }

        return new TaskScores(set.Count == 0 ? 0 : (double)correct / set.Count, tasks[0], tasks[1]);
    }
}

/// <summary>
/// Trains one model: shuffled batches of <see cref="BatchSize"/> (the order drawn from the seed, so every
/// weighting sees the same batches in the same order; the last partial batch of an epoch is dropped),
/// AdamW at <see cref="PeakLearningRate"/> with a short linear warm-up and a cosine decay to 1 % of it. With a device
/// trainer the steps run on the GPU, and each epoch ends by downloading the parameters into the CPU model.
/// </summary>
public sealed class MultiTaskTrainer
{
    /// <summary>Images per step (the models' MaxBatch).</summary>
    public const int BatchSize = SumModel.MaxBatch;
    /// <summary>AdamW's learning rate after the warm-up.</summary>
    public const double PeakLearningRate = 1e-3;

    private readonly IMultiTaskModel _model;
    private readonly CudaTrainer? _device;
    private readonly CudaTargets? _targets;
    private readonly TaskData _train;
    private readonly AdamW _optimizer = new(PeakLearningRate);
    private readonly SeededRandom _random;
    private readonly int[] _order;
    private readonly float[] _inputs = new float[BatchSize * TaskData.ImageFeatures];
    private readonly int[] _labels = new int[BatchSize];
    private readonly float[] _thumbnails = new float[BatchSize * TaskData.ThumbnailFeatures];
    private readonly long _totalSteps;
    private long _step;

    /// <summary>Creates the trainer for <paramref name="epochs"/> passes over <paramref name="train"/>; with
    /// <paramref name="device"/> (see <see cref="DeviceModels.Open"/>) the steps run on the GPU.</summary>
    /// <exception cref="ArgumentException">Fewer than <see cref="BatchSize"/> training images, or epochs below 1.</exception>
    public MultiTaskTrainer(IMultiTaskModel model, TaskData train, int epochs, ulong seed, CudaTrainer? device = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(train);
        if (train.Count < BatchSize)
            throw new ArgumentException($"{train.Count} training images: at least one batch of {BatchSize} is needed", nameof(train));
        ArgumentOutOfRangeException.ThrowIfLessThan(epochs, 1);
        _model = model;
        _device = device;
        _targets = device?.CreateTargets();
        _train = train;
        _random = new SeededRandom(seed);
        _order = new int[train.Count];
        for (int i = 0; i < _order.Length; i++) _order[i] = i;
        _totalSteps = (long)epochs * StepsPerEpoch;
    }

    /// <summary>Each task's effective weight ∂L/∂L_i in the last training step (from the device when training there).</summary>
    public ReadOnlySpan<double> TaskWeights => _device is null ? _model.TaskWeights : _device.TaskWeights;

    /// <summary>Steps per pass over the training set.</summary>
    public int StepsPerEpoch => _train.Count / BatchSize;

    /// <summary>Steps of the warm-up: 5 % of the run.</summary>
    public long WarmupSteps => _totalSteps / 20;

    /// <summary>Seconds spent in training steps so far (batch copies included, evaluation excluded).</summary>
    public double TrainingSeconds { get; private set; }

    /// <summary>One pass over the training set in a fresh shuffled order; <paramref name="progress"/>, if given,
    /// receives (steps done, mean combined loss so far) every 50 steps and at the end. Returns the mean combined loss.
    /// On the device, the trained parameters are downloaded into the model at the end (so it can be evaluated).</summary>
    public double RunEpoch(Action<int, double>? progress = null)
    {
        _random.Shuffle(_order);
        long start = Stopwatch.GetTimestamp();
        double sum = 0;
        int steps = StepsPerEpoch;
        for (int s = 0; s < steps; s++, _step++)
        {
            for (int r = 0; r < BatchSize; r++)
            {
                int index = _order[(s * BatchSize) + r];
                _train.Inputs.AsSpan(index * TaskData.ImageFeatures, TaskData.ImageFeatures).CopyTo(_inputs.AsSpan(r * TaskData.ImageFeatures));
                _train.Thumbnails.AsSpan(index * TaskData.ThumbnailFeatures, TaskData.ThumbnailFeatures).CopyTo(_thumbnails.AsSpan(r * TaskData.ThumbnailFeatures));
                _labels[r] = _train.Labels[index];
            }

            _optimizer.LearningRate = LearningRateSchedule.WarmupCosine(_step, WarmupSteps, _totalSteps, PeakLearningRate, PeakLearningRate / 100);
            if (_device is null)
            {
                sum += _model.TrainStep(_inputs, _labels, _thumbnails, _optimizer);
            }
            else
            {
                _targets!.SetLabels("y", _labels).SetTensor("thumb", _thumbnails);
                sum += _device.TrainStep(_inputs, _targets, _optimizer);
            }

            if (progress is not null && ((s + 1) % 50 == 0 || s == steps - 1))
            {
                TrainingSeconds += Stopwatch.GetElapsedTime(start).TotalSeconds;
                progress(s + 1, sum / (s + 1));
                start = Stopwatch.GetTimestamp();
            }
        }

        TrainingSeconds += Stopwatch.GetElapsedTime(start).TotalSeconds;
        _device?.Session.Download(DeviceModels.Parameters(_model), 0);
        return sum / steps;
    }
}
