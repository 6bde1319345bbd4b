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
