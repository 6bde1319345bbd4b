using System;
using System.Numerics;
using Dsl.Optimizers;

namespace Dsl.Runtime;

/// <summary>
/// An arena buffer outside the parameters that a run must keep to continue exactly where it stopped:
/// a spectral norm's power-iteration vectors u and v, which training updates but no gradient reaches.
/// </summary>
/// <param name="Name">Checkpoint name, e.g. "Hidden.spectral_u".</param>
/// <param name="Offset">Start in the arena.</param>
/// <param name="Length">Number of elements.</param>
public readonly record struct StateBuffer(string Name, int Offset, int Length);

/// <summary>
/// What every generated <c>Engine&lt;T&gt;</c> offers to code that is not generated with it (full-state
/// checkpoints, training loops, data-parallel reduction): its regions, its parameter table, the seed
/// and dropout step, and one optimizer update. The generated members are the implementation; this
/// interface only names them.
/// </summary>
/// <typeparam name="T">float for training, double for gradient checks.</typeparam>
public interface IEngine<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>The model class's name, as the checkpoints record it.</summary>
    string ModelName { get; }

    /// <summary>The whole arena: parameters | gradients | optimizer state | activations.</summary>
    T[] Arena { get; }

    /// <summary>The parameter region (tensors at their <see cref="ParameterTensors"/> offsets, padding between).</summary>
    Span<T> Parameters { get; }

    /// <summary>The gradient region, laid out as <see cref="Parameters"/>.</summary>
    Span<T> Gradients { get; }

    /// <summary>The optimizer state region: <see cref="StateSlots"/> slots of <see cref="Parameters"/>' length each.</summary>
    Span<T> OptimizerState { get; }

    /// <summary>Optimizer state values the arena reserves per parameter.</summary>
    int StateSlots { get; }

    /// <summary>The parameter tensors: names, offsets within <see cref="Parameters"/>, lengths.</summary>
    ReadOnlySpan<ParameterTensor> ParameterTensors { get; }

    /// <summary>The shape of each parameter tensor, in the order of <see cref="ParameterTensors"/>.</summary>
    ReadOnlySpan<int[]> ParameterShapes { get; }

    /// <summary>Buffers besides the parameters that training changes and a resumed run needs (empty for most models).</summary>
    ReadOnlySpan<StateBuffer> StateBuffers => default;

    /// <summary>The first training batch's per-task losses recorded by <see cref="TaskWeighting.InitialLoss"/>
    /// (empty for every other model).</summary>
    Span<double> InitialTaskLosses => default;

    /// <summary>Seed of the initialisation and of the dropout masks.</summary>
    ulong Seed { get; }

    /// <summary>Selects the dropout masks; the training step increments it.</summary>
    ulong DropoutStep { get; set; }

    /// <summary>Re-initialises the parameters from <paramref name="seed"/> and clears the rest of the arena.</summary>
    void Initialize(ulong seed);

    /// <summary>One optimizer update from the gradients of the last training pass.</summary>
    void ApplyOptimizer(Optimizer optimizer);
}
