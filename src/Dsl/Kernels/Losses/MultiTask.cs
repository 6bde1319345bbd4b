using System;
using System.Globalization;
using System.Numerics;

namespace Dsl.Kernels;

/// <summary>
/// The weighting step of a multi-task loss (SEEDS §1.4): from the tasks' losses L_i (each already fused with its
/// unweighted gradient ∇L_i), the combined loss L and each task's factor ∂L/∂L_i, by which the generated code then
/// scales that task's gradient before the one shared backward pass. No method allocates.
/// </summary>
public static class MultiTask
{
    /// <summary>The floor under L_i in ln L_i (a loss of exactly 0 would give −∞).</summary>
    public const double LogFloor = 1e-30;

    /// <summary>L = Σ α_i L_i with constant α_i; ∂L/∂L_i = α_i.</summary>
    public static double Fixed(ReadOnlySpan<double> losses, ReadOnlySpan<double> weights, Span<double> scales)
    {
        Require(losses, scales);
        if (weights.Length < losses.Length)
            KernelThrowHelper.ThrowDestinationTooShort(nameof(weights), weights.Length, losses.Length);
        double total = 0;
        for (int i = 0; i < losses.Length; i++)
        {
            scales[i] = weights[i];
            total += weights[i] * losses[i];
        }

        return total;
    }

    /// <summary>L = Σ L_i / L_i⁰; ∂L/∂L_i = 1/L_i⁰. When <paramref name="record"/> is set, a task whose L_i⁰ is still 0
    /// (never recorded) records the current L_i first. An unrecorded task otherwise counts with weight 1.</summary>
    /// <exception cref="InvalidOperationException">A task's first loss is 0 or not finite, so it cannot be a divisor.</exception>
    public static double InitialLoss(ReadOnlySpan<double> losses, Span<double> initial, bool record, Span<double> scales)
    {
        Require(losses, scales);
        double total = 0;
        for (int i = 0; i < losses.Length; i++)
        {
            if (record && initial[i] == 0)
            {
                if (!(losses[i] > 0) || double.IsInfinity(losses[i]))
                    throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture,
                        $"TaskWeighting.InitialLoss: task {i}'s loss on the first training batch is {losses[i]}, which cannot weigh it (α_i = 1/L_i⁰ needs 0 < L_i⁰ < ∞)"));
                initial[i] = losses[i];
            }

            scales[i] = initial[i] > 0 ? 1 / initial[i] : 1;
            total += scales[i] * losses[i];
        }

        return total;
    }

    /// <summary>L = Σ ln max(L_i, <see cref="LogFloor"/>); ∂L/∂L_i = 1/max(L_i, floor).</summary>
    public static double LogSum(ReadOnlySpan<double> losses, Span<double> scales)
    {
        Require(losses, scales);
        double total = 0;
        for (int i = 0; i < losses.Length; i++)
        {
            double l = Math.Max(losses[i], LogFloor);
            scales[i] = 1 / l;
            total += Math.Log(l);
        }

        return total;
    }

    /// <summary>L = Σ ½ e^{−s_i} L_i + ½ s_i; ∂L/∂L_i = ½ e^{−s_i}, and (when <paramref name="gradient"/> is not
    /// empty) ∂L/∂s_i = ½ − ½ e^{−s_i} L_i is written (overwritten) there.</summary>
    public static double Uncertainty<T>(ReadOnlySpan<double> losses, ReadOnlySpan<T> logVariance, Span<T> gradient, Span<double> scales)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Require(losses, scales);
        if (logVariance.Length < losses.Length)
            KernelThrowHelper.ThrowDestinationTooShort(nameof(logVariance), logVariance.Length, losses.Length);
        if (!gradient.IsEmpty && gradient.Length < losses.Length)
            KernelThrowHelper.ThrowDestinationTooShort(nameof(gradient), gradient.Length, losses.Length);
        double total = 0;
        for (int i = 0; i < losses.Length; i++)
        {
            double s = double.CreateChecked(logVariance[i]);
            double weight = 0.5 * Math.Exp(-s);
            scales[i] = weight;
            total += weight * losses[i] + 0.5 * s;
            if (!gradient.IsEmpty) gradient[i] = T.CreateChecked(0.5 - weight * losses[i]);
        }

        return total;
    }

    private static void Require(ReadOnlySpan<double> losses, Span<double> scales)
    {
        if (scales.Length < losses.Length)
            KernelThrowHelper.ThrowDestinationTooShort(nameof(scales), scales.Length, losses.Length);
    }
}
