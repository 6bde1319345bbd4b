using Dsl;

namespace FashionMultiTask;

/// <summary>What the trainer needs from each of the four models (every generated class implements it).</summary>
public interface IMultiTaskModel
{
    /// <summary>One optimizer step on a batch: standardized images, class labels and 7×7 thumbnails.</summary>
    float TrainStep(System.ReadOnlySpan<float> inputs, System.ReadOnlySpan<int> y, System.ReadOnlySpan<float> thumb, Dsl.Optimizers.Optimizer optimizer);

    /// <summary>The combined loss over a whole set; <paramref name="taskLosses"/> receives each task's mean
    /// (0: cross-entropy, 1: thumbnail MSE).</summary>
    float Evaluate(System.ReadOnlySpan<float> inputs, System.ReadOnlySpan<int> y, System.ReadOnlySpan<float> thumb, System.Span<double> taskLosses);

    /// <summary>The classifier's logits (Forward), one row of 10 per image.</summary>
    void Predict(System.ReadOnlySpan<float> inputs, System.Span<float> outputs);

    /// <summary>Each task's effective weight ∂L/∂L_i in the last training step (0: cross-entropy, 1: thumbnail MSE).</summary>
    System.ReadOnlySpan<double> TaskWeights { get; }
}

/// <summary>The models' device side (--device cuda): a <see cref="Dsl.Cuda.CudaTrainer"/> on each generated
/// CUDA program, and the CPU parameter region the device's parameters are downloaded into.</summary>
public static class DeviceModels
{
    /// <summary>Opens a device trainer on <paramref name="model"/>'s CUDA program with its initialised arena.</summary>
    /// <exception cref="Dsl.Cuda.Interop.CudaUnavailableException">No usable GPU; the message says what is missing.</exception>
    public static Dsl.Cuda.CudaTrainer Open(IMultiTaskModel model, ulong seed) => model switch
    {
        SumModel m => new(SumModel.CudaProgram, m.Compiled.Arena, SumModel.Engine<float>.InputOffset, SumModel.InputFeatures, SumModel.Engine<float>.OutputOffset, seed),
        InitialLossModel m => new(InitialLossModel.CudaProgram, m.Compiled.Arena, InitialLossModel.Engine<float>.InputOffset, InitialLossModel.InputFeatures, InitialLossModel.Engine<float>.OutputOffset, seed),
        LogSumModel m => new(LogSumModel.CudaProgram, m.Compiled.Arena, LogSumModel.Engine<float>.InputOffset, LogSumModel.InputFeatures, LogSumModel.Engine<float>.OutputOffset, seed),
        UncertaintyModel m => new(UncertaintyModel.CudaProgram, m.Compiled.Arena, UncertaintyModel.Engine<float>.InputOffset, UncertaintyModel.InputFeatures, UncertaintyModel.Engine<float>.OutputOffset, seed),
        _ => throw new System.ArgumentException($"no CUDA program for {model?.GetType().Name ?? "null"}", nameof(model)),
    };

    /// <summary>The CPU model's parameter region (arena offset 0, as on the device).</summary>
    public static System.Span<float> Parameters(IMultiTaskModel model) => model switch
    {
        SumModel m => m.Compiled.Parameters,
        InitialLossModel m => m.Compiled.Parameters,
        LogSumModel m => m.Compiled.Parameters,
        UncertaintyModel m => m.Compiled.Parameters,
        _ => throw new System.ArgumentException($"no parameters known for {model?.GetType().Name ?? "null"}", nameof(model)),
    };
}

// The four models below differ only in the weighting passed to Ops.MultiTask: the same layers in the same
// order, so one seed gives the same initial trunk and heads (Uncertainty adds only tasks.log_variance,
// initialised to 0). The trunk (784 → 256, ReLU) is shared; Forward is the 10-class classifier and
// Thumbnail regresses the image's 7×7 average-pooled thumbnail (49 values in [0, 1]).

#pragma warning disable DSL320 // an unweighted sum of cross-entropy and MSE is the baseline this sample compares against

/// <summary>The baseline: L = CE + MSE, whatever their scales.</summary>
[Model(Batch = 128, Input = 784)]
public partial class SumModel : IMultiTaskModel
{
    [Dense(Out = 256)] public partial Tensor Trunk(Tensor x);
    [Relu] public partial Tensor Act(Tensor x);
    [Dense(Out = 10)] public partial Tensor Classes(Tensor h);
    [Dense(Out = 49)] public partial Tensor Thumbnail(Tensor h);

    public Tensor Features(Tensor x) => Act(Trunk(x));
    public Tensor Forward(Tensor x) => Classes(Features(x));
    public System.ReadOnlySpan<double> TaskWeights => Compiled.TaskWeights;

    [Loss] public Scalar Loss(Tensor x, Labels y, Tensor thumb) =>
        Ops.MultiTask(TaskWeighting.Sum,
            Ops.SoftmaxCrossEntropy(Forward(x), y),
            Ops.MeanSquaredError(Thumbnail(Features(x)), thumb));
}

#pragma warning restore DSL320

/// <summary>L = CE/CE⁰ + MSE/MSE⁰, each task divided by its loss on the first training batch.</summary>
[Model(Batch = 128, Input = 784)]
public partial class InitialLossModel : IMultiTaskModel
{
    [Dense(Out = 256)] public partial Tensor Trunk(Tensor x);
    [Relu] public partial Tensor Act(Tensor x);
    [Dense(Out = 10)] public partial Tensor Classes(Tensor h);
    [Dense(Out = 49)] public partial Tensor Thumbnail(Tensor h);

    public Tensor Features(Tensor x) => Act(Trunk(x));
    public Tensor Forward(Tensor x) => Classes(Features(x));
    public System.ReadOnlySpan<double> TaskWeights => Compiled.TaskWeights;

    [Loss] public Scalar Loss(Tensor x, Labels y, Tensor thumb) =>
        Ops.MultiTask(TaskWeighting.InitialLoss,
            Ops.SoftmaxCrossEntropy(Forward(x), y),
            Ops.MeanSquaredError(Thumbnail(Features(x)), thumb));
}

/// <summary>L = ln CE + ln MSE: each task's gradient divided by its current loss.</summary>
[Model(Batch = 128, Input = 784)]
public partial class LogSumModel : IMultiTaskModel
{
    [Dense(Out = 256)] public partial Tensor Trunk(Tensor x);
    [Relu] public partial Tensor Act(Tensor x);
    [Dense(Out = 10)] public partial Tensor Classes(Tensor h);
    [Dense(Out = 49)] public partial Tensor Thumbnail(Tensor h);

    public Tensor Features(Tensor x) => Act(Trunk(x));
    public Tensor Forward(Tensor x) => Classes(Features(x));
    public System.ReadOnlySpan<double> TaskWeights => Compiled.TaskWeights;

    [Loss] public Scalar Loss(Tensor x, Labels y, Tensor thumb) =>
        Ops.MultiTask(TaskWeighting.LogSum,
            Ops.SoftmaxCrossEntropy(Forward(x), y),
            Ops.MeanSquaredError(Thumbnail(Features(x)), thumb));
}

/// <summary>L = Σ ½e^{−s_i}L_i + ½s_i with learned log-variances s_i (Kendall et al. 2018).</summary>
[Model(Batch = 128, Input = 784)]
public partial class UncertaintyModel : IMultiTaskModel
{
    [Dense(Out = 256)] public partial Tensor Trunk(Tensor x);
    [Relu] public partial Tensor Act(Tensor x);
    [Dense(Out = 10)] public partial Tensor Classes(Tensor h);
    [Dense(Out = 49)] public partial Tensor Thumbnail(Tensor h);

    public Tensor Features(Tensor x) => Act(Trunk(x));
    public Tensor Forward(Tensor x) => Classes(Features(x));
    public System.ReadOnlySpan<double> TaskWeights => Compiled.TaskWeights;

    [Loss] public Scalar Loss(Tensor x, Labels y, Tensor thumb) =>
        Ops.MultiTask(TaskWeighting.Uncertainty,
            Ops.SoftmaxCrossEntropy(Forward(x), y),
            Ops.MeanSquaredError(Thumbnail(Features(x)), thumb));
}
