using System;
using System.Numerics;

namespace Dsl.Kernels;

/// <summary>
/// The Sentence-BERT regression objective, fused with its backward: over P interleaved pairs
/// (rows 2i: u_i, 2i + 1: v_i) with cosines c_i (<see cref="PairCosine"/>) and targets s_i,
///   loss = (1/P) Σ_i (c_i − s_i)²,   ∂loss/∂c_i = 2(c_i − s_i)/P, then through the cosine.
/// </summary>
/// <remarks>The targets are used as given: scale STS scores (0–5) to [0, 1] (s/5) before, as
/// Sentence-BERT does.</remarks>
public static class CosineMse
{
    /// <summary>Scratch doubles the kernel needs per pair.</summary>
    public const int ScratchPerPair = 2;

    /// <summary>The mean loss over pairs; writes ∂loss/∂embeddings · <paramref name="gradScale"/>.</summary>
    public static double ForwardBackward<T>(ReadOnlySpan<T> embeddings, ReadOnlySpan<T> targets, int pairs, int dim, Span<double> scratch, Span<T> dEmbeddings, T gradScale)
        where T : unmanaged, IFloatingPointIeee754<T>
        => Run(embeddings, targets, pairs, dim, scratch, dEmbeddings, double.CreateTruncating(gradScale), writeGradient: true);

    /// <summary>The loss only.</summary>
    public static double Forward<T>(ReadOnlySpan<T> embeddings, ReadOnlySpan<T> targets, int pairs, int dim, Span<double> scratch)
        where T : unmanaged, IFloatingPointIeee754<T>
        => Run(embeddings, targets, pairs, dim, scratch, default, 0, writeGradient: false);

    private static double Run<T>(ReadOnlySpan<T> embeddings, ReadOnlySpan<T> targets, int pairs, int dim, Span<double> scratch, Span<T> dEmbeddings, double scale, bool writeGradient)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        PairCosine.Validate(embeddings.Length, pairs, dim, targets.Length, dEmbeddings.Length, scratch.Length, ScratchPerPair, writeGradient);
        if (pairs == 0)
        {
            return 0;
        }

        Span<double> c = scratch.Slice(0, pairs);
        Span<double> dc = scratch.Slice(pairs, pairs);
        PairCosine.Forward(embeddings, pairs, dim, c);
        double total = 0;
        for (int i = 0; i < pairs; i++)
        {
            double e = c[i] - double.CreateTruncating(targets[i]);
            total += e * e;
            dc[i] = 2 * e / pairs * scale;
        }

        if (writeGradient)
        {
            PairCosine.Backward(embeddings, pairs, dim, dc, dEmbeddings);
        }

        return total / pairs;
    }
}
