using System;
using System.Numerics;

namespace Dsl.Kernels;

/// <summary>
/// TaiLr, the total-variation-motivated reweighting of cross-entropy (Ji et al., ICLR 2023; SEEDS §1.4),
/// fused with its backward. Forward, per row with p = softmax(z)_y:
///   w = sg(clamp(p / (γ + (1 − γ) p), b, 1)),  loss = −w · ln p.
/// Backward, w held fixed (it is under stop-gradient): ∂loss/∂z = w · (softmax(z) − e_y).
/// </summary>
/// <remarks>
/// With b = 0 this gradient equals that of L_γ = −ln(γ + (1 − γ)p)/(1 − γ). γ = 0 gives w = 1,
/// i.e. cross-entropy. The weight is not differentiated: a finite-difference check must freeze it
/// (SEEDS §3), otherwise a spurious ln p · ∇w term appears.
/// </remarks>
public static class TaiLr
{
    /// <summary>Mean TaiLr loss; writes ∂loss/∂z · <paramref name="gradScale"/> (1/rows for the mean) to <paramref name="dLogits"/> (may alias the logits).</summary>
    public static double ForwardBackward<T>(ReadOnlySpan<T> logits, ReadOnlySpan<int> labels, int rows, int classes, double gamma, double minWeight, Span<T> dLogits, T gradScale)
        where T : unmanaged, IFloatingPointIeee754<T>
        => Run(logits, labels, rows, classes, gamma, minWeight, dLogits, double.CreateTruncating(gradScale), writeGradient: true);

    /// <summary>Mean loss only.</summary>
    public static double Forward<T>(ReadOnlySpan<T> logits, ReadOnlySpan<int> labels, int rows, int classes, double gamma, double minWeight)
        where T : unmanaged, IFloatingPointIeee754<T>
        => Run(logits, labels, rows, classes, gamma, minWeight, default, 0, writeGradient: false);

    /// <summary>The stop-gradient weight clamp(p / (γ + (1 − γ)p), b, 1) for a label probability p.</summary>
    public static double Weight(double p, double gamma, double minWeight)
    {
        double denominator = gamma + ((1 - gamma) * p);
        double w = denominator > 0 ? p / denominator : 1;
        return Math.Clamp(w, minWeight, 1);
    }

    private static double Run<T>(ReadOnlySpan<T> logits, ReadOnlySpan<int> labels, int rows, int classes, double gamma, double minWeight, Span<T> dLogits, double scale, bool writeGradient)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        LossMath.RequireRange(nameof(gamma), gamma, 0, 1);
        LossMath.RequireRange(nameof(minWeight), minWeight, 0, 1);
        LossMath.ValidateRows(logits.Length, labels, rows, classes, dLogits.Length, writeGradient);
        double total = 0;
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<T> z = logits.Slice(r * classes, classes);
            int y = labels[r];
            double lse = LossMath.LogSumExp(z, ReadOnlySpan<T>.Empty);
            double logP = double.CreateTruncating(z[y]) - lse;
            double w = Weight(Math.Exp(logP), gamma, minWeight);
            total += -w * logP;
            if (!writeGradient)
            {
                continue;
            }

            Span<T> d = dLogits.Slice(r * classes, classes);
            double k = w * scale;
            for (int j = 0; j < classes; j++)
            {
                double p = Math.Exp(double.CreateTruncating(z[j]) - lse);
                d[j] = T.CreateTruncating(k * (p - (j == y ? 1 : 0)));
            }
        }

        return rows == 0 ? 0 : total / rows;
    }
}
