using Dsl;

namespace CharGpt;

/// <summary>What the training loop needs from either model (both generated classes implement it).</summary>
public interface ICharModel
{
    /// <summary>One AdamW step on a batch of token windows and their next-character targets.</summary>
    float TrainStep(System.ReadOnlySpan<int> inputs, System.ReadOnlySpan<int> labels, Dsl.Optimizers.Optimizer optimizer);
    /// <summary>Mean cross-entropy per character.</summary>
    float Evaluate(System.ReadOnlySpan<int> inputs, System.ReadOnlySpan<int> labels);
    /// <summary>Logits for every position.</summary>
    void Predict(System.ReadOnlySpan<int> inputs, System.Span<float> outputs);
    /// <summary>Saves a safetensors checkpoint.</summary>
    void Save(string path);
}

/// <summary>nanoGPT's block: pre-LayerNorm (no bias), causal attention (4 heads of 32, no biases),
/// an MLP 128 → 512 → 128 with exact GELU; both residual adds fuse with the next LayerNorm.</summary>
[Module]
public partial class GptBlock
{
    [LayerNorm(Bias = false)] public partial Tensor Norm1(Tensor x);
    [Attention(Heads = 4, Causal = true, Bias = false)] public partial Tensor Attend(Tensor x);
    [LayerNorm(Bias = false)] public partial Tensor Norm2(Tensor x);
    [Dense(Out = 512, Bias = false)] public partial Tensor Up(Tensor x);
    [Gelu(Exact = true)] public partial Tensor Act(Tensor x);
    [Dense(Out = 128, Bias = false)] public partial Tensor Down(Tensor x);

    public Tensor Forward(Tensor x)
    {
        x = x + Attend(Norm1(x));
        return x + Down(Act(Up(Norm2(x))));
    }
}

/// <summary>
/// nanoGPT's "baby GPT" for shakespeare_char on a CPU: 65 characters, width 128, 4 blocks, block
/// size 64, batch 12, learned positions, tied embeddings, N(0, 0.02) init with the residual
/// projections at 0.02/√8 (InitStd does both).
/// </summary>
[Model(Batch = 12, Sequence = 64, InitStd = 0.02)]
public partial class CharGpt : ICharModel
{
    [Embedding(Vocabulary = 65, Dim = 128)] public partial Tensor Tokens(Tensor ids);
    [PositionEmbedding] public partial Tensor Positions(Tensor x);
    [Repeat(4)] public partial GptBlock[] Blocks { get; }
    [LayerNorm(Bias = false)] public partial Tensor Final(Tensor x);
    [Dense(Out = 65, Bias = false, Tied = nameof(Tokens))] public partial Tensor Head(Tensor x);

    public Tensor Forward(Tensor ids)
    {
        var x = Positions(Tokens(ids));
        foreach (var block in Blocks) x = block.Forward(x);
        return Head(Final(x));
    }

    [Loss] public Scalar Loss(Tensor ids, Labels next) => Ops.SoftmaxCrossEntropy(Forward(ids), next);
}

/// <summary>CharGpt with each block a [Recompute] segment (the sample's --recompute): the training step keeps
/// only each block's input and runs the block's forward again just before its backward, so the four blocks'
/// inner activations share one block's worth of arena. Same parameters, same losses to the bit.</summary>
[Model(Batch = 12, Sequence = 64, InitStd = 0.02)]
public partial class CharGptRecompute : ICharModel
{
    [Embedding(Vocabulary = 65, Dim = 128)] public partial Tensor Tokens(Tensor ids);
    [PositionEmbedding] public partial Tensor Positions(Tensor x);
    [Recompute, Repeat(4)] public partial GptBlock[] Blocks { get; }
    [LayerNorm(Bias = false)] public partial Tensor Final(Tensor x);
    [Dense(Out = 65, Bias = false, Tied = nameof(Tokens))] public partial Tensor Head(Tensor x);

    public Tensor Forward(Tensor ids)
    {
        var x = Positions(Tokens(ids));
        foreach (var block in Blocks) x = block.Forward(x);
        return Head(Final(x));
    }

    [Loss] public Scalar Loss(Tensor ids, Labels next) => Ops.SoftmaxCrossEntropy(Forward(ids), next);
}

/// <summary>The same block with the DSL's options: RoPE instead of learned positions, RMSNorm
/// (with gain) instead of LayerNorm, SquarePlus instead of GELU.</summary>
[Module]
public partial class RopeBlock
{
    [RmsNorm] public partial Tensor Norm1(Tensor x);
    [Attention(Heads = 4, Causal = true, Bias = false, Rope = true)] public partial Tensor Attend(Tensor x);
    [RmsNorm] public partial Tensor Norm2(Tensor x);
    [Dense(Out = 512, Bias = false)] public partial Tensor Up(Tensor x);
    [SquarePlus] public partial Tensor Act(Tensor x);
    [Dense(Out = 128, Bias = false)] public partial Tensor Down(Tensor x);

    public Tensor Forward(Tensor x)
    {
        x = x + Attend(Norm1(x));
        return x + Down(Act(Up(Norm2(x))));
    }
}

/// <summary>CharGpt with RoPE, RMSNorm and SquarePlus (the sample's --variant rope).</summary>
[Model(Batch = 12, Sequence = 64, InitStd = 0.02)]
public partial class CharGptRope : ICharModel
{
    [Embedding(Vocabulary = 65, Dim = 128)] public partial Tensor Tokens(Tensor ids);
    [Repeat(4)] public partial RopeBlock[] Blocks { get; }
    [RmsNorm] public partial Tensor Final(Tensor x);
    [Dense(Out = 65, Bias = false, Tied = nameof(Tokens))] public partial Tensor Head(Tensor x);

    public Tensor Forward(Tensor ids)
    {
        var x = Tokens(ids);
        foreach (var block in Blocks) x = block.Forward(x);
        return Head(Final(x));
    }

    [Loss] public Scalar Loss(Tensor ids, Labels next) => Ops.SoftmaxCrossEntropy(Forward(ids), next);
}
