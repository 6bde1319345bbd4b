using Dsl;

namespace Dsl.Tests.EndToEnd;

// Pairs of models that differ only by [Recompute]: the recomputing one must train to the same bits.

/// <summary>A pre-LN block with dropout inside both branches: the residual adds fuse with the next norm inside
/// the block, and (without [Recompute]) with the next block's first norm.</summary>
[Module]
public partial class DropBlock
{
    [LayerNorm(Bias = false)] public partial Tensor Norm1(Tensor x);
    [Attention(Heads = 2, Causal = true, Bias = false)] public partial Tensor Attend(Tensor x);
    [Dropout(0.25)] public partial Tensor Drop1(Tensor x);
    [LayerNorm(Bias = false)] public partial Tensor Norm2(Tensor x);
    [Dense(Out = 16)] public partial Tensor Up(Tensor x);
    [Gelu] public partial Tensor Act(Tensor x);
    [Dropout(0.2)] public partial Tensor Drop2(Tensor x);
    [Dense(Out = 8, Bias = false)] public partial Tensor Down(Tensor x);

    public Tensor Forward(Tensor x)
    {
        x = x + Drop1(Attend(Norm1(x)));
        return x + Down(Drop2(Act(Up(Norm2(x)))));
    }
}

/// <summary>Three <see cref="DropBlock"/>s, every activation kept.</summary>
[Model(Batch = 3, Sequence = 5)]
public partial class DropGpt
{
    [Embedding(Vocabulary = 7, Dim = 8)] public partial Tensor Tokens(Tensor ids);
    [PositionEmbedding] public partial Tensor Positions(Tensor x);
    [Dropout(0.1)] public partial Tensor Drop(Tensor x);
    [Repeat(3)] public partial DropBlock[] Blocks { get; }
    [LayerNorm] public partial Tensor Final(Tensor x);
    [Dense(Out = 7, Bias = false, Tied = nameof(Tokens))] public partial Tensor Head(Tensor x);

    public Tensor Forward(Tensor ids)
    {
        var x = Drop(Positions(Tokens(ids)));
        foreach (var block in Blocks) x = block.Forward(x);
        return Head(Final(x));
    }

    [Loss] public Scalar Loss(Tensor ids, Labels next) => Ops.SoftmaxCrossEntropy(Forward(ids), next);
}

/// <summary><see cref="DropGpt"/> with each block a [Recompute] segment.</summary>
[Model(Batch = 3, Sequence = 5)]
public partial class DropGptRecompute
{
    [Embedding(Vocabulary = 7, Dim = 8)] public partial Tensor Tokens(Tensor ids);
    [PositionEmbedding] public partial Tensor Positions(Tensor x);
    [Dropout(0.1)] public partial Tensor Drop(Tensor x);
    [Recompute, Repeat(3)] public partial DropBlock[] Blocks { get; }
    [LayerNorm] public partial Tensor Final(Tensor x);
    [Dense(Out = 7, Bias = false, Tied = nameof(Tokens))] public partial Tensor Head(Tensor x);

    public Tensor Forward(Tensor ids)
    {
        var x = Drop(Positions(Tokens(ids)));
        foreach (var block in Blocks) x = block.Forward(x);
        return Head(Final(x));
    }

    [Loss] public Scalar Loss(Tensor ids, Labels next) => Ops.SoftmaxCrossEntropy(Forward(ids), next);
}

/// <summary>RoPE (a constant table the recompute must not overwrite), RMSNorm and SquarePlus; [Recompute] on the
/// module type, so both uses of it recompute.</summary>
[Module, Recompute]
public partial class RopeDropBlock
{
    [RmsNorm] public partial Tensor Norm(Tensor x);
    [Attention(Heads = 2, Causal = true, Rope = true)] public partial Tensor Attend(Tensor x);
    [Dense(Out = 12)] public partial Tensor Up(Tensor x);
    [SquarePlus] public partial Tensor Act(Tensor x);
    [Dropout(0.3)] public partial Tensor Drop(Tensor x);
    [Dense(Out = 8)] public partial Tensor Down(Tensor x);

    public Tensor Forward(Tensor x)
    {
        x = x + Attend(Norm(x));
        return x + Down(Drop(Act(Up(x))));
    }
}

/// <summary>The same block without [Recompute].</summary>
[Module]
public partial class RopeKeptBlock
{
    [RmsNorm] public partial Tensor Norm(Tensor x);
    [Attention(Heads = 2, Causal = true, Rope = true)] public partial Tensor Attend(Tensor x);
    [Dense(Out = 12)] public partial Tensor Up(Tensor x);
    [SquarePlus] public partial Tensor Act(Tensor x);
    [Dropout(0.3)] public partial Tensor Drop(Tensor x);
    [Dense(Out = 8)] public partial Tensor Down(Tensor x);

    public Tensor Forward(Tensor x)
    {
        x = x + Attend(Norm(x));
        return x + Down(Drop(Act(Up(x))));
    }
}

/// <summary>Two single module properties (not a stack), each applied once.</summary>
[Model(Batch = 2, Input = 4, Sequence = 6)]
public partial class RopePair
{
    [Dense(Out = 8)] public partial Tensor In(Tensor x);
    public partial RopeKeptBlock First { get; }
    public partial RopeKeptBlock Second { get; }
    [Dense(Out = 3)] public partial Tensor Head(Tensor x);

    public Tensor Forward(Tensor x) => Head(Second.Forward(First.Forward(In(x))));

    [Loss] public Scalar Loss(Tensor x, Labels y) => Ops.SoftmaxCrossEntropy(Forward(x), y);
}

/// <summary><see cref="RopePair"/> with the recomputing module type.</summary>
[Model(Batch = 2, Input = 4, Sequence = 6)]
public partial class RopePairRecompute
{
    [Dense(Out = 8)] public partial Tensor In(Tensor x);
    public partial RopeDropBlock First { get; }
    public partial RopeDropBlock Second { get; }
    [Dense(Out = 3)] public partial Tensor Head(Tensor x);

    public Tensor Forward(Tensor x) => Head(Second.Forward(First.Forward(In(x))));

    [Loss] public Scalar Loss(Tensor x, Labels y) => Ops.SoftmaxCrossEntropy(Forward(x), y);
}

/// <summary>Post-LN DeepNorm blocks (the block's result is its last norm, which computes the add before it: the add
/// is kept with it) with a [Recompute] stack.</summary>
[Model(Batch = 2, Input = 4, Sequence = 4)]
public partial class DeepNormRecompute
{
    [Dense(Out = 6)] public partial Tensor In(Tensor x);
    [Recompute, Repeat(3)] public partial DeepBlock[] Blocks { get; }
    [Dense(Out = 3)] public partial Tensor Head(Tensor x);

    public Tensor Forward(Tensor x)
    {
        x = In(x);
        foreach (var block in Blocks) x = block.Forward(x);
        return Head(x);
    }

    [Loss] public Scalar Loss(Tensor x, Labels y) => Ops.SoftmaxCrossEntropy(Forward(x), y);
}

/// <summary><see cref="TinyGpt"/> with its stack recomputed (the gradient check's model).</summary>
[Model(Batch = 2, Sequence = 5)]
public partial class TinyGptRecompute
{
    [Embedding(Vocabulary = 7, Dim = 8)] public partial Tensor Tokens(Tensor ids);
    [PositionEmbedding] public partial Tensor Positions(Tensor x);
    [Recompute, Repeat(2)] public partial GptBlock[] Blocks { get; }
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

/// <summary><see cref="Regressor"/> (two residual SiLU blocks and an MSE head) with both module uses recomputed,
/// for the non-finite guard's checking pass through a backward that runs forward steps again.</summary>
[Model(Batch = 5, Input = 7)]
public partial class RegressorRecompute
{
    [Recompute] public partial ResidualBlock First { get; }
    [Recompute] public partial ResidualBlock Second { get; }
    [Dense(Out = 2)] public partial Tensor Out(Tensor x);

    public Tensor Forward(Tensor x) => Out(Second.Forward(First.Forward(x)));

    [Loss] public Scalar Loss(Tensor x, Tensor target) => Ops.MeanSquaredError(Forward(x), target);
}

/// <summary>A sequence encoder that pools inside the module: per-token layers, the MeanPool, then per-example layers
/// (a [Recompute] segment that changes from Sequence rows per example to one).</summary>
[Module]
public partial class PoolingEncoder
{
    [Dense(Out = 6)] public partial Tensor Mix(Tensor x);
    [Tanh] public partial Tensor Act(Tensor x);
    [MeanPool(Pad = 0)] public partial Tensor Pool(Tensor x, Tensor ids);
    [Dense(Out = 5)] public partial Tensor Head(Tensor x);
    [Gelu] public partial Tensor HeadAct(Tensor x);

    public Tensor Forward(Tensor x, Tensor ids) => HeadAct(Head(Pool(Act(Mix(x)), ids)));
}

/// <summary>A residual block on the pooled rows.</summary>
[Module]
public partial class PooledBlock
{
    [Dense(Out = 16)] public partial Tensor Up(Tensor x);
    [Gelu] public partial Tensor Act(Tensor x);
    [Dense(Out = 5)] public partial Tensor Down(Tensor x);

    public Tensor Forward(Tensor x) => x + Down(Act(Up(x)));
}

/// <summary>Sequence classification through <see cref="PoolingEncoder"/> and a <see cref="PooledBlock"/>, every
/// activation kept.</summary>
[Model(Batch = 4, Sequence = 5)]
public partial class PooledEncoderPlain
{
    [Embedding(Vocabulary = 13, Dim = 6)] public partial Tensor Tokens(Tensor ids);
    public partial PoolingEncoder Encoder { get; }
    public partial PooledBlock After { get; }
    [Dense(Out = 3)] public partial Tensor Classes(Tensor x);

    public Tensor Forward(Tensor ids) => Classes(After.Forward(Encoder.Forward(Tokens(ids), ids)));

    [Loss] public Scalar Loss(Tensor ids, Labels y) => Ops.SoftmaxCrossEntropy(Forward(ids), y);
}

/// <summary><see cref="PooledEncoderPlain"/> with both module uses recomputed: the block after the pool takes its
/// turn in the shared region after the encoder's forward, so what the encoder's recompute does not write is not
/// its forward's values any more.</summary>
#pragma warning disable DSL322 // the encoder keeps its per-token values (only what follows the pool runs again): small, but the point is its rows
[Model(Batch = 4, Sequence = 5)]
public partial class PooledEncoderRecompute
{
    [Embedding(Vocabulary = 13, Dim = 6)] public partial Tensor Tokens(Tensor ids);
    [Recompute] public partial PoolingEncoder Encoder { get; }
    [Recompute] public partial PooledBlock After { get; }
    [Dense(Out = 3)] public partial Tensor Classes(Tensor x);

    public Tensor Forward(Tensor ids) => Classes(After.Forward(Encoder.Forward(Tokens(ids), ids)));

    [Loss] public Scalar Loss(Tensor ids, Labels y) => Ops.SoftmaxCrossEntropy(Forward(ids), y);
}
#pragma warning restore DSL322
