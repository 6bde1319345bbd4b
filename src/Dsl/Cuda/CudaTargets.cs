using System;
using System.Globalization;

namespace Dsl.Cuda;

/// <summary>
/// The targets of a multi-task step (one per target parameter of the model's [Loss] method), gathered on the host
/// before <see cref="CudaTrainer.TrainStep(ReadOnlySpan{float}, CudaTargets, Optimizers.Optimizer)"/> stages them in
/// two copies. Create one per trainer with <see cref="CudaTrainer.CreateTargets"/> and reuse it: setting a target copies
/// it into buffers allocated once, so a step allocates nothing.
/// </summary>
public sealed class CudaTargets
{
    private readonly CudaMultiTask _spec;
    private readonly int _maxRows;
    private readonly int[] _labels;
    private readonly float[] _tensors;
    private readonly int[] _rows;

    /// <summary>Buffers for <paramref name="program"/>'s targets.</summary>
    /// <exception cref="ArgumentException">The program has no multi-task loss.</exception>
    public CudaTargets(CudaProgram program)
    {
        ArgumentNullException.ThrowIfNull(program);
        _spec = program.MultiTask ?? throw new ArgumentException($"{program.Model} has a single loss: pass its labels or targets directly.", nameof(program));
        _maxRows = program.MaxRows;
        var (labels, tensors) = _spec.StagingLengths(_maxRows);
        _labels = new int[labels];
        _tensors = new float[tensors];
        _rows = new int[_spec.Targets.Count];
        Array.Fill(_rows, -1);
    }

    /// <summary>The targets' descriptions, in the [Loss] method's order.</summary>
    public CudaMultiTask Spec => _spec;

    /// <summary>Sets the labels target <paramref name="name"/> (one class index per row).</summary>
    /// <exception cref="ArgumentException">No labels target has that name, or more than MaxRows labels.</exception>
    public CudaTargets SetLabels(string name, ReadOnlySpan<int> labels)
    {
        int index = Find(name, labels: true);
        var target = _spec.Targets[index];
        if (labels.Length > _maxRows)
            throw new ArgumentException($"target '{name}' takes at most {_maxRows} labels (one per row); got {labels.Length}.", nameof(labels));
        labels.CopyTo(_labels.AsSpan(target.Offset));
        _rows[index] = labels.Length;
        return this;
    }

    /// <summary>Sets the tensor target <paramref name="name"/> (its width per row, row-major).</summary>
    /// <exception cref="ArgumentException">No tensor target has that name, or the values are not whole rows of its width, or more than MaxRows rows.</exception>
    public CudaTargets SetTensor(string name, ReadOnlySpan<float> values)
    {
        int index = Find(name, labels: false);
        var target = _spec.Targets[index];
        if (values.Length % target.Width != 0 || values.Length / target.Width > _maxRows)
            throw new ArgumentException($"target '{name}' takes whole rows of {target.Width} floats, at most {_maxRows} rows; got {values.Length} values.", nameof(values));
        values.CopyTo(_tensors.AsSpan(target.Offset));
        _rows[index] = values.Length / target.Width;
        return this;
    }

    /// <summary>Forgets every target set so far (the next step needs them all again).</summary>
    public void Clear() => Array.Fill(_rows, -1);

    /// <summary>Checks that every target is set for <paramref name="rows"/> rows.</summary>
    /// <exception cref="ArgumentException">A target is missing or has another row count; the message names it.</exception>
    internal void Require(int rows)
    {
        for (int i = 0; i < _rows.Length; i++)
        {
            var target = _spec.Targets[i];
            if (_rows[i] < 0)
                throw new ArgumentException($"target '{target.Name}' is not set: every step needs {Describe()}.", "targets");
            if (_rows[i] != rows)
                throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"target '{target.Name}' has {_rows[i]} rows but the inputs have {rows}."), "targets");
        }
    }

    /// <summary>The staged labels (every labels target at its offset).</summary>
    internal ReadOnlySpan<int> Labels => _labels;

    /// <summary>The staged tensor targets.</summary>
    internal ReadOnlySpan<float> Tensors => _tensors;

    internal int[] LabelArray => _labels;

    internal float[] TensorArray => _tensors;

    private int Find(string name, bool labels)
    {
        ArgumentNullException.ThrowIfNull(name);
        int index = _spec.TargetIndex(name);
        if (index < 0)
            throw new ArgumentException($"the model has no target '{name}'; its targets are {Describe()}.", nameof(name));
        if (_spec.Targets[index].IsLabels != labels)
            throw new ArgumentException($"target '{name}' is {CudaTaskWeights.Describe(_spec.Targets[index])}: set it with {(labels ? nameof(SetTensor) : nameof(SetLabels))}.", nameof(name));
        return index;
    }

    private string Describe() => string.Join(", ", System.Linq.Enumerable.Select(_spec.Targets, CudaTaskWeights.Describe));
}
