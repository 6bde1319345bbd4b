using System;
using System.Numerics;

namespace Dsl.Kernels;

/// <summary>
/// CoSENT (Su 2022; SEEDS §1.4), fused with its backward. The batch holds P sentence pairs as
/// interleaved embedding rows (2i: u_i, 2i + 1: v_i) with gold scores s_i and cosines c_i
/// (<see cref="PairCosine"/>). Forward, over the ordered pairs of pairs O = {(a, b): s_a &gt; s_b}:
///   loss = ln(1 + Σ_{(a,b)∈O} e^{λ(c_b − c_a)}) = logsumexp({0} ∪ {λ(c_b − c_a)}).
/// Backward (SEEDS §1.4, checked), with w_ab = e^{λ(c_b − c_a)} / (1 + Σ_O e^{…}):
///   ∂loss/∂c_j = λ (Σ_{a:(a,j)∈O} w_aj − Σ_{b:(j,b)∈O} w_jb), then through the cosine to u and v.
/// </summary>
/// <remarks>O(P²) per batch; the log-sum-exp is max-shifted (λ = 20 and gaps up to 2 give e⁴⁰).
/// Only the order of the scores matters. Σ_j ∂loss/∂c_j = 0.</remarks>
public static class CoSent
{
    /// <summary>Scratch doubles the kernel needs per pair.</summary>
    public const int ScratchPerPair = 2;

    /// <summary>The loss of <paramref name="pairs"/> pairs; writes ∂loss/∂embeddings · <paramref name="gradScale"/>.
    /// <paramref name="scratch"/> holds at least <see cref="ScratchPerPair"/> · pairs doubles (no allocation here).</summary>
    public static double ForwardBackward<T>(ReadOnlySpan<T> embeddings, ReadOnlySpan<T> scores, int pairs, int dim, double lambda, Span<double> scratch, Span<T> dEmbeddings, T gradScale)
        where T : unmanaged, IFloatingPointIeee754<T>
        => Run(embeddings, scores, pairs, dim, lambda, scratch, dEmbeddings, double.CreateTruncating(gradScale), writeGradient: true);

    /// <summary>The loss only.</summary>
    public static double Forward<T>(ReadOnlySpan<T> embeddings, ReadOnlySpan<T> scores, int pairs, int dim, double lambda, Span<double> scratch)
        where T : unmanaged, IFloatingPointIeee754<T>
        => Run(embeddings, scores, pairs, dim, lambda, scratch, default, 0, writeGradient: false);

    private static double Run<T>(ReadOnlySpan<T> embeddings, ReadOnlySpan<T> scores, int pairs, int dim, double lambda, Span<double> scratch, Span<T> dEmbeddings, double scale, bool writeGradient)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!(lambda > 0) || double.IsInfinity(lambda))
        {
            throw new ArgumentOutOfRangeException(nameof(lambda), lambda, FormattableString.Invariant($"CoSENT λ is {lambda}; it must be finite and > 0"));
        }

        PairCosine.Validate(embeddings.Length, pairs, dim, scores.Length, dEmbeddings.Length, scratch.Length, ScratchPerPair, writeGradient);
        Span<double> c = scratch.Slice(0, pairs);
        Span<double> dc = scratch.Slice(pairs, pairs);
        PairCosine.Forward(embeddings, pairs, dim, c);

        // logsumexp over {0} ∪ {λ(c_b − c_a) : s_a > s_b}, shifted by its maximum.
        double max = 0;
        for (int a = 0; a < pairs; a++)
        {
            for (int b = 0; b < pairs; b++)
            {
                if (scores[a] > scores[b])
                {
                    max = Math.Max(max, lambda * (c[b] - c[a]));
                }
            }
        }

        double z = Math.Exp(-max);
        for (int a = 0; a < pairs; a++)
        {
            for (int b = 0; b < pairs; b++)
            {
                if (scores[a] > scores[b])
                {
                    z += Math.Exp((lambda * (c[b] - c[a])) - max);
                }
            }
        }

        double loss = max + Math.Log(z);
        if (!writeGradient)
        {
            return loss;
        }

        dc.Clear();
        for (int a = 0; a < pairs; a++)
        {
            for (int b = 0; b < pairs; b++)
            {
                if (scores[a] > scores[b])
                {
                    double w = lambda * Math.Exp((lambda * (c[b] - c[a])) - max) / z * scale;
                    dc[b] += w;
                    dc[a] -= w;
                }
            }
        }

        PairCosine.Backward(embeddings, pairs, dim, dc, dEmbeddings);
        return loss;
    }
}
