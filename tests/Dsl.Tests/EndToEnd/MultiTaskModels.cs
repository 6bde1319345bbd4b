using Dsl;

namespace Dsl.Tests.EndToEnd;

// Two heads on one trunk: a 4-class classifier (Forward) and a 3-value regression head, trained by
// Ops.MultiTask with each weighting. Same layers in every model, so one seed gives the same parameters.
// The loss calls Forward(x) and Box(Shared(x)): the shared trunk is one node (computed once).

#pragma warning disable DSL320 // equal-weight CE + MSE is exactly what the Sum test model is for

[Model(Batch = 6, Input = 5)]
public partial class MultiTaskSumNet
{
    [Dense(Out = 7)] public partial Tensor Hidden(Tensor x);
    [Tanh] public partial Tensor Act(Tensor x);
    [Dense(Out = 4)] public partial Tensor Classes(Tensor h);
    [Dense(Out = 3)] public partial Tensor Box(Tensor h);

    public Tensor Shared(Tensor x) => Act(Hidden(x));
    public Tensor Forward(Tensor x) => Classes(Shared(x));

    [Loss] public Scalar Loss(Tensor x, Labels y, Tensor box) =>
        Ops.MultiTask(TaskWeighting.Sum, Ops.SoftmaxCrossEntropy(Forward(x), y), Ops.MeanSquaredError(Box(Shared(x)), box));
}

#pragma warning restore DSL320

[Model(Batch = 6, Input = 5)]
public partial class MultiTaskWeightsNet
{
    [Dense(Out = 7)] public partial Tensor Hidden(Tensor x);
    [Tanh] public partial Tensor Act(Tensor x);
    [Dense(Out = 4)] public partial Tensor Classes(Tensor h);
    [Dense(Out = 3)] public partial Tensor Box(Tensor h);

    public Tensor Shared(Tensor x) => Act(Hidden(x));
    public Tensor Forward(Tensor x) => Classes(Shared(x));

    [Loss] public Scalar Loss(Tensor x, Labels y, Tensor box) =>
        Ops.MultiTask([0.3, 2.5], Ops.SoftmaxCrossEntropy(Forward(x), y), Ops.MeanSquaredError(Box(Shared(x)), box));
}

[Model(Batch = 6, Input = 5)]
public partial class MultiTaskInitialNet
{
    [Dense(Out = 7)] public partial Tensor Hidden(Tensor x);
    [Tanh] public partial Tensor Act(Tensor x);
    [Dense(Out = 4)] public partial Tensor Classes(Tensor h);
    [Dense(Out = 3)] public partial Tensor Box(Tensor h);

    public Tensor Shared(Tensor x) => Act(Hidden(x));
    public Tensor Forward(Tensor x) => Classes(Shared(x));

    [Loss] public Scalar Loss(Tensor x, Labels y, Tensor box) =>
        Ops.MultiTask(TaskWeighting.InitialLoss, Ops.SoftmaxCrossEntropy(Forward(x), y), Ops.MeanSquaredError(Box(Shared(x)), box));
}

[Model(Batch = 6, Input = 5)]
public partial class MultiTaskLogSumNet
{
    [Dense(Out = 7)] public partial Tensor Hidden(Tensor x);
    [Tanh] public partial Tensor Act(Tensor x);
    [Dense(Out = 4)] public partial Tensor Classes(Tensor h);
    [Dense(Out = 3)] public partial Tensor Box(Tensor h);

    public Tensor Shared(Tensor x) => Act(Hidden(x));
    public Tensor Forward(Tensor x) => Classes(Shared(x));

    [Loss] public Scalar Loss(Tensor x, Labels y, Tensor box) =>
        Ops.MultiTask(TaskWeighting.LogSum, Ops.SoftmaxCrossEntropy(Forward(x), y), Ops.MeanSquaredError(Box(Shared(x)), box));
}

[Model(Batch = 6, Input = 5)]
public partial class MultiTaskUncertaintyNet
{
    [Dense(Out = 7)] public partial Tensor Hidden(Tensor x);
    [Tanh] public partial Tensor Act(Tensor x);
    [Dense(Out = 4)] public partial Tensor Classes(Tensor h);
    [Dense(Out = 3)] public partial Tensor Box(Tensor h);

    public Tensor Shared(Tensor x) => Act(Hidden(x));
    public Tensor Forward(Tensor x) => Classes(Shared(x));

    [Loss] public Scalar Loss(Tensor x, Labels y, Tensor box) =>
        Ops.MultiTask(TaskWeighting.Uncertainty, Ops.SoftmaxCrossEntropy(Forward(x), y), Ops.MeanSquaredError(Box(Shared(x)), box));
}

/// <summary>Three tasks, two on the same labels: a focal head on the trunk (deep supervision: its prediction is
/// also the input of later layers), a flooded label-smoothed head, and a regression head; block-bodied loss.</summary>
[Model(Batch = 6, Input = 5)]
public partial class MultiTaskThreeNet
{
    [Dense(Out = 4)] public partial Tensor Early(Tensor x);
    [Tanh] public partial Tensor Act(Tensor x);
    [Dense(Out = 4)] public partial Tensor Classes(Tensor h);
    [Dense(Out = 2)] public partial Tensor Box(Tensor h);

    public Tensor Forward(Tensor x) => Classes(Act(Early(x)));

    [Loss]
    public Scalar Loss(Tensor x, Labels y, Tensor box)
    {
        var early = Early(x);
        return Ops.MultiTask(TaskWeighting.LogSum,
            Ops.FocalLoss(early, y, gamma: 2),
            Ops.Flood(Ops.SoftmaxCrossEntropy(Forward(x), y, smoothing: 0.1), 0.2),
            Ops.MeanSquaredError(Box(Act(early)), box));
    }
}

/// <summary>FGM on a token model with two heads.</summary>
[Model(Batch = 4, Sequence = 3)]
public partial class MultiTaskAdversarialNet
{
    [Embedding(Vocabulary = 11, Dim = 24)]
    [Adversarial(Epsilon = 0.5)]
    public partial Tensor Words(Tensor ids);
    [Dense(Out = 6)] public partial Tensor Hidden(Tensor x);
    [Tanh] public partial Tensor Act(Tensor x);
    [Dense(Out = 3)] public partial Tensor Tags(Tensor h);
    [Dense(Out = 2)] public partial Tensor Values(Tensor h);

    public Tensor Forward(Tensor ids) => Tags(Act(Hidden(Words(ids))));

    [Loss] public Scalar Loss(Tensor ids, Labels tags, Tensor values) =>
        Ops.MultiTask(TaskWeighting.LogSum, Ops.SoftmaxCrossEntropy(Forward(ids), tags), Ops.MeanSquaredError(Values(Act(Hidden(Words(ids)))), values));
}
