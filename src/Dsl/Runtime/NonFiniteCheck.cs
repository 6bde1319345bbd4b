using System;
using System.Globalization;
using System.Numerics;
using Dsl.Optimizers;

namespace Dsl.Runtime;

/// <summary>
/// What one step of a generated schedule writes, for the checking pass (generated as a table per
/// model): regions of <c>rows × width</c> values that depend on the batch, and regions of fixed length
/// (parameter gradients).
/// </summary>
/// <param name="Phase">"forward", "loss" or "backward".</param>
/// <param name="Layer">The layer's path, or the op's label for an op without a layer ("add#7").</param>
/// <param name="Operation">What the step computes ("Dense 784 → 1024", "Relu", "∂loss/∂prediction").</param>
/// <param name="RowRegions">Offset, width pairs: <c>rows × width</c> values from the offset.</param>
/// <param name="FixedRegions">Offset, length pairs.</param>
public sealed record CheckedStep(string Phase, string Layer, string Operation, int[] RowRegions, int[] FixedRegions);

/// <summary>The first non-finite value the checking pass found.</summary>
/// <param name="Kind">"input", "target", "parameter", "forward", "loss" or "backward".</param>
/// <param name="Where">The input or target name, the parameter tensor, or the step's layer.</param>
/// <param name="Operation">The step's operation (empty for inputs, targets and parameters).</param>
/// <param name="Step">Index of the step within its phase and the phase's step count (−1 for the rest).</param>
/// <param name="StepCount">Steps in that phase.</param>
/// <param name="Row">The row of the first bad value (−1 for a parameter).</param>
/// <param name="Column">Its column within the row (or its index within the tensor).</param>
/// <param name="Value">The value, "NaN", "+∞" or "−∞".</param>
public sealed record NonFiniteFinding(string Kind, string Where, string Operation, int Step, int StepCount, int Row, int Column, string Value)
{
    /// <summary>Whether the batch itself (an input or a target) holds the value.</summary>
    public bool InBatch => Kind is "input" or "target";

    /// <inheritdoc />
    public override string ToString()
    {
        string at = Row >= 0 ? $"row {Row.ToString(CultureInfo.InvariantCulture)}, column {Column.ToString(CultureInfo.InvariantCulture)}"
            : $"element {Column.ToString(CultureInfo.InvariantCulture)}";
        return Kind switch
        {
            "input" or "target" => $"{Kind} row {Row.ToString(CultureInfo.InvariantCulture)} ('{Where}' column {Column.ToString(CultureInfo.InvariantCulture)}) holds {Value}",
            "parameter" => $"parameter '{Where}' holds {Value} at element {Column.ToString(CultureInfo.InvariantCulture)} (an earlier update overflowed)",
            "loss" => $"the loss's gradient ∂loss/∂prediction ({Operation}) holds {Value} at {at}",
            _ => $"the {(Kind == "forward" ? "output" : "gradient output")} of '{Where}' ({Operation}; {Kind} step {(Step + 1).ToString(CultureInfo.InvariantCulture)} of {StepCount.ToString(CultureInfo.InvariantCulture)}) holds {Value} at {at}",
        };
    }
}

/// <summary>
/// The checking pass that names where a non-finite value first appears. It runs only after the guard
/// detected one (so the training step pays nothing for it): the generated engine calls
/// <see cref="Stop"/> after each step of its forward and backward schedules while a check is
/// attached, and stops at the first step whose output holds NaN or ±∞. Before the replay it checks
/// the parameters and the staged batch.
/// </summary>
/// <typeparam name="T">The engine's element type.</typeparam>
public sealed class NonFiniteCheck<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly T[] _arena;
    private readonly CheckedStep[] _steps;
    private readonly int _forwardSteps;
    private readonly int _backwardSteps;

    /// <summary>A check over <paramref name="arena"/> with the engine's step table.</summary>
    public NonFiniteCheck(T[] arena, CheckedStep[] steps)
    {
        ArgumentNullException.ThrowIfNull(arena);
        ArgumentNullException.ThrowIfNull(steps);
        _arena = arena;
        _steps = steps;
        foreach (CheckedStep step in steps)
        {
            if (step.Phase == "forward") _forwardSteps++;
            else if (step.Phase == "backward") _backwardSteps++;
        }
    }

    /// <summary>The first non-finite value found, or null.</summary>
    public NonFiniteFinding? Finding { get; private set; }

    /// <summary>Whether the batch itself (an input or a target) was found to hold a non-finite value.</summary>
    public bool BatchIsNonFinite => Finding?.InBatch == true;

    /// <summary>
    /// Checks what step <paramref name="step"/> (an index into the table) wrote, with <paramref name="rows"/>
    /// rows; true when a non-finite value was found there or earlier (the schedule then returns).
    /// </summary>
    public bool Stop(int step, int rows)
    {
        if (Finding is not null) return true;
        CheckedStep s = _steps[step];
        int[] r = s.RowRegions;
        for (int i = 0; i + 1 < r.Length; i += 2)
        {
            int at = First(_arena.AsSpan(r[i], checked(rows * r[i + 1])));
            if (at >= 0) return Found(s, step, at / r[i + 1], at % r[i + 1], _arena[r[i] + at]);
        }

        int[] f = s.FixedRegions;
        for (int i = 0; i + 1 < f.Length; i += 2)
        {
            int at = First(_arena.AsSpan(f[i], f[i + 1]));
            if (at >= 0) return Found(s, step, -1, at, _arena[f[i] + at]);
        }

        return false;
    }

    /// <summary>Checks the parameter tensors in <paramref name="parameters"/> (in table order).</summary>
    public bool Parameters(ReadOnlySpan<T> parameters, ReadOnlySpan<ParameterTensor> tensors)
    {
        if (Finding is not null) return true;
        foreach (ParameterTensor tensor in tensors)
        {
            int at = First(parameters.Slice(tensor.Offset, tensor.Length));
            if (at >= 0)
            {
                Finding = new NonFiniteFinding("parameter", tensor.Name, "", -1, 0, -1, at, Describe(parameters[tensor.Offset + at]));
                return true;
            }
        }

        return false;
    }

    /// <summary>Checks a batch's inputs or targets, <paramref name="width"/> values per row.</summary>
    /// <param name="kind">"input" or "target".</param>
    /// <param name="name">The argument's name, as the message shows it.</param>
    /// <param name="values">The values, row after row.</param>
    /// <param name="width">Values per row.</param>
    public bool Rows<TValue>(string kind, string name, ReadOnlySpan<TValue> values, int width)
        where TValue : unmanaged, IFloatingPointIeee754<TValue>
    {
        if (Finding is not null) return true;
        int at = NonFiniteGuard.FirstNonFinite(values);
        if (at < 0) return false;
        int w = Math.Max(1, width);
        Finding = new NonFiniteFinding(kind, name, "", -1, 0, at / w, at % w, Describe(values[at]));
        return true;
    }

    private bool Found(CheckedStep s, int step, int row, int column, T value)
    {
        int index = step, count = 1;
        if (s.Phase == "forward") count = _forwardSteps;
        else if (s.Phase == "backward") { index = step - (_steps.Length - _backwardSteps); count = _backwardSteps; }
        else index = 0;
        Finding = new NonFiniteFinding(s.Phase, s.Layer, s.Operation, index, count, row, column, Describe(value));
        return true;
    }

    private static int First(ReadOnlySpan<T> values) => NonFiniteGuard.FirstNonFinite(values);

    private static string Describe<TValue>(TValue value) where TValue : IFloatingPointIeee754<TValue> =>
        TValue.IsNaN(value) ? "NaN" : TValue.IsPositiveInfinity(value) ? "+∞" : TValue.IsNegativeInfinity(value) ? "−∞" : value.ToString(null, CultureInfo.InvariantCulture);
}
