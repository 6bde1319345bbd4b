using System;
using System.Numerics;

namespace Dsl.Kernels;

/// <summary>
/// Logit-adjusted cross-entropy (Menon et al. 2021; SEEDS §1.4), fused with its backward.
/// Forward, per row with the per-class offset a_j = τ ln π_j (π the class prior):
///   loss = −ln softmax(z + a)_y = logsumexp(z + a) − (z_y + a_y).
/// Backward: ∂loss/∂z = softmax(z + a) − e_y.
/// </summary>
/// <remarks>τ = 1 is the default ("already near optimal"). The offsets are computed once by
/// <see cref="Offsets{T}"/>; uniform priors make them a constant shift, i.e. plain cross-entropy.
/// At inference use argmax z for balanced accuracy, argmax(z + a) for overall accuracy.</remarks>
public static class LogitAdjustedCrossEntropy
{
    /// <summary>Writes a_j = τ ln π_j for the normalised <paramref name="priors"/> (any positive weights or counts)
    /// to <paramref name="offsets"/>; throws naming the class when a prior is not positive and finite.</summary>
    public static void Offsets<T>(ReadOnlySpan<double> priors, double tau, Span<T> offsets)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!(tau >= 0) || double.IsInfinity(tau))
        {
            throw new ArgumentOutOfRangeException(nameof(tau), tau, FormattableString.Invariant($"logit adjustment τ is {tau}; it must be finite and ≥ 0"));
        }

        if (priors.Length != offsets.Length)
        {
            KernelThrowHelper.ThrowLengthMismatch(nameof(priors), priors.Length, nameof(offsets), offsets.Length);
        }

        double sum = 0;
        for (int j = 0; j < priors.Length; j++)
        {
            if (!(priors[j] > 0) || double.IsInfinity(priors[j]))
            {
                throw new ArgumentOutOfRangeException(nameof(priors), priors[j], FormattableString.Invariant($"the prior of class {j} is {priors[j]}; every prior must be positive and finite (ln 0 = −∞: smooth the counts)"));
            }

            sum += priors[j];
        }

        for (int j = 0; j < priors.Length; j++)
        {
            offsets[j] = T.CreateTruncating(tau * Math.Log(priors[j] / sum));
        }
    }

    /// <summary>Class priors counted from <paramref name="labels"/> with add-one smoothing, so no prior is 0.</summary>
    public static double[] CountPriors(ReadOnlySpan<int> labels, int classes)
    {
        if (classes <= 0)
        {
            KernelThrowHelper.ThrowNotPositive(nameof(classes), classes);
        }

        var counts = new double[classes];
        counts.AsSpan().Fill(1);
        for (int i = 0; i < labels.Length; i++)
        {
            if ((uint)labels[i] >= (uint)classes)
            {
                KernelThrowHelper.ThrowLabelOutOfRange(i, labels[i], classes);
            }

            counts[labels[i]]++;
        }

        double total = labels.Length + classes;
        for (int j = 0; j < classes; j++)
        {
            counts[j] /= total;
        }

        return counts;
    }

    /// <summary>Mean loss; writes ∂loss/∂z · <paramref name="gradScale"/> (1/rows for the mean) to <paramref name="dLogits"/> (may alias the logits).</summary>
    public static double ForwardBackward<T>(ReadOnlySpan<T> logits, ReadOnlySpan<int> labels, int rows, int classes, ReadOnlySpan<T> offsets, Span<T> dLogits, T gradScale)
        where T : unmanaged, IFloatingPointIeee754<T>
        => Run(logits, labels, rows, classes, offsets, dLogits, double.CreateTruncating(gradScale), writeGradient: true);

    /// <summary>Mean loss only.</summary>
    public static double Forward<T>(ReadOnlySpan<T> logits, ReadOnlySpan<int> labels, int rows, int classes, ReadOnlySpan<T> offsets)
        where T : unmanaged, IFloatingPointIeee754<T>
        => Run(logits, labels, rows, classes, offsets, default, 0, writeGradient: false);

    private static double Run<T>(ReadOnlySpan<T> logits, ReadOnlySpan<int> labels, int rows, int classes, ReadOnlySpan<T> offsets, Span<T> dLogits, double scale, bool writeGradient)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        LossMath.ValidateRows(logits.Length, labels, rows, classes, dLogits.Length, writeGradient);
        if (offsets.Length != classes)
        {
            KernelThrowHelper.ThrowLengthMismatch(nameof(offsets), offsets.Length, nameof(classes), classes);
        }

        double total = 0;
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<T> z = logits.Slice(r * classes, classes);
            int y = labels[r];
            double lse = LossMath.LogSumExp(z, offsets);
            total += lse - (double.CreateTruncating(z[y]) + double.CreateTruncating(offsets[y]));
            if (!writeGradient)
            {
                continue;
            }

            Span<T> d = dLogits.Slice(r * classes, classes);
            for (int j = 0; j < classes; j++)
            {
                double p = Math.Exp(double.CreateTruncating(z[j]) + double.CreateTruncating(offsets[j]) - lse);
                d[j] = T.CreateTruncating((p - (j == y ? 1 : 0)) * scale);
            }
        }

        return rows == 0 ? 0 : total / rows;
    }
}
