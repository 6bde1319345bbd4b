using Dsl;

namespace Dsl.Tests.EndToEnd;

/// <summary>Causal attention with ALiBi instead of position embeddings, three heads (a count that is not a power of
/// two, so the slopes interleave), then a LayerNorm and a head.</summary>
[Model(Batch = 2, Input = 4, Sequence = 6)]
public partial class AlibiNet
{
    [Dense(Out = 9)] public partial Tensor In(Tensor x);
    [Attention(Heads = 3, Causal = true, Alibi = true)] public partial Tensor Attend(Tensor x);
    [LayerNorm] public partial Tensor Norm(Tensor x);
    [Dense(Out = 3)] public partial Tensor Head(Tensor x);

    public Tensor Forward(Tensor x) => Head(Norm(Attend(In(x))));

    [Loss] public Scalar Loss(Tensor x, Labels y) => Ops.SoftmaxCrossEntropy(Forward(x), y);
}

/// <summary>The same model without ALiBi: the tests show the bias changes what the generated code computes.</summary>
[Model(Batch = 2, Input = 4, Sequence = 6)]
public partial class AlibiNetPlain
{
    [Dense(Out = 9)] public partial Tensor In(Tensor x);
    [Attention(Heads = 3, Causal = true)] public partial Tensor Attend(Tensor x);
    [LayerNorm] public partial Tensor Norm(Tensor x);
    [Dense(Out = 3)] public partial Tensor Head(Tensor x);

    public Tensor Forward(Tensor x) => Head(Norm(Attend(In(x))));

    [Loss] public Scalar Loss(Tensor x, Labels y) => Ops.SoftmaxCrossEntropy(Forward(x), y);
}
