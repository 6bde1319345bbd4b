using Dsl;

namespace Dsl.Tests.EndToEnd;

// Small transformer models for the gradient checks and the eager-agreement tests: each covers a
// few options, so a failing check points at them. Default initialisation (not GPT-2's 0.02) keeps
// the gradients large enough for finite differences.

/// <summary>A pre-LN block: LayerNorm without bias, causal attention, GELU MLP; residual adds fuse
/// with the next LayerNorm.</summary>
[Module]
public partial class GptBlock
{
    [LayerNorm(Bias = false)] public partial Tensor Norm1(Tensor x);
    [Attention(Heads = 2, Causal = true, Bias = false)] public partial Tensor Attend(Tensor x);
    [LayerNorm(Bias = false)] public partial Tensor Norm2(Tensor x);
    [Dense(Out = 16, Bias = false)] public partial Tensor Up(Tensor x);
    [Gelu] public partial Tensor Act(Tensor x);
    [Dense(Out = 8, Bias = false)] public partial Tensor Down(Tensor x);

    public Tensor Forward(Tensor x)
    {
        x = x + Attend(Norm1(x));
        return x + Down(Act(Up(Norm2(x))));
    }
}

/// <summary>Token embedding, learned positions, a [Repeat] stack, final LayerNorm and a head tied to the embedding.</summary>
[Model(Batch = 2, Sequence = 5)]
public partial class TinyGpt
{
    [Embedding(Vocabulary = 7, Dim = 8)] public partial Tensor Tokens(Tensor ids);
    [PositionEmbedding] public partial Tensor Positions(Tensor x);
    [Repeat(2)] public partial GptBlock[] Blocks { get; }
    [LayerNorm] public partial Tensor Final(Tensor x);
    [Dense(Out = 7, Bias = false, Tied = nameof(Tokens))] public partial Tensor Head(Tensor x);

    public Tensor Forward(Tensor ids)
    {
        var x = Positions(Tokens(ids));
        foreach (var block in Blocks) x = block.Forward(x);
        return Head(Final(x));
    }

    [Loss] public Scalar Loss(Tensor ids, Labels next) => Ops.SoftmaxCrossEntropy(Forward(ids), next);
}

/// <summary>Causal attention with RoPE over the whole key, with biases; then a LayerNorm with bias.</summary>
[Model(Batch = 2, Input = 4, Sequence = 5)]
public partial class CausalRope
{
    [Dense(Out = 8)] public partial Tensor In(Tensor x);
    [Attention(Heads = 2, Causal = true, Rope = true)] public partial Tensor Attend(Tensor x);
    [LayerNorm] public partial Tensor Norm(Tensor x);
    [Dense(Out = 3)] public partial Tensor Head(Tensor x);

    public Tensor Forward(Tensor x) => Head(Norm(Attend(In(x))));

    [Loss] public Scalar Loss(Tensor x, Labels y) => Ops.SoftmaxCrossEntropy(Forward(x), y);
}

/// <summary>Non-causal local attention (window 2) with an explicit scale, key size ≠ value size and
/// partial RoPE (2 of 6 key dimensions); RMSNorm with gain.</summary>
[Model(Batch = 2, Input = 4, Sequence = 6)]
public partial class WindowKeySize
{
    [Dense(Out = 6)] public partial Tensor In(Tensor x);
    [Attention(Heads = 2, KeySize = 5, ValueSize = 3, Window = 2, Scale = 0.3, Rope = true, RotaryDim = 2)] public partial Tensor Attend(Tensor x);
    [RmsNorm] public partial Tensor Norm(Tensor x);
    [Dense(Out = 3)] public partial Tensor Head(Tensor x);

    public Tensor Forward(Tensor x) => Head(Norm(Attend(In(x))));

    [Loss] public Scalar Loss(Tensor x, Labels y) => Ops.SoftmaxCrossEntropy(Forward(x), y);
}

/// <summary>Causal talking-heads attention with the entropy-invariant scale; RMSNorm without gain (RoFormerV2).</summary>
[Model(Batch = 2, Input = 4, Sequence = 5)]
public partial class EntropyTalkingHeads
{
    [Dense(Out = 6)] public partial Tensor In(Tensor x);
    [Attention(Heads = 3, Causal = true, EntropyInvariant = true, TalkingHeads = true)] public partial Tensor Attend(Tensor x);
    [RmsNorm(Gain = false)] public partial Tensor Norm(Tensor x);
    [Dense(Out = 3)] public partial Tensor Head(Tensor x);

    public Tensor Forward(Tensor x) => Head(Norm(Attend(In(x))));

    [Loss] public Scalar Loss(Tensor x, Labels y) => Ops.SoftmaxCrossEntropy(Forward(x), y);
}

/// <summary>Linear attention, causal and not, on the same input.</summary>
[Model(Batch = 2, Input = 4, Sequence = 5)]
public partial class LinearBoth
{
    [Dense(Out = 6)] public partial Tensor In(Tensor x);
    [LinearAttention(Heads = 2, Causal = true)] public partial Tensor Causal(Tensor x);
    [LinearAttention(Heads = 3, KeySize = 3, ValueSize = 2)] public partial Tensor Global(Tensor x);
    [Dense(Out = 3)] public partial Tensor Head(Tensor x);

    public Tensor Forward(Tensor x)
    {
        var h = In(x);
        return Head(Causal(h) + Global(h));
    }

    [Loss] public Scalar Loss(Tensor x, Tensor y) => Ops.MeanSquaredError(Forward(x), y);
}

/// <summary>A Post-LN DeepNorm block: x = LN(α·x + attention(x)); x = LN(α·x + FFN(x)).</summary>
[Module]
public partial class DeepBlock
{
    [DeepNorm] public partial Tensor Skip(Tensor x);
    [Attention(Heads = 2)] public partial Tensor Attend(Tensor x);
    [LayerNorm] public partial Tensor Norm1(Tensor x);
    [Dense(Out = 12)] public partial Tensor Up(Tensor x);
    [Dense(Out = 6)] public partial Tensor Down(Tensor x);
    [LayerNorm] public partial Tensor Norm2(Tensor x);

    public Tensor Forward(Tensor x)
    {
        x = Norm1(Skip(x) + Attend(x));
        return Norm2(Skip(x) + Down(Ops.Relu(Up(x))));
    }
}

/// <summary>Three DeepNorm blocks (α = 6^¼, β = 24^−¼).</summary>
[Model(Batch = 2, Input = 4, Sequence = 4)]
public partial class DeepNormStack
{
    [Dense(Out = 6)] public partial Tensor In(Tensor x);
    [Repeat(3)] public partial DeepBlock[] Blocks { get; }
    [Dense(Out = 3)] public partial Tensor Head(Tensor x);

    public Tensor Forward(Tensor x)
    {
        x = In(x);
        foreach (var block in Blocks) x = block.Forward(x);
        return Head(x);
    }

    [Loss] public Scalar Loss(Tensor x, Labels y) => Ops.SoftmaxCrossEntropy(Forward(x), y);
}
