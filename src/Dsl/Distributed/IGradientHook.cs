using System;
using System.Numerics;
using Dsl.Optimizers;

namespace Dsl.Distributed;

/// <summary>
/// Told by a generated engine's backward pass how far it has got: the backward runs in reverse layer order and
/// the parameters lie in layer order, so the gradient region is finished from its end down. Data parallelism
/// (<see cref="GradientAllReduce{T}"/>) starts reducing each finished bucket while the backward goes on.
/// </summary>
public interface IGradientHook
{
    /// <summary>Nothing in this pass writes the gradient region at or after <paramref name="first"/> (an offset
    /// within the region) again. Called with decreasing values, about once per backward step.</summary>
    void Ready(int first);

    /// <summary>The backward pass is done; returns once the gradient region holds what the update should use.</summary>
    void Complete();
}

/// <summary>
/// What data parallelism needs from a generated <c>Engine&lt;T&gt;</c> (each generated engine implements it): its
/// arena and the gradient region's place in it, rows per example, where this rank's rows start in the global
/// batch (for the dropout masks), and the hook its backward reports to.
/// </summary>
/// <typeparam name="T">float for training, double for checks.</typeparam>
public interface IDataParallelEngine<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>The arena: parameters | gradients | optimizer state | activations.</summary>
    T[] Arena { get; }

    /// <summary>Where the gradient region starts in the arena.</summary>
    int GradientOffset { get; }

    /// <summary>Length of the parameter region, and so of the gradient region.</summary>
    int ParameterRegion { get; }

    /// <summary>Rows (positions) per example.</summary>
    int Sequence { get; }

    /// <summary>The parameter tensors: names, offsets, lengths.</summary>
    ReadOnlySpan<ParameterTensor> ParameterTensors { get; }

    /// <summary>Why this model cannot be trained data-parallel with the same result as one process (its loss is
    /// not a mean of per-row terms, or it needs the whole batch's gradient inside the step), or null.</summary>
    string? DataParallelIssue { get; }

    /// <summary>The hook the backward reports to, or null.</summary>
    IGradientHook? GradientHook { get; set; }

    /// <summary>The global index of the first row of the batch the engine holds (0 in one process): dropout
    /// masks are drawn per global row, so each rank's shard gets the masks one process would give those rows.</summary>
    int FirstRow { get; set; }
}
