using Dsl;

namespace Dsl.Tests.EndToEnd;

/// <summary>A token classifier trained with FGM on its embedding table (no dropout, so a pass is deterministic).</summary>
[Model(Batch = 2, Sequence = 4)]
public partial class AdversarialTagger
{
    [Embedding(Vocabulary = 6, Dim = 5)]
    [Adversarial(Epsilon = 0.5)]
    public partial Tensor Tokens(Tensor ids);
    [Dense(Out = 7)] public partial Tensor Hidden(Tensor x);
    [Tanh] public partial Tensor Act(Tensor x);
    [Dense(Out = 3)] public partial Tensor Head(Tensor x);

    public Tensor Forward(Tensor ids) => Head(Act(Hidden(Tokens(ids))));

    [Loss] public Scalar Loss(Tensor ids, Labels y) => Ops.SoftmaxCrossEntropy(Forward(ids), y);
}

/// <summary>The same model without [Adversarial]: the reference for the clean and perturbed passes.</summary>
[Model(Batch = 2, Sequence = 4)]
public partial class PlainTagger
{
    [Embedding(Vocabulary = 6, Dim = 5)] public partial Tensor Tokens(Tensor ids);
    [Dense(Out = 7)] public partial Tensor Hidden(Tensor x);
    [Tanh] public partial Tensor Act(Tensor x);
    [Dense(Out = 3)] public partial Tensor Head(Tensor x);

    public Tensor Forward(Tensor ids) => Head(Act(Hidden(Tokens(ids))));

    [Loss] public Scalar Loss(Tensor ids, Labels y) => Ops.SoftmaxCrossEntropy(Forward(ids), y);
}

/// <summary>A classifier whose hidden Dense layer is spectrally normalised (and used twice, so its
/// gradient accumulates over two GEMMs before the spectral backward).</summary>
[Model(Batch = 3, Input = 5)]
public partial class SpectralClassifier
{
    [Dense(Out = 7, SpectralNorm = true)] public partial Tensor Hidden(Tensor x);
    [Tanh] public partial Tensor Act(Tensor x);
    [Dense(Out = 5, SpectralNorm = true, Bias = false)] public partial Tensor Square(Tensor x);
    [Dense(Out = 3)] public partial Tensor Head(Tensor x);

    public Tensor Forward(Tensor x) => Head(Act(Hidden(Square(Act(Hidden(x))) * 0.5)));

    [Loss] public Scalar Loss(Tensor x, Labels y) => Ops.SoftmaxCrossEntropy(Forward(x), y);
}
