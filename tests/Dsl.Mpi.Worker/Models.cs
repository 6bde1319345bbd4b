using Dsl;

namespace Dsl.Mpi.Worker;

/// <summary>An MLP with dropout (whose masks must follow the global row) and both fused and plain activations.</summary>
[Model(Batch = 16, Input = 12)]
public partial class DdpMlp
{
    [Dense(Out = 32)] public partial Tensor Hidden1(Tensor x);
    [Relu] public partial Tensor Act1(Tensor x);
    [Dropout(0.25)] public partial Tensor Drop(Tensor x);
    [Dense(Out = 24)] public partial Tensor Hidden2(Tensor x);
    [Gelu] public partial Tensor Act2(Tensor x);
    [Dense(Out = 5)] public partial Tensor Classes(Tensor x);

    public Tensor Forward(Tensor x) => Classes(Act2(Hidden2(Drop(Act1(Hidden1(x))))));

    [Loss] public Scalar Loss(Tensor x, Labels y) => Ops.SoftmaxCrossEntropy(Forward(x), y);
}

/// <summary>The CharGpt sample's block, smaller.</summary>
[Module]
public partial class DdpBlock
{
    [LayerNorm(Bias = false)] public partial Tensor Norm1(Tensor x);
    [Attention(Heads = 2, Causal = true, Bias = false)] public partial Tensor Attend(Tensor x);
    [LayerNorm(Bias = false)] public partial Tensor Norm2(Tensor x);
    [Dense(Out = 64, Bias = false)] public partial Tensor Up(Tensor x);
    [Gelu(Exact = true)] public partial Tensor Act(Tensor x);
    [Dense(Out = 16, Bias = false)] public partial Tensor Down(Tensor x);

    public Tensor Forward(Tensor x)
    {
        x = x + Attend(Norm1(x));
        return x + Down(Act(Up(Norm2(x))));
    }
}

/// <summary>CharGpt's shape (token and position embeddings, a [Repeat] stack of pre-LN blocks, a head tied to the
/// embedding, GPT-2 initialisation) at a size that trains in milliseconds.</summary>
[Model(Batch = 6, Sequence = 8, InitStd = 0.02)]
public partial class DdpGpt
{
    [Embedding(Vocabulary = 13, Dim = 16)] public partial Tensor Tokens(Tensor ids);
    [PositionEmbedding] public partial Tensor Positions(Tensor x);
    [Repeat(2)] public partial DdpBlock[] Blocks { get; }
    [LayerNorm(Bias = false)] public partial Tensor Final(Tensor x);
    [Dense(Out = 13, Bias = false, Tied = nameof(Tokens))] public partial Tensor Head(Tensor x);

    public Tensor Forward(Tensor ids)
    {
        var x = Positions(Tokens(ids));
        foreach (var block in Blocks) x = block.Forward(x);
        return Head(Final(x));
    }

    [Loss] public Scalar Loss(Tensor ids, Labels next) => Ops.SoftmaxCrossEntropy(Forward(ids), next);
}
