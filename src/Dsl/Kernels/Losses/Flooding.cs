using System;
using System.Numerics;

namespace Dsl.Kernels;

/// <summary>
/// Flooding (Ishida et al., ICML 2020; SEEDS §1.6) applied to a mini-batch mean loss L whose gradient
/// is already written. Forward: L̃ = |L − b| + b. Backward: ∇L̃ = sign(L − b) · ∇L — descent above
/// the flood level b, ascent below it, and 0 at L = b exactly (PyTorch's abs′(0) = 0).
/// </summary>
public static class Flooding
{
    /// <summary>Returns |<paramref name="loss"/> − b| + b and multiplies <paramref name="gradient"/> by sign(loss − b) in place.</summary>
    public static double Apply<T>(double loss, double level, Span<T> gradient) where T : unmanaged, IFloatingPointIeee754<T>
    {
        RequireLevel(level);
        if (loss < level)
        {
            for (int i = 0; i < gradient.Length; i++)
            {
                gradient[i] = -gradient[i];
            }
        }
        else if (loss == level)
        {
            gradient.Clear();
        }

        return Value(loss, level);
    }

    /// <summary>|<paramref name="loss"/> − b| + b.</summary>
    public static double Value(double loss, double level)
    {
        RequireLevel(level);
        return Math.Abs(loss - level) + level;
    }

    private static void RequireLevel(double level)
    {
        if (!(level >= 0) || double.IsInfinity(level))
        {
            throw new ArgumentOutOfRangeException(nameof(level), level, FormattableString.Invariant($"flood level b is {level}; it must be finite and ≥ 0"));
        }
    }
}
