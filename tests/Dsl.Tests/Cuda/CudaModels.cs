using Dsl;

namespace Dsl.Tests.Cuda;

/// <summary>Sequences longer than one attention tile (32 positions): the CUDA kernels' key/value and
/// query tiles, and the partial last tile, are exercised by the emulation check.</summary>
[Model(Batch = 2, Input = 3, Sequence = 70)]
public partial class LongAttention
{
    [Dense(Out = 8)] public partial Tensor In(Tensor x);
    [Attention(Heads = 2, Causal = true)] public partial Tensor Causal(Tensor x);
    [Attention(Heads = 2, KeySize = 3, ValueSize = 5, Window = 35, EntropyInvariant = true)] public partial Tensor Windowed(Tensor x);
    [LayerNorm] public partial Tensor Norm(Tensor x);
    [Dense(Out = 4)] public partial Tensor Head(Tensor x);

    public Tensor Forward(Tensor x)
    {
        var h = In(x);
        h = h + Causal(h);
        return Head(Norm(h + Windowed(h)));
    }

    [Loss] public Scalar Loss(Tensor x, Labels y) => Ops.SoftmaxCrossEntropy(Forward(x), y);
}

/// <summary>Talking heads beyond the causal test model: a window (non-causal), key size ≠ value size, a
/// fixed scale, partial RoPE and a causal four-head layer after it; 35 positions,
/// so the per-query kernels run two blocks per example.</summary>
[Model(Batch = 2, Input = 3, Sequence = 35)]
public partial class WindowedTalkingHeads
{
    [Dense(Out = 8)] public partial Tensor In(Tensor x);
    [Attention(Heads = 2, KeySize = 3, ValueSize = 5, Window = 9, Scale = 0.4, Rope = true, RotaryDim = 2, TalkingHeads = true)] public partial Tensor Windowed(Tensor x);
    [Attention(Heads = 4, Causal = true, TalkingHeads = true)] public partial Tensor Causal(Tensor x);
    [LayerNorm] public partial Tensor Norm(Tensor x);
    [Dense(Out = 4)] public partial Tensor Head(Tensor x);

    public Tensor Forward(Tensor x)
    {
        var h = In(x);
        h = h + Windowed(h);
        return Head(Norm(h + Causal(h)));
    }

    [Loss] public Scalar Loss(Tensor x, Labels y) => Ops.SoftmaxCrossEntropy(Forward(x), y);
}

/// <summary>Every case of the cuBLASLt epilogue decision: GELU-tanh with a bias and a width that is a multiple of
/// 8 (GELU_AUX_BIAS, z kept for the backward), without a bias (GELU_AUX), on a width of 6 (not fused: z's leading
/// dimension must be a multiple of 8), the exact GELU (never fused: cuBLASLt's GELU is the tanh form), a bias
/// alone (BIAS) and a plain product.</summary>
[Model(Batch = 4, Input = 6)]
public partial class EpilogueMlp
{
    [Dense(Out = 16)] public partial Tensor Up(Tensor x);
    [Gelu] public partial Tensor Act1(Tensor x);
    [Dense(Out = 8, Bias = false)] public partial Tensor Mid(Tensor x);
    [Gelu] public partial Tensor Act2(Tensor x);
    [Dense(Out = 6)] public partial Tensor Narrow(Tensor x);
    [Gelu] public partial Tensor Act3(Tensor x);
    [Dense(Out = 8)] public partial Tensor Exact(Tensor x);
    [Gelu(Exact = true)] public partial Tensor Act4(Tensor x);
    [Dense(Out = 8, Bias = false)] public partial Tensor Plain(Tensor x);
    [Dense(Out = 5)] public partial Tensor Head(Tensor x);

    public Tensor Forward(Tensor x) => Head(Plain(Act4(Exact(Act3(Narrow(Act2(Mid(Act1(Up(x))))))))));

    [Loss] public Scalar Loss(Tensor x, Labels y) => Ops.SoftmaxCrossEntropy(Forward(x), y);
}
