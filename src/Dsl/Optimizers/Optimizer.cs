using System;
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
}
