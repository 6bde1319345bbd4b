using Dsl;

namespace FashionMultiTask;

/// <summary>The models' device side (--device cuda): a <see cref="Dsl.Cuda.CudaTrainer"/> on each generated CUDA program.</summary>
public static class DeviceModels
{
    /// <summary>Opens a device trainer on <paramref name="model"/>'s CUDA program with its initialised arena.</summary>
    /// <exception cref="Dsl.Cuda.Interop.CudaUnavailableException">No usable GPU; the message says what is missing.</exception>
    public static Dsl.Cuda.CudaTrainer Open(IMultiTaskModel<float> model, ulong seed) => model switch
    {
        SumModel m => new(SumModel.CudaProgram, m.Compiled.Arena, SumModel.Engine<float>.InputOffset, SumModel.InputFeatures, SumModel.Engine<float>.OutputOffset, seed),
        InitialLossModel m => new(InitialLossModel.CudaProgram, m.Compiled.Arena, InitialLossModel.Engine<float>.InputOffset, InitialLossModel.InputFeatures, InitialLossModel.Engine<float>.OutputOffset, seed),
        LogSumModel m => new(LogSumModel.CudaProgram, m.Compiled.Arena, LogSumModel.Engine<float>.InputOffset, LogSumModel.InputFeatures, LogSumModel.Engine<float>.OutputOffset, seed),
        UncertaintyModel m => new(UncertaintyModel.CudaProgram, m.Compiled.Arena, UncertaintyModel.Engine<float>.InputOffset, UncertaintyModel.InputFeatures, UncertaintyModel.Engine<float>.OutputOffset, seed),
        _ => throw new System.ArgumentException($"no CUDA program for {model?.GetType().Name ?? "null"}", nameof(model)),
    };
}

// The four models below differ only in the weighting passed to Ops.MultiTask: the same layers in the same
// order, so one seed gives the same initial trunk and heads (Uncertainty adds only tasks.log_variance,
// initialised to 0). Each is a Dsl.IMultiTaskModel<float> (generated), which is what Dsl.Training's
// Trainer trains. The trunk (784 → 256, ReLU) is shared; Forward is the 10-class classifier and
// Thumbnail regresses the image's 7×7 average-pooled thumbnail (49 values in [0, 1]).

#pragma warning disable DSL320 // an unweighted sum of cross-entropy and MSE is the baseline this sample compares against

/// <summary>The baseline: L = CE + MSE, whatever their scales.</summary>
[Model(Batch = 128, Input = 784)]
public partial class SumModel
{
    [Dense(Out = 256)] public partial Tensor Trunk(Tensor x);
    [Relu] public partial Tensor Act(Tensor x);
    [Dense(Out = 10)] public partial Tensor Classes(Tensor h);
    [Dense(Out = 49)] public partial Tensor Thumbnail(Tensor h);

    public Tensor Features(Tensor x) => Act(Trunk(x));
    public Tensor Forward(Tensor x) => Classes(Features(x));

    [Loss] public Scalar Loss(Tensor x, Labels y, Tensor thumb) =>
        Ops.MultiTask(TaskWeighting.Sum,
            Ops.SoftmaxCrossEntropy(Forward(x), y),
            Ops.MeanSquaredError(Thumbnail(Features(x)), thumb));
}

#pragma warning restore DSL320

/// <summary>L = CE/CE⁰ + MSE/MSE⁰, each task divided by its loss on the first training batch.</summary>
[Model(Batch = 128, Input = 784)]
public partial class InitialLossModel
{
    [Dense(Out = 256)] public partial Tensor Trunk(Tensor x);
    [Relu] public partial Tensor Act(Tensor x);
    [Dense(Out = 10)] public partial Tensor Classes(Tensor h);
    [Dense(Out = 49)] public partial Tensor Thumbnail(Tensor h);

    public Tensor Features(Tensor x) => Act(Trunk(x));
    public Tensor Forward(Tensor x) => Classes(Features(x));

    [Loss] public Scalar Loss(Tensor x, Labels y, Tensor thumb) =>
        Ops.MultiTask(TaskWeighting.InitialLoss,
            Ops.SoftmaxCrossEntropy(Forward(x), y),
            Ops.MeanSquaredError(Thumbnail(Features(x)), thumb));
}

/// <summary>L = ln CE + ln MSE: each task's gradient divided by its current loss.</summary>
[Model(Batch = 128, Input = 784)]
public partial class LogSumModel
{
    [Dense(Out = 256)] public partial Tensor Trunk(Tensor x);
    [Relu] public partial Tensor Act(Tensor x);
    [Dense(Out = 10)] public partial Tensor Classes(Tensor h);
    [Dense(Out = 49)] public partial Tensor Thumbnail(Tensor h);

    public Tensor Features(Tensor x) => Act(Trunk(x));
    public Tensor Forward(Tensor x) => Classes(Features(x));

    [Loss] public Scalar Loss(Tensor x, Labels y, Tensor thumb) =>
        Ops.MultiTask(TaskWeighting.LogSum,
            Ops.SoftmaxCrossEntropy(Forward(x), y),
            Ops.MeanSquaredError(Thumbnail(Features(x)), thumb));
}

/// <summary>L = Σ ½e^{−s_i}L_i + ½s_i with learned log-variances s_i (Kendall et al. 2018).</summary>
[Model(Batch = 128, Input = 784)]
public partial class UncertaintyModel
{
    [Dense(Out = 256)] public partial Tensor Trunk(Tensor x);
    [Relu] public partial Tensor Act(Tensor x);
    [Dense(Out = 10)] public partial Tensor Classes(Tensor h);
    [Dense(Out = 49)] public partial Tensor Thumbnail(Tensor h);

    public Tensor Features(Tensor x) => Act(Trunk(x));
    public Tensor Forward(Tensor x) => Classes(Features(x));

    [Loss] public Scalar Loss(Tensor x, Labels y, Tensor thumb) =>
        Ops.MultiTask(TaskWeighting.Uncertainty,
            Ops.SoftmaxCrossEntropy(Forward(x), y),
            Ops.MeanSquaredError(Thumbnail(Features(x)), thumb));
}
