using System;
using System.Numerics;

namespace Dsl.Kernels;

/// <summary>
/// Softmax cross-entropy against a smoothed target (SEEDS §1.4), fused with its backward.
/// Forward, per row with K classes and q = (1 − ε) e_y + ε/K:
///   loss = −Σ_j q_j ln softmax(z)_j = logsumexp(z) − Σ_j q_j z_j.
/// Backward: ∂loss/∂z = softmax(z) − q.
/// </summary>
/// <remarks>ε = 0 is cross-entropy; ε = (K − 1)/K makes the target uniform. ε must lie in [0, 1).</remarks>
public static class LabelSmoothedCrossEntropy
{
    /// <summary>Mean loss; writes ∂loss/∂z · <paramref name="gradScale"/> (1/rows for the mean) to <paramref name="dLogits"/> (may alias the logits).</summary>
    public static double ForwardBackward<T>(ReadOnlySpan<T> logits, ReadOnlySpan<int> labels, int rows, int classes, double epsilon, Span<T> dLogits, T gradScale)
        where T : unmanaged, IFloatingPointIeee754<T>
        => Run(logits, labels, rows, classes, epsilon, dLogits, double.CreateTruncating(gradScale), writeGradient: true);

    /// <summary>Mean loss only.</summary>
    public static double Forward<T>(ReadOnlySpan<T> logits, ReadOnlySpan<int> labels, int rows, int classes, double epsilon)
        where T : unmanaged, IFloatingPointIeee754<T>
        => Run(logits, labels, rows, classes, epsilon, default, 0, writeGradient: false);

    private static double Run<T>(ReadOnlySpan<T> logits, ReadOnlySpan<int> labels, int rows, int classes, double epsilon, Span<T> dLogits, double scale, bool writeGradient)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!(epsilon >= 0 && epsilon < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(epsilon), epsilon, FormattableString.Invariant($"label smoothing ε is {epsilon}; it must lie in [0, 1)"));
        }

        LossMath.ValidateRows(logits.Length, labels, rows, classes, dLogits.Length, writeGradient);
        double uniform = epsilon / classes;
        double total = 0;
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<T> z = logits.Slice(r * classes, classes);
            int y = labels[r];
            double lse = LossMath.LogSumExp(z, ReadOnlySpan<T>.Empty);
            double dot = 0;
            for (int j = 0; j < classes; j++)
            {
                dot += (uniform + (j == y ? 1 - epsilon : 0)) * double.CreateTruncating(z[j]);
            }

            total += lse - dot;
            if (!writeGradient)
            {
                continue;
            }

            Span<T> d = dLogits.Slice(r * classes, classes);
            for (int j = 0; j < classes; j++)
            {
                double p = Math.Exp(double.CreateTruncating(z[j]) - lse);
                d[j] = T.CreateTruncating((p - uniform - (j == y ? 1 - epsilon : 0)) * scale);
            }
        }

        return rows == 0 ? 0 : total / rows;
    }
}
