using Dsl;

namespace DslGpt;

/// <summary>A pre-LayerNorm transformer block: causal self-attention and a GELU MLP, each added back to the stream.</summary>
[Module]
public partial class Block
{
    [LayerNorm(Bias = false)] public partial Tensor Norm1(Tensor x);
    [Attention(Heads = 4, Causal = true, Bias = false)] public partial Tensor Attend(Tensor x);
    [LayerNorm(Bias = false)] public partial Tensor Norm2(Tensor x);
    [Dense(Out = 256, Bias = false)] public partial Tensor Up(Tensor x);
    [Gelu] public partial Tensor Act(Tensor x);
    [Dense(Out = 64, Bias = false)] public partial Tensor Down(Tensor x);

    public Tensor Forward(Tensor x)
    {
        x = x + Attend(Norm1(x));
        return x + Down(Act(Up(Norm2(x))));
    }
}

/// <summary>A byte-level GPT: every UTF-8 byte of the text is a token (vocabulary 256), so any file works.</summary>
[Model(Batch = 16, Sequence = 64, InitStd = 0.02)]
public partial class Gpt
{
    [Embedding(Vocabulary = 256, Dim = 64)] public partial Tensor Tokens(Tensor ids);
    [PositionEmbedding] public partial Tensor Positions(Tensor x);
    [Repeat(2)] public partial Block[] Blocks { get; }
    [LayerNorm(Bias = false)] public partial Tensor Final(Tensor x);
    [Dense(Out = 256, Bias = false, Tied = nameof(Tokens))] public partial Tensor Head(Tensor x);

    public Tensor Forward(Tensor ids)
    {
        var x = Positions(Tokens(ids));
        foreach (var block in Blocks) x = block.Forward(x);
        return Head(Final(x));
    }

    [Loss] public Scalar Loss(Tensor ids, Labels next) => Ops.SoftmaxCrossEntropy(Forward(ids), next);
}
