using Dsl;

namespace Dsl.Tests.EndToEnd;

// One small classifier per loss (same layers, so the same seed gives the same parameters), and two
// pooled sentence-pair encoders: the models the loss gradient checks run through the generator.

[Model(Batch = 6, Input = 5)]
public partial class FocalNet
{
    [Dense(Out = 7)] public partial Tensor Hidden(Tensor x);
    [Tanh] public partial Tensor Act(Tensor x);
    [Dense(Out = 4)] public partial Tensor Classes(Tensor x);

    public Tensor Forward(Tensor x) => Classes(Act(Hidden(x)));

    [Loss] public Scalar Loss(Tensor x, Labels y) => Ops.FocalLoss(Forward(x), y, gamma: 2, alpha: 0.5);
}

/// <summary>γ &lt; 1: the stable form of the focal gradient (q^(γ−1) is unbounded as p_t → 1).</summary>
[Model(Batch = 6, Input = 5)]
public partial class FocalHalfNet
{
    [Dense(Out = 7)] public partial Tensor Hidden(Tensor x);
    [Tanh] public partial Tensor Act(Tensor x);
    [Dense(Out = 4)] public partial Tensor Classes(Tensor x);

    public Tensor Forward(Tensor x) => Classes(Act(Hidden(x)));

    [Loss] public Scalar Loss(Tensor x, Labels y) => Ops.FocalLoss(Forward(x), y, 0.5);
}

[Model(Batch = 6, Input = 5)]
public partial class SmoothedNet
{
    [Dense(Out = 7)] public partial Tensor Hidden(Tensor x);
    [Tanh] public partial Tensor Act(Tensor x);
    [Dense(Out = 4)] public partial Tensor Classes(Tensor x);

    public Tensor Forward(Tensor x) => Classes(Act(Hidden(x)));

    [Loss] public Scalar Loss(Tensor x, Labels y) => Ops.SoftmaxCrossEntropy(Forward(x), y, smoothing: 0.1);
}

[Model(Batch = 6, Input = 5)]
public partial class AdjustedNet
{
    [Dense(Out = 7)] public partial Tensor Hidden(Tensor x);
    [Tanh] public partial Tensor Act(Tensor x);
    [Dense(Out = 4)] public partial Tensor Classes(Tensor x);

    public Tensor Forward(Tensor x) => Classes(Act(Hidden(x)));

    [Loss] public Scalar Loss(Tensor x, Labels y) => Ops.LogitAdjustedCrossEntropy(Forward(x), y, tau: 1, priors: new[] { 0.5, 0.25, 0.15, 0.1 });
}

/// <summary>Priors not declared: uniform (plain cross-entropy) until set at run time.</summary>
[Model(Batch = 6, Input = 5)]
public partial class AdjustedAtRunTimeNet
{
    [Dense(Out = 7)] public partial Tensor Hidden(Tensor x);
    [Tanh] public partial Tensor Act(Tensor x);
    [Dense(Out = 4)] public partial Tensor Classes(Tensor x);

    public Tensor Forward(Tensor x) => Classes(Act(Hidden(x)));

    [Loss] public Scalar Loss(Tensor x, Labels y) => Ops.LogitAdjustedCrossEntropy(Forward(x), y, 1.5);
}

[Model(Batch = 6, Input = 5)]
public partial class TaiLrNet
{
    [Dense(Out = 7)] public partial Tensor Hidden(Tensor x);
    [Tanh] public partial Tensor Act(Tensor x);
    [Dense(Out = 4)] public partial Tensor Classes(Tensor x);

    public Tensor Forward(Tensor x) => Classes(Act(Hidden(x)));

    [Loss] public Scalar Loss(Tensor x, Labels y) => Ops.TaiLr(Forward(x), y, gamma: 0.5, minWeight: 0.1);
}

/// <summary>Plain cross-entropy: the reference the flooded models' gradients are compared with.</summary>
[Model(Batch = 6, Input = 5)]
public partial class PlainNet
{
    [Dense(Out = 7)] public partial Tensor Hidden(Tensor x);
    [Tanh] public partial Tensor Act(Tensor x);
    [Dense(Out = 4)] public partial Tensor Classes(Tensor x);

    public Tensor Forward(Tensor x) => Classes(Act(Hidden(x)));

    [Loss] public Scalar Loss(Tensor x, Labels y) => Ops.SoftmaxCrossEntropy(Forward(x), y);
}

/// <summary>Flood level far below the initial loss (≈ ln 4): plain descent.</summary>
[Model(Batch = 6, Input = 5)]
public partial class FloodBelowNet
{
    [Dense(Out = 7)] public partial Tensor Hidden(Tensor x);
    [Tanh] public partial Tensor Act(Tensor x);
    [Dense(Out = 4)] public partial Tensor Classes(Tensor x);

    public Tensor Forward(Tensor x) => Classes(Act(Hidden(x)));

    [Loss] public Scalar Loss(Tensor x, Labels y) => Ops.Flood(Ops.SoftmaxCrossEntropy(Forward(x), y), 0.05);
}

/// <summary>Flood level above the initial loss: the gradient flips (ascent).</summary>
[Model(Batch = 6, Input = 5)]
public partial class FloodAboveNet
{
    [Dense(Out = 7)] public partial Tensor Hidden(Tensor x);
    [Tanh] public partial Tensor Act(Tensor x);
    [Dense(Out = 4)] public partial Tensor Classes(Tensor x);

    public Tensor Forward(Tensor x) => Classes(Act(Hidden(x)));

#pragma warning disable DSL314 // the level is above the initial loss on purpose: the test checks the ascent side
    [Loss] public Scalar Loss(Tensor x, Labels y) => Ops.Flood(Ops.SoftmaxCrossEntropy(Forward(x), y), 4);
#pragma warning restore DSL314
}

/// <summary>Flooding wraps any loss: here focal.</summary>
[Model(Batch = 6, Input = 5)]
public partial class FloodedFocalNet
{
    [Dense(Out = 7)] public partial Tensor Hidden(Tensor x);
    [Tanh] public partial Tensor Act(Tensor x);
    [Dense(Out = 4)] public partial Tensor Classes(Tensor x);

    public Tensor Forward(Tensor x) => Classes(Act(Hidden(x)));

#pragma warning disable DSL314 // the level is above the initial loss on purpose: the test checks the ascent side
    [Loss] public Scalar Loss(Tensor x, Labels y) => Ops.Flood(Ops.FocalLoss(Forward(x), y), 3);
#pragma warning restore DSL314
}

/// <summary>Token ids → embedding → Dense/tanh per token → mean over non-pad positions → projection,
/// trained with CoSENT on interleaved pairs (examples 2i and 2i + 1).</summary>
[Model(Batch = 8, Sequence = 4)]
public partial class CoSentPairs
{
    [Embedding(Vocabulary = 11, Dim = 6)] public partial Tensor Tokens(Tensor ids);
    [Dense(Out = 6)] public partial Tensor Mix(Tensor x);
    [Tanh] public partial Tensor Act(Tensor x);
    [MeanPool(Pad = 0)] public partial Tensor Pool(Tensor x, Tensor ids);
    [Dense(Out = 5)] public partial Tensor Project(Tensor x);

    public Tensor Forward(Tensor ids) => Project(Pool(Act(Mix(Tokens(ids))), ids));

    [Loss] public Scalar Loss(Tensor pairs, Scores s) => Ops.CoSent(Forward(pairs), s, lambda: 20);
}

/// <summary>The same encoder with the Sentence-BERT regression objective.</summary>
[Model(Batch = 8, Sequence = 4)]
public partial class CosineMsePairs
{
    [Embedding(Vocabulary = 11, Dim = 6)] public partial Tensor Tokens(Tensor ids);
    [Dense(Out = 6)] public partial Tensor Mix(Tensor x);
    [Tanh] public partial Tensor Act(Tensor x);
    [MeanPool(Pad = 0)] public partial Tensor Pool(Tensor x, Tensor ids);
    [Dense(Out = 5)] public partial Tensor Project(Tensor x);

    public Tensor Forward(Tensor ids) => Project(Pool(Act(Mix(Tokens(ids))), ids));

    [Loss] public Scalar Loss(Tensor pairs, Scores s) => Ops.CosineMse(Forward(pairs), s);
}

/// <summary>Sequence classification: token ids → embedding → Dense/tanh per token → mean over the non-pad
/// positions → 3 class logits per sequence, trained with softmax cross-entropy on one label per sequence.</summary>
[Model(Batch = 8, Sequence = 5)]
public partial class PooledClassifier
{
    [Embedding(Vocabulary = 13, Dim = 6)] public partial Tensor Tokens(Tensor ids);
    [Dense(Out = 6)] public partial Tensor Mix(Tensor x);
    [Tanh] public partial Tensor Act(Tensor x);
    [MeanPool(Pad = 0)] public partial Tensor Pool(Tensor x, Tensor ids);
    [Dense(Out = 3)] public partial Tensor Classes(Tensor x);

    public Tensor Forward(Tensor ids) => Classes(Pool(Act(Mix(Tokens(ids))), ids));

    [Loss] public Scalar Loss(Tensor ids, Labels y) => Ops.SoftmaxCrossEntropy(Forward(ids), y);
}

/// <summary>The same encoder with two regression values per sequence (mean squared error), and a layer
/// after the pool that is not the last.</summary>
[Model(Batch = 8, Sequence = 5)]
public partial class PooledRegressor
{
    [Embedding(Vocabulary = 13, Dim = 6)] public partial Tensor Tokens(Tensor ids);
    [Dense(Out = 6)] public partial Tensor Mix(Tensor x);
    [Tanh] public partial Tensor Act(Tensor x);
    [MeanPool(Pad = 0)] public partial Tensor Pool(Tensor x, Tensor ids);
    [Dense(Out = 4)] public partial Tensor Head(Tensor x);
    [Gelu] public partial Tensor HeadAct(Tensor x);
    [Dense(Out = 2)] public partial Tensor Values(Tensor x);

    public Tensor Forward(Tensor ids) => Values(HeadAct(Head(Pool(Act(Mix(Tokens(ids))), ids))));

    [Loss] public Scalar Loss(Tensor ids, Tensor t) => Ops.MeanSquaredError(Forward(ids), t);
}

/// <summary>Sequence classification with a focal loss under flooding: any loss runs on the pooled rows.</summary>
[Model(Batch = 8, Sequence = 5)]
public partial class PooledFocal
{
    [Embedding(Vocabulary = 13, Dim = 6)] public partial Tensor Tokens(Tensor ids);
    [Dense(Out = 6)] public partial Tensor Mix(Tensor x);
    [Tanh] public partial Tensor Act(Tensor x);
    [MeanPool(Pad = 0)] public partial Tensor Pool(Tensor x, Tensor ids);
    [Dense(Out = 3)] public partial Tensor Classes(Tensor x);

    public Tensor Forward(Tensor ids) => Classes(Pool(Act(Mix(Tokens(ids))), ids));

    [Loss] public Scalar Loss(Tensor ids, Labels y) => Ops.Flood(Ops.FocalLoss(Forward(ids), y), 0.1);
}
