using System;
using System.Numerics;
using Dsl.Kernels;
using Dsl.Optimizers;

namespace Dsl.Runtime;

/// <summary>
/// The fast gradient method's perturbation (FGM, [Adversarial]): r = ε·g/‖g‖ added to a table,
/// one L2 norm over the whole table. Generated engines call it between their two training passes.
/// </summary>
public static class FastGradient
{
    /// <summary>
    /// Copies <paramref name="table"/> to <paramref name="backup"/>, then adds ε·g/‖g‖ to it, ‖g‖
    /// summed in double. Returns the L2 norm of what was actually added, √Σ(table − backup)², in
    /// double: ε up to the rounding of T. A zero or non-finite ‖g‖ adds nothing and returns 0.
    /// Allocates nothing.
    /// </summary>
    /// <exception cref="ArgumentException">The spans differ in length, or epsilon is not positive and finite.</exception>
    public static double Perturb<T>(Span<T> table, Span<T> backup, ReadOnlySpan<T> gradient, double epsilon)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (backup.Length != table.Length || gradient.Length != table.Length)
        {
            throw new ArgumentException($"table ({table.Length}), backup ({backup.Length}) and gradient ({gradient.Length}) must have the same length.", nameof(gradient));
        }

        if (!(epsilon > 0) || double.IsInfinity(epsilon))
        {
            throw new ArgumentException($"epsilon must be positive and finite, was {epsilon:R}.", nameof(epsilon));
        }

        table.CopyTo(backup);
        ParameterTensor whole = new("table", 0, gradient.Length, true);
        double norm = Optimizer.GlobalNorm(gradient, new ReadOnlySpan<ParameterTensor>(in whole));
        if (!(norm > 0) || double.IsInfinity(norm))
        {
            return 0;
        }

        Elementwise.ScaleAdd(gradient, T.CreateTruncating(epsilon / norm), table);
        double sum = 0;
        for (int i = 0; i < table.Length; i++)
        {
            double d = double.CreateTruncating(table[i]) - double.CreateTruncating(backup[i]);
            sum += d * d;
        }

        return Math.Sqrt(sum);
    }
}
