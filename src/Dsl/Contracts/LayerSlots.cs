// A contract shared by the runtime and the generator: this file is compiled into both (the generator and the
// analyzers link it). A layer's eager binding (Dsl.Runtime.LayerBinding: arena offsets, sizes and constants)
// is written by the generator's plan and read by the eager reference (Dsl.Runtime.Eager) through these records,
// so the position of every slot is stated once.
using System.Collections.Generic;

namespace Dsl.Contracts;

/// <summary>A layer's binding: its offsets and sizes, and its constants, in the order the eager reference reads them.</summary>
internal interface ILayerSlots
{
    /// <summary>Offsets (−1: absent), sizes and flags.</summary>
    int[] Ints { get; }

    /// <summary>Constants (ε, α, the attention scale).</summary>
    double[] Doubles { get; }
}

/// <summary>A [Dense]'s binding: y = x·Wᵀ + b.</summary>
/// <param name="Weight">Arena offset of W [Out, In].</param>
/// <param name="Bias">Arena offset of b, or −1.</param>
/// <param name="In">Input features.</param>
/// <param name="Out">Output features.</param>
internal readonly record struct DenseSlots(int Weight, int Bias, int In, int Out) : ILayerSlots
{
    public int[] Ints => new[] { Weight, Bias, In, Out };

    public double[] Doubles => new double[0];

    public static DenseSlots Read(IReadOnlyList<int> b) => new(b[0], b[1], b[2], b[3]);
}

/// <summary>An [Embedding]'s binding: row r of the result is row ids[r] of the table.</summary>
/// <param name="Table">Arena offset of the table [Vocabulary, Dim].</param>
/// <param name="Vocabulary">Rows of the table.</param>
/// <param name="Dim">Columns of the table.</param>
internal readonly record struct EmbeddingSlots(int Table, int Vocabulary, int Dim) : ILayerSlots
{
    public int[] Ints => new[] { Table, Vocabulary, Dim };

    public double[] Doubles => new double[0];

    public static EmbeddingSlots Read(IReadOnlyList<int> b) => new(b[0], b[1], b[2]);
}

/// <summary>A [PositionEmbedding]'s binding: y[b·T + t] = x[b·T + t] + P[t].</summary>
/// <param name="Table">Arena offset of P [Sequence, Width].</param>
/// <param name="Sequence">Positions per example.</param>
/// <param name="Width">Features.</param>
internal readonly record struct PositionEmbeddingSlots(int Table, int Sequence, int Width) : ILayerSlots
{
    public int[] Ints => new[] { Table, Sequence, Width };

    public double[] Doubles => new double[0];

    public static PositionEmbeddingSlots Read(IReadOnlyList<int> b) => new(b[0], b[1], b[2]);
}

/// <summary>A [LayerNorm]'s binding: (x − μ)/√(σ² + ε)·γ + β per row.</summary>
/// <param name="Gamma">Arena offset of γ.</param>
/// <param name="Beta">Arena offset of β, or −1.</param>
/// <param name="Width">Features.</param>
/// <param name="Epsilon">ε.</param>
internal readonly record struct LayerNormSlots(int Gamma, int Beta, int Width, double Epsilon) : ILayerSlots
{
    public int[] Ints => new[] { Gamma, Beta, Width };

    public double[] Doubles => new[] { Epsilon };

    public static LayerNormSlots Read(IReadOnlyList<int> b, IReadOnlyList<double> d) => new(b[0], b[1], b[2], d[0]);
}

/// <summary>An [RmsNorm]'s binding: x/√(mean(x²) + ε)·g per row.</summary>
/// <param name="Gain">Arena offset of g, or −1.</param>
/// <param name="Width">Features.</param>
/// <param name="Epsilon">ε.</param>
internal readonly record struct RmsNormSlots(int Gain, int Width, double Epsilon) : ILayerSlots
{
    public int[] Ints => new[] { Gain, Width };

    public double[] Doubles => new[] { Epsilon };

    public static RmsNormSlots Read(IReadOnlyList<int> b, IReadOnlyList<double> d) => new(b[0], b[1], d[0]);
}

/// <summary>A [DeepNorm] skip's binding: α·x.</summary>
/// <param name="Alpha">α.</param>
internal readonly record struct DeepNormSlots(double Alpha) : ILayerSlots
{
    public int[] Ints => new int[0];

    public double[] Doubles => new[] { Alpha };

    public static DeepNormSlots Read(IReadOnlyList<double> d) => new(d[0]);
}

/// <summary>A [MeanPool]'s binding: the mean over the positions whose id is not the pad.</summary>
/// <param name="Pad">The pad id.</param>
/// <param name="Sequence">Positions per example.</param>
internal readonly record struct MeanPoolSlots(int Pad, int Sequence) : ILayerSlots
{
    public int[] Ints => new[] { Pad, Sequence };

    public double[] Doubles => new double[0];

    public static MeanPoolSlots Read(IReadOnlyList<int> b) => new(b[0], b[1]);
}

/// <summary>An [Attention] or [LinearAttention] layer's binding: q|k|v = x·W_qkvᵀ + b, RoPE on q and k, attention,
/// then heads·W_oᵀ + b_o.</summary>
/// <param name="Wqkv">Arena offset of W_qkv [2·Heads·KeySize + Heads·ValueSize, In].</param>
/// <param name="Bqkv">Arena offset of b_qkv, or −1.</param>
/// <param name="Wo">Arena offset of W_o [Out, Heads·ValueSize].</param>
/// <param name="Bo">Arena offset of b_o, or −1.</param>
/// <param name="PreMix">Arena offset of talking heads' pre-softmax mix [Heads, Heads], or −1.</param>
/// <param name="PostMix">Arena offset of the post-softmax mix, or −1.</param>
/// <param name="In">Input features.</param>
/// <param name="Out">Output features.</param>
/// <param name="Heads">Heads.</param>
/// <param name="KeySize">Features per head of q and k.</param>
/// <param name="ValueSize">Features per head of v.</param>
/// <param name="Sequence">Positions per example.</param>
/// <param name="Causal">Each position attends to itself and earlier ones only.</param>
/// <param name="Window">Sliding window (0: none).</param>
/// <param name="EntropyInvariant">The scale grows with log of the number of keys.</param>
/// <param name="RotaryDim">Rotated features per head (0: no RoPE).</param>
/// <param name="TalkingHeads">Mixes the heads' scores before and after the softmax.</param>
/// <param name="Linear">Linear attention (φ(q)·(φ(k)ᵀv)).</param>
/// <param name="Scale">The score scale.</param>
/// <param name="RopeBase">RoPE's base.</param>
/// <param name="Alibi">ALiBi: head h's scores get −m_h·|i − j| (<see cref="AlibiSlope"/>).</param>
internal readonly record struct AttentionSlots(int Wqkv, int Bqkv, int Wo, int Bo, int PreMix, int PostMix, int In, int Out,
    int Heads, int KeySize, int ValueSize, int Sequence, bool Causal, int Window, bool EntropyInvariant, int RotaryDim,
    bool TalkingHeads, bool Linear, double Scale, double RopeBase, bool Alibi) : ILayerSlots
{
    public int[] Ints => new[]
    {
        Wqkv, Bqkv, Wo, Bo, PreMix, PostMix, In, Out, Heads, KeySize, ValueSize, Sequence, Causal ? 1 : 0, Window,
        EntropyInvariant ? 1 : 0, RotaryDim, TalkingHeads ? 1 : 0, Linear ? 1 : 0, Alibi ? 1 : 0,
    };

    public double[] Doubles => new[] { Scale, RopeBase };

    public static AttentionSlots Read(IReadOnlyList<int> b, IReadOnlyList<double> d) =>
        new(b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12] != 0, b[13], b[14] != 0, b[15],
            b[16] != 0, b[17] != 0, d[0], d[1], b[18] != 0);

    /// <summary>
    /// ALiBi's slope m_h of head <paramref name="head"/> (0-based) of <paramref name="heads"/> (Press et al., ICLR 2022):
    /// 2^(−8(h + 1)/H) when H is a power of two; otherwise the slopes of the n = 2^⌊log₂ H⌋ heads, then every other slope
    /// of 2n heads, as the paper's code interleaves them. Stated once: the CPU kernel, the eager reference and the
    /// generator's CUDA constants all read it.
    /// </summary>
    public static double AlibiSlope(int heads, int head)
    {
        int n = 1;
        while (n * 2 <= heads) n *= 2;
        return head < n ? System.Math.Pow(2, -8.0 * (head + 1) / n) : System.Math.Pow(2, -8.0 * ((2 * (head - n)) + 1) / (2 * n));
    }
}
