using System;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace Dsl.Optimizers;

/// <summary>
/// Learning-rate schedules as pure functions of the 0-based step: a training loop sets
/// <see cref="Optimizer.LearningRate"/> to one of these before each <see cref="Optimizer.Step{T}"/>.
/// </summary>
/// <remarks>
/// Both schedules share nanoGPT's linear warm-up, lr = peak·(step + 1)/(warmupSteps + 1) for
/// step &lt; warmupSteps: the first step already moves (peak/(warmupSteps + 1)), and the ramp ends
/// one increment short of peak, which step = warmupSteps then reaches. From warmupSteps to
/// decaySteps the rate falls from peak to floor, and stays at floor after.
/// </remarks>
public static class LearningRateSchedule
{
    /// <summary>
    /// nanoGPT's <c>get_lr</c>: linear warm-up (class remarks), then cosine decay
    /// lr = floor + ½(1 + cos(π·r))·(peak − floor) with r = (step − warmupSteps)/(decaySteps − warmupSteps),
    /// then floor for step ≥ decaySteps.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">step or warmupSteps is negative, decaySteps is
    /// below warmupSteps, or peak or floor is negative or not finite.</exception>
    public static double WarmupCosine(long step, long warmupSteps, long decaySteps, double peak, double floor)
    {
        Validate(step, warmupSteps, decaySteps, peak, floor);
        if (step < warmupSteps)
        {
            return peak * (step + 1) / (warmupSteps + 1);
        }

        // nanoGPT returns floor for step > decaySteps; at step = decaySteps the cosine already gives
        // floor, and ≥ also covers decaySteps = warmupSteps, where the ratio would be 0/0.
        if (step >= decaySteps)
        {
            return floor;
        }

        double ratio = (double)(step - warmupSteps) / (decaySteps - warmupSteps);
        double coefficient = 0.5 * (1.0 + Math.Cos(Math.PI * ratio));
        return floor + (coefficient * (peak - floor));
    }

    /// <summary>
    /// The same linear warm-up, then a straight line from peak at warmupSteps to floor at
    /// decaySteps: lr = peak − r·(peak − floor) with r as in <see cref="WarmupCosine"/>; floor after.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">step or warmupSteps is negative, decaySteps is
    /// below warmupSteps, or peak or floor is negative or not finite.</exception>
    public static double WarmupLinear(long step, long warmupSteps, long decaySteps, double peak, double floor)
    {
        Validate(step, warmupSteps, decaySteps, peak, floor);
        if (step < warmupSteps)
        {
            return peak * (step + 1) / (warmupSteps + 1);
        }

        if (step >= decaySteps)
        {
            return floor;
        }

        double ratio = (double)(step - warmupSteps) / (decaySteps - warmupSteps);
        return peak - (ratio * (peak - floor));
    }

    private static void Validate(long step, long warmupSteps, long decaySteps, double peak, double floor)
    {
        if (step < 0)
        {
            ThrowRange(nameof(step), step, $"step must be non-negative, was {step}.");
        }

        if (warmupSteps < 0)
        {
            ThrowRange(nameof(warmupSteps), warmupSteps, $"warmupSteps must be non-negative, was {warmupSteps}.");
        }

        if (decaySteps < warmupSteps)
        {
            ThrowRange(nameof(decaySteps), decaySteps, $"decaySteps must be at least warmupSteps ({warmupSteps}), was {decaySteps}.");
        }

        if (!(peak >= 0) || double.IsInfinity(peak))
        {
            ThrowRange(nameof(peak), peak, $"peak must be non-negative and finite, was {Format(peak)}.");
        }

        if (!(floor >= 0) || double.IsInfinity(floor))
        {
            ThrowRange(nameof(floor), floor, $"floor must be non-negative and finite, was {Format(floor)}.");
        }
    }

    private static string Format(double value) => value.ToString("R", CultureInfo.InvariantCulture);

    [DoesNotReturn]
    private static void ThrowRange(string name, object value, string message) =>
        throw new ArgumentOutOfRangeException(name, value, message);
}
