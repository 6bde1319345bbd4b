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
