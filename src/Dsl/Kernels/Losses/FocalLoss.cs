using System;
using System.Numerics;

namespace Dsl.Kernels;

/// <summary>
/// Focal loss on softmax (Lin et al. 2017; SEEDS §1.4), fused with its backward.
/// Forward, per row with p = softmax(z), t = the label, q = 1 − p_t:
///   loss = −α · q^γ · ln p_t.
/// Backward (SEEDS §1.4, checked): ∂loss/∂z_j = α · [γ q^(γ−1) p_t ln p_t − q^γ] · ([j = t] − p_j).
/// </summary>
/// <remarks>
/// The factor q^(γ−1) is unbounded as p_t → 1 when γ &lt; 1, while the product is finite (SEEDS §3):
/// the kernel computes γ q^γ p_t · (ln p_t / q), with q = −expm1(ln p_t) (no cancellation) and
/// ln p_t / q → −1 at q = 0. γ = 0 and α = 1 is cross-entropy. α is a plain scalar weight in the
/// softmax form (the binary form's α_t has no multi-class analogue), default 1.
/// </remarks>
public static class FocalLoss
{
    /// <summary>Mean focal loss over <paramref name="rows"/> rows; writes ∂loss/∂z · <paramref name="gradScale"/>
    /// (pass 1/rows for the mean) to <paramref name="dLogits"/>, which may alias the logits.</summary>
    public static double ForwardBackward<T>(ReadOnlySpan<T> logits, ReadOnlySpan<int> labels, int rows, int classes, double gamma, double alpha, Span<T> dLogits, T gradScale)
        where T : unmanaged, IFloatingPointIeee754<T>
        => Run(logits, labels, rows, classes, gamma, alpha, dLogits, double.CreateTruncating(gradScale), writeGradient: true);

    /// <summary>Mean loss only.</summary>
    public static double Forward<T>(ReadOnlySpan<T> logits, ReadOnlySpan<int> labels, int rows, int classes, double gamma, double alpha)
        where T : unmanaged, IFloatingPointIeee754<T>
        => Run(logits, labels, rows, classes, gamma, alpha, default, 0, writeGradient: false);

    private static double Run<T>(ReadOnlySpan<T> logits, ReadOnlySpan<int> labels, int rows, int classes, double gamma, double alpha, Span<T> dLogits, double scale, bool writeGradient)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!(gamma >= 0) || double.IsInfinity(gamma))
        {
            throw new ArgumentOutOfRangeException(nameof(gamma), gamma, FormattableString.Invariant($"focal γ is {gamma}; it must be finite and ≥ 0"));
        }

        if (!(alpha >= 0) || double.IsInfinity(alpha))
        {
            throw new ArgumentOutOfRangeException(nameof(alpha), alpha, FormattableString.Invariant($"focal α is {alpha}; it must be finite and ≥ 0"));
        }

        LossMath.ValidateRows(logits.Length, labels, rows, classes, dLogits.Length, writeGradient);
        double total = 0;
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<T> z = logits.Slice(r * classes, classes);
            int t = labels[r];
            double lse = LossMath.LogSumExp(z, ReadOnlySpan<T>.Empty);
            double logPt = double.CreateTruncating(z[t]) - lse;
            double pt = Math.Exp(logPt);
            double q = -LossMath.ExpM1(logPt);
            double qg = Math.Pow(q, gamma); // 0^0 = 1: γ = 0 is cross-entropy
            total += -alpha * qg * logPt;
            if (!writeGradient)
            {
                continue;
            }

            double ratio = q > 0 ? logPt / q : -1; // ln p_t / (1 − p_t) → −1 as p_t → 1
            double k = alpha * ((gamma * qg * pt * ratio) - qg) * scale;
            Span<T> d = dLogits.Slice(r * classes, classes);
            for (int j = 0; j < classes; j++)
            {
                double p = Math.Exp(double.CreateTruncating(z[j]) - lse);
                d[j] = T.CreateTruncating(k * ((j == t ? 1 : 0) - p));
            }
        }

        return rows == 0 ? 0 : total / rows;
    }
}
