using System;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Numerics;

namespace Dsl.Optimizers;

/// <summary>One parameter tensor of a model: where it lies in the parameter region and whether it is a matrix (weight decay applies to matrices only by default).</summary>
/// <param name="Name">Checkpoint name, e.g. "hidden.weight".</param>
/// <param name="Offset">Start within the parameter region.</param>
/// <param name="Length">Number of elements.</param>
/// <param name="IsMatrix">True for weights of rank ≥ 2.</param>
public readonly record struct ParameterTensor(string Name, int Offset, int Length, bool IsMatrix);

/// <summary>
/// An optimizer updates parameters from gradients; its per-parameter state lives in the model's
/// arena (<see cref="StateSlots"/> values per parameter), so a step allocates nothing.
/// </summary>
public abstract class Optimizer
{
    /// <summary>Learning rate; schedules set it before each step.</summary>
    public double LearningRate { get; set; }
    /// <summary>Number of steps taken.</summary>
    public long Steps { get; protected set; }
    /// <summary>State values kept per parameter (SGD with momentum: 1, AdamW: 2).</summary>
    public abstract int StateSlots { get; }
    /// <summary>Most state slots any built-in optimizer needs: generated arenas reserve this many.</summary>
    public const int MaxStateSlots = 2;

    /// <summary>
    /// One update of all <paramref name="tensors"/>: <paramref name="parameters"/> and
    /// <paramref name="gradients"/> are the parameter and gradient regions (same length);
    /// <paramref name="state"/> holds <see cref="StateSlots"/> × parameters.Length values, zero at the start.
    /// Increments <see cref="Steps"/>.
    /// </summary>
    public abstract void Step<T>(Span<T> parameters, ReadOnlySpan<T> gradients, Span<T> state, ReadOnlySpan<ParameterTensor> tensors)
        where T : unmanaged, IFloatingPointIeee754<T>;

    /// <summary>
    /// Checks the regions a <see cref="Step{T}"/> receives: equal parameter and gradient lengths,
    /// enough state for <see cref="StateSlots"/>, every tensor inside the parameter region, and a
    /// learning rate a schedule may have set to anything (0 is allowed: warm-up starts there).
    /// </summary>
    private protected void ValidateStep<T>(ReadOnlySpan<T> parameters, ReadOnlySpan<T> gradients, ReadOnlySpan<T> state, ReadOnlySpan<ParameterTensor> tensors)
    {
        if (!(LearningRate >= 0) || double.IsInfinity(LearningRate))
        {
            ThrowArgument("LearningRate", $"LearningRate must be non-negative and finite, was {Format(LearningRate)}.");
        }

        if (gradients.Length != parameters.Length)
        {
            ThrowArgument(nameof(gradients), $"gradients has length {gradients.Length} but parameters has length {parameters.Length}; they must be equal.");
        }

        long required = (long)StateSlots * parameters.Length;
        if (state.Length < required)
        {
            ThrowArgument(nameof(state), $"state has length {state.Length} but {GetType().Name} needs {StateSlots} × {parameters.Length} = {required}.");
        }

        foreach (ParameterTensor tensor in tensors)
        {
            if (tensor.Offset < 0 || tensor.Length < 0 || (long)tensor.Offset + tensor.Length > parameters.Length)
            {
                ThrowArgument(nameof(tensors), $"tensor '{tensor.Name}' covers [{tensor.Offset}, {tensor.Offset} + {tensor.Length}), outside the parameter region of length {parameters.Length}.");
            }
        }
    }

    /// <summary>Throws unless <paramref name="value"/> &gt; 0 and finite.</summary>
    private protected static void RequirePositiveFinite(string name, double value)
    {
        if (!(value > 0) || double.IsInfinity(value))
        {
            ThrowArgument(name, $"{name} must be positive and finite, was {Format(value)}.");
        }
    }

    /// <summary>Throws unless <paramref name="value"/> ≥ 0 and finite.</summary>
    private protected static void RequireNonNegativeFinite(string name, double value)
    {
        if (!(value >= 0) || double.IsInfinity(value))
        {
            ThrowArgument(name, $"{name} must be non-negative and finite, was {Format(value)}.");
        }
    }

    /// <summary>Throws unless 0 ≤ <paramref name="value"/> &lt; 1.</summary>
    private protected static void RequireUnitInterval(string name, double value)
    {
        if (!(value >= 0 && value < 1))
        {
            ThrowArgument(name, $"{name} must be in [0, 1), was {Format(value)}.");
        }
    }

    private static string Format(double value) => value.ToString("R", CultureInfo.InvariantCulture);

    [DoesNotReturn]
    private static void ThrowArgument(string name, string message) => throw new ArgumentException(message, name);
}
