using System;
using System.Collections.Generic;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

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
    /// <summary>State values kept per parameter (SGD with momentum and Lion: 1, AdamW: 2; the ChildTuning wrappers add theirs to the inner optimizer's).</summary>
    public abstract int StateSlots { get; }
    /// <summary>Most state slots any built-in optimizer needs (ChildTuning-D around AdamW: 2 + 2):
    /// generated arenas reserve this many.</summary>
    public const int MaxStateSlots = 4;

    private double _maxGradientNorm;

    /// <summary>
    /// Gradient clipping by global norm, 0 (the default) for none: when the L2 norm of all the
    /// gradients a step sees exceeds it, the step uses g·(max/(norm + 10⁻⁶)) in place of g, as
    /// PyTorch's <c>clip_grad_norm_</c> scales them. The gradients themselves are not written.
    /// </summary>
    /// <exception cref="ArgumentException">Set to a negative, infinite or NaN value.</exception>
    public double MaxGradientNorm
    {
        get => _maxGradientNorm;
        set
        {
            RequireNonNegativeFinite(nameof(MaxGradientNorm), value);
            _maxGradientNorm = value;
        }
    }

    /// <summary>
    /// The global L2 norm √(Σ g²) over every tensor's gradients in the last <see cref="Step{T}"/>,
    /// before clipping, summed in double. Computed on every step whether or not clipping is on
    /// (one read of the gradients), so training loops can print it; NaN or ∞ flags a blown-up step.
    /// </summary>
    public double LastGradientNorm { get; private protected set; }

    // The norm a guarded step has already measured (NaN: none), so the step's clipping reads it
    // instead of reading the gradients a second time.
    private double _measuredNorm = double.NaN;

    /// <summary>
    /// The guarded update (<see cref="Runtime.NonFiniteGuard"/>): measures the global gradient norm once,
    /// and when it or <paramref name="loss"/> is NaN or ∞ returns false having written nothing: the
    /// parameters, the optimizer state and <see cref="Steps"/> are bitwise unchanged. Otherwise runs
    /// <see cref="Step{T}"/>, whose clipping reuses that norm (so the guard costs two comparisons), and
    /// returns true. <see cref="LastGradientNorm"/> holds the measured norm either way.
    /// </summary>
    /// <remarks>The seam for anything that must skip an update after looking at the gradients (dynamic
    /// loss scaling will skip the overflowed steps the same way). A ChildTuning wrapper's clipping
    /// sees the masked gradients, so it measures them again.</remarks>
    public bool TryStep<T>(Span<T> parameters, ReadOnlySpan<T> gradients, Span<T> state, ReadOnlySpan<ParameterTensor> tensors, double loss)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        double norm = MeasureNorm(gradients, tensors);
        LastGradientNorm = norm;
        if (!double.IsFinite(norm) || !double.IsFinite(loss))
        {
            return false;
        }

        _measuredNorm = norm;
        try
        {
            Step(parameters, gradients, state, tensors);
        }
        finally
        {
            _measuredNorm = double.NaN;
        }

        return true;
    }

    /// <summary>
    /// √(Σ g²) over the regions of <paramref name="tensors"/> in <paramref name="gradients"/>,
    /// accumulated in double whatever T is. Allocates nothing.
    /// </summary>
    /// <exception cref="ArgumentException">A tensor lies outside the gradient region.</exception>
    public static double GlobalNorm<T>(ReadOnlySpan<T> gradients, ReadOnlySpan<ParameterTensor> tensors)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        double sum = 0;
        foreach (ParameterTensor tensor in tensors)
        {
            if (tensor.Offset < 0 || tensor.Length < 0 || (long)tensor.Offset + tensor.Length > gradients.Length)
            {
                ThrowArgument(nameof(tensors), $"tensor '{tensor.Name}' covers [{tensor.Offset}, {tensor.Offset} + {tensor.Length}), outside the gradient region of length {gradients.Length}.");
            }

            ReadOnlySpan<T> g = gradients.Slice(tensor.Offset, tensor.Length);
            for (int start = 0; start < g.Length; start += UpdateBlocks.Length)
            {
                sum += UpdateBlocks.SumOfSquares(g.Slice(start, Math.Min(UpdateBlocks.Length, g.Length - start)));
            }
        }

        return Math.Sqrt(sum);
    }

    private UpdateBlocks? _blocks;
    private object? _normWork;

    /// <summary>The step's tensors cut into blocks (built on the first step, reused while the table is the same).</summary>
    private protected UpdateBlocks Blocks(ReadOnlySpan<ParameterTensor> tensors) => UpdateBlocks.For(ref _blocks, tensors);

    /// <summary>Builds what a step of <paramref name="tensors"/> reuses (the blocks, the work items), so a wrapper
    /// whose first steps do not reach this optimizer (ChildTuning-D's Fisher steps) can pay those allocations early.</summary>
    internal virtual void Prepare<T>(ReadOnlySpan<ParameterTensor> tensors) where T : unmanaged, IFloatingPointIeee754<T>
    {
        _ = Blocks(tensors);
        _normWork ??= new NormWork<T>();
    }

    /// <summary>Whether a guarded step has already measured the norm this step's clipping will read.</summary>
    private protected bool NormMeasured => !double.IsNaN(_measuredNorm);

    /// <summary>
    /// <see cref="GlobalNorm{T}"/>, with the blocks spread over <see cref="Runtime.WorkerPool.Shared"/> when the
    /// model is large enough: the same sum in the same order, so the same bits on any thread count.
    /// </summary>
    private protected unsafe double MeasureNorm<T>(ReadOnlySpan<T> gradients, ReadOnlySpan<ParameterTensor> tensors)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        foreach (ParameterTensor tensor in tensors)
        {
            if (tensor.Offset < 0 || tensor.Length < 0 || (long)tensor.Offset + tensor.Length > gradients.Length)
            {
                return GlobalNorm(gradients, tensors); // throws, naming the tensor
            }
        }

        UpdateBlocks blocks = Blocks(tensors);
        if (!blocks.Parallel)
        {
            return GlobalNorm(gradients, tensors);
        }

        var work = _normWork as NormWork<T> ?? (NormWork<T>)(_normWork = new NormWork<T>());
        fixed (T* g = gradients)
        {
            work.Gradients = g;
            work.Blocks = blocks;
            try
            {
                blocks.Run(work);
            }
            finally
            {
                work.Gradients = null;
                work.Blocks = null;
            }
        }

        return Math.Sqrt(blocks.Total());
    }

    /// <summary>
    /// Records <see cref="LastGradientNorm"/> and returns the factor the step multiplies every
    /// gradient by: max/(norm + 10⁻⁶) when clipping is on and that is below 1, else exactly 1
    /// (so an unclipped step is bit-for-bit the step without clipping). A non-finite norm is
    /// recorded but not clipped (PyTorch would scale by 0 or NaN): the step propagates the NaN or
    /// ∞ as it would without clipping.
    /// </summary>
    private protected T GradientScale<T>(ReadOnlySpan<T> gradients, ReadOnlySpan<ParameterTensor> tensors)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        double norm = double.IsNaN(_measuredNorm) ? MeasureNorm(gradients, tensors) : _measuredNorm;
        LastGradientNorm = norm;
        if (_maxGradientNorm > 0 && double.IsFinite(norm))
        {
            double factor = _maxGradientNorm / (norm + 1e-6);
            if (factor < 1)
            {
                return T.CreateTruncating(factor);
            }
        }

        return T.One;
    }

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

    /// <summary>
    /// The checkpoint name of state slot <paramref name="slot"/> (0 ≤ slot &lt; <see cref="StateSlots"/>):
    /// PyTorch's name where it has one ("exp_avg", "exp_avg_sq", "momentum_buffer"), or null for a
    /// scratch slot that every step overwrites before reading it, which checkpoints leave out.
    /// A custom optimizer keeps the default, "slot0", "slot1", ….
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">slot is outside [0, StateSlots).</exception>
    public virtual string? StateSlotName(int slot)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(slot);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(slot, StateSlots);
        return "slot" + slot.ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>The optimizer's kind as checkpoints record and compare it: the class name, with the inner
    /// optimizer's in parentheses for a wrapper ("ChildTuningD(AdamW)").</summary>
    public virtual string Describe() => GetType().Name;

    /// <summary>
    /// Writes the scalar state a resumed run needs (<see cref="Describe"/>, <see cref="Steps"/> and
    /// <see cref="LearningRate"/>, round-trip exact) into <paramref name="metadata"/> under keys that start
    /// with <paramref name="prefix"/>. The per-parameter state lives in the arena and is saved by the
    /// caller (<see cref="Dsl.Checkpoint"/>). Overrides add their own entries and call this.
    /// </summary>
    public virtual void SaveState(IDictionary<string, string> metadata, string prefix)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        ArgumentNullException.ThrowIfNull(prefix);
        metadata[prefix + "kind"] = Describe();
        metadata[prefix + "steps"] = Steps.ToString(CultureInfo.InvariantCulture);
        metadata[prefix + "learning_rate"] = Format(LearningRate);
    }

    /// <summary>
    /// Restores what <see cref="SaveState"/> wrote: checks every entry first (the kind must equal this
    /// optimizer's), then assigns, so on error nothing changes.
    /// </summary>
    /// <exception cref="Dsl.IO.InvalidDataException">An entry is missing or malformed, or the file holds
    /// another kind of optimizer; the message names <paramref name="path"/> and the entry.</exception>
    public void LoadState(IReadOnlyDictionary<string, string> metadata, string prefix, string path)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        ArgumentNullException.ThrowIfNull(prefix);
        string kind = Required(metadata, prefix + "kind", path);
        if (kind != Describe())
            throw new Dsl.IO.InvalidDataException(path, $"holds the state of optimizer {kind}; this run's optimizer is {Describe()}");
        ValidateState(metadata, prefix, path);
        ApplyState(metadata, prefix);
    }

    /// <summary>Checks this optimizer's entries (<see cref="LoadState"/> calls it before <see cref="ApplyState"/>).</summary>
    /// <exception cref="Dsl.IO.InvalidDataException">An entry is missing or malformed.</exception>
    protected internal virtual void ValidateState(IReadOnlyDictionary<string, string> metadata, string prefix, string path)
    {
        long steps = ParseInt64(metadata, prefix + "steps", path);
        if (steps < 0)
            throw new Dsl.IO.InvalidDataException(path, $"metadata '{prefix}steps' is {steps}, negative");
        double rate = ParseDouble(metadata, prefix + "learning_rate", path);
        if (!(rate >= 0) || double.IsInfinity(rate))
            throw new Dsl.IO.InvalidDataException(path, $"metadata '{prefix}learning_rate' is {Format(rate)}, not a non-negative finite number");
    }

    /// <summary>Assigns this optimizer's entries, already checked by <see cref="ValidateState"/>.</summary>
    protected internal virtual void ApplyState(IReadOnlyDictionary<string, string> metadata, string prefix)
    {
        Steps = long.Parse(metadata[prefix + "steps"], NumberStyles.Integer, CultureInfo.InvariantCulture);
        LearningRate = double.Parse(metadata[prefix + "learning_rate"], NumberStyles.Float, CultureInfo.InvariantCulture);
    }

    /// <summary>The entry <paramref name="key"/>, or an error naming it.</summary>
    private protected static string Required(IReadOnlyDictionary<string, string> metadata, string key, string path) =>
        metadata.TryGetValue(key, out string? text) ? text : throw new Dsl.IO.InvalidDataException(path, $"metadata '{key}' is missing");

    /// <summary>The entry <paramref name="key"/> as an integer, or an error naming it.</summary>
    private protected static long ParseInt64(IReadOnlyDictionary<string, string> metadata, string key, string path)
    {
        string text = Required(metadata, key, path);
        return long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out long value)
            ? value
            : throw new Dsl.IO.InvalidDataException(path, $"metadata '{key}' is '{text}', not an integer");
    }

    private static double ParseDouble(IReadOnlyDictionary<string, string> metadata, string key, string path)
    {
        string text = Required(metadata, key, path);
        return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double value)
            ? value
            : throw new Dsl.IO.InvalidDataException(path, $"metadata '{key}' is '{text}', not a number");
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
