using System;
using System.Collections.Generic;
using System.Linq;

namespace Dsl.Training;

/// <summary>
/// Training or evaluation examples the <see cref="Trainer"/> gathers into batches: example i's inputs
/// and targets, copied on demand into the step's buffers.
/// </summary>
/// <typeparam name="TInput">float features or int token ids.</typeparam>
/// <typeparam name="TTarget">int labels or float targets/scores.</typeparam>
public abstract class Dataset<TInput, TTarget>
    where TInput : unmanaged
    where TTarget : unmanaged
{
    /// <summary>Number of examples.</summary>
    public abstract int Count { get; }

    /// <summary>Input values per example.</summary>
    public abstract int InputsPerExample { get; }

    /// <summary>Target values per example.</summary>
    public abstract int TargetsPerExample { get; }

    /// <summary>Copies the examples <paramref name="examples"/>, in that order, into
    /// <paramref name="inputs"/> and <paramref name="targets"/> (exactly examples.Length × the widths).
    /// Must not allocate: the trainer calls it every step.</summary>
    public abstract void Gather(ReadOnlySpan<int> examples, Span<TInput> inputs, Span<TTarget> targets);

    /// <summary>Every example in order, as two new arrays (for evaluation).</summary>
    public (TInput[] Inputs, TTarget[] Targets) Materialize()
    {
        var inputs = new TInput[(long)Count * InputsPerExample];
        var targets = new TTarget[(long)Count * TargetsPerExample];
        const int chunk = 1024;
        Span<int> indices = stackalloc int[chunk];
        for (int start = 0; start < Count; start += chunk)
        {
            int n = Math.Min(chunk, Count - start);
            for (int i = 0; i < n; i++) indices[i] = start + i;
            Gather(indices[..n], inputs.AsSpan(start * InputsPerExample, n * InputsPerExample), targets.AsSpan(start * TargetsPerExample, n * TargetsPerExample));
        }

        return (inputs, targets);
    }
}

/// <summary>Examples stored back to back in two arrays: example i is inputs[i·w .. (i + 1)·w) and likewise its targets.</summary>
public sealed class ArrayDataset<TInput, TTarget> : Dataset<TInput, TTarget>
    where TInput : unmanaged
    where TTarget : unmanaged
{
    private readonly TInput[] _inputs;
    private readonly TTarget[] _targets;

    /// <summary>Wraps the arrays (not copied).</summary>
    /// <exception cref="ArgumentException">A width is not positive, or the arrays do not hold the same whole number of examples.</exception>
    public ArrayDataset(TInput[] inputs, int inputsPerExample, TTarget[] targets, int targetsPerExample)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(targets);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(inputsPerExample);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(targetsPerExample);
        if (inputs.Length % inputsPerExample != 0)
            throw new ArgumentException($"inputs holds {inputs.Length} values, not a whole number of examples of {inputsPerExample}", nameof(inputs));
        if (targets.Length % targetsPerExample != 0)
            throw new ArgumentException($"targets holds {targets.Length} values, not a whole number of examples of {targetsPerExample}", nameof(targets));
        if (inputs.Length / inputsPerExample != targets.Length / targetsPerExample)
            throw new ArgumentException($"inputs holds {inputs.Length / inputsPerExample} examples but targets {targets.Length / targetsPerExample}", nameof(targets));
        _inputs = inputs;
        _targets = targets;
        InputsPerExample = inputsPerExample;
        TargetsPerExample = targetsPerExample;
    }

    /// <inheritdoc />
    public override int Count => _targets.Length / TargetsPerExample;

    /// <inheritdoc />
    public override int InputsPerExample { get; }

    /// <inheritdoc />
    public override int TargetsPerExample { get; }

    /// <inheritdoc />
    public override void Gather(ReadOnlySpan<int> examples, Span<TInput> inputs, Span<TTarget> targets)
    {
        int wi = InputsPerExample, wt = TargetsPerExample;
        for (int r = 0; r < examples.Length; r++)
        {
            int e = examples[r];
            _inputs.AsSpan(e * wi, wi).CopyTo(inputs.Slice(r * wi, wi));
            _targets.AsSpan(e * wt, wt).CopyTo(targets.Slice(r * wt, wt));
        }
    }
}

/// <summary>
/// Next-token windows of a token sequence (a character corpus): example i is ids[i .. i + block) with
/// targets ids[i + 1 .. i + block + 1), for every i with a full window, so Count = length − block.
/// Drawn with <see cref="BatchOrder.Sample"/> this is nanoGPT's batch sampler, draw for draw the same
/// as <c>Dsl.IO.CharCorpus.SampleBatch</c> from the same generator.
/// </summary>
public sealed class TokenWindows : Dataset<int, int>
{
    private readonly int[] _ids;

    /// <summary>Wraps <paramref name="ids"/> (not copied) with windows of <paramref name="block"/> tokens.</summary>
    /// <exception cref="ArgumentException">block is not positive or the sequence is shorter than block + 1.</exception>
    public TokenWindows(int[] ids, int block)
    {
        ArgumentNullException.ThrowIfNull(ids);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(block);
        if (ids.Length < block + 1)
            throw new ArgumentException($"the sequence has {ids.Length} tokens; windows of {block} need at least {block + 1}", nameof(ids));
        _ids = ids;
        Block = block;
    }

    /// <summary>Tokens per window.</summary>
    public int Block { get; }

    /// <inheritdoc />
    public override int Count => _ids.Length - Block;

    /// <inheritdoc />
    public override int InputsPerExample => Block;

    /// <inheritdoc />
    public override int TargetsPerExample => Block;

    /// <inheritdoc />
    public override void Gather(ReadOnlySpan<int> examples, Span<int> inputs, Span<int> targets)
    {
        for (int r = 0; r < examples.Length; r++)
        {
            int i = examples[r];
            _ids.AsSpan(i, Block).CopyTo(inputs.Slice(r * Block, Block));
            _ids.AsSpan(i + 1, Block).CopyTo(targets.Slice(r * Block, Block));
        }
    }
}

/// <summary>
/// Examples of a multi-task model: each example's inputs and a target for every task, by the [Loss]
/// method's parameter names, copied on demand into the step's buffers.
/// </summary>
/// <typeparam name="TInput">float features or int token ids.</typeparam>
public abstract class TaskDataset<TInput>
    where TInput : unmanaged
{
    /// <summary>Number of examples.</summary>
    public abstract int Count { get; }

    /// <summary>Input values per example.</summary>
    public abstract int InputsPerExample { get; }

    /// <summary>The tasks whose targets the examples carry (name, kind, values per example).</summary>
    public abstract IReadOnlyList<TaskTarget> Tasks { get; }

    /// <summary>Copies the examples <paramref name="examples"/>, in that order, into <paramref name="inputs"/>
    /// (exactly examples.Length × InputsPerExample) and into the start of each of <paramref name="targets"/>'
    /// buffers (found by name). Must not allocate: the trainer calls it every step.</summary>
    public abstract void Gather(ReadOnlySpan<int> examples, Span<TInput> inputs, TaskTargets targets);

    /// <summary>Every example in order, as new arrays (for evaluation).</summary>
    public (TInput[] Inputs, TaskTargets Targets) Materialize()
    {
        var inputs = new TInput[(long)Count * InputsPerExample];
        var targets = new TaskTargets(Tasks.ToArray(), Count) { Examples = Count };
        var all = new int[Count];
        for (int i = 0; i < all.Length; i++) all[i] = i;
        Gather(all, inputs, targets);
        return (inputs, targets);
    }
}

/// <summary>A multi-task dataset over whole arrays: example i is inputs[i·w .. (i + 1)·w) and each task's
/// i-th block of values in <see cref="TaskTargets"/> made with <c>TaskTargets.Of(count).Add(…)</c>.</summary>
/// <remarks>
/// <code>
/// var train = new ArrayTaskDataset&lt;float&gt;(images, 784, TaskTargets.Of(count).Add("y", labels, 1).Add("thumb", thumbnails, 49));
/// </code>
/// </remarks>
public sealed class ArrayTaskDataset<TInput> : TaskDataset<TInput>
    where TInput : unmanaged
{
    private readonly TInput[] _inputs;
    private readonly TaskTargets _targets;
    private readonly TaskTarget[] _tasks;

    /// <summary>Wraps the arrays (not copied).</summary>
    /// <exception cref="ArgumentException">The width is not positive, there are no tasks, or the inputs do not hold
    /// the targets' number of examples.</exception>
    public ArrayTaskDataset(TInput[] inputs, int inputsPerExample, TaskTargets targets)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(targets);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(inputsPerExample);
        if (targets.Tasks.Count == 0) throw new ArgumentException("no tasks: add each task's targets with TaskTargets.Add", nameof(targets));
        if (inputs.Length != (long)targets.Capacity * inputsPerExample)
            throw new ArgumentException($"inputs holds {inputs.Length} values, not the targets' {targets.Capacity} examples of {inputsPerExample}", nameof(inputs));
        _inputs = inputs;
        _targets = targets;
        _tasks = targets.Tasks.ToArray();
        InputsPerExample = inputsPerExample;
    }

    /// <inheritdoc />
    public override int Count => _targets.Capacity;

    /// <inheritdoc />
    public override int InputsPerExample { get; }

    /// <inheritdoc />
    public override IReadOnlyList<TaskTarget> Tasks => _tasks;

    /// <inheritdoc />
    public override void Gather(ReadOnlySpan<int> examples, Span<TInput> inputs, TaskTargets targets)
    {
        ArgumentNullException.ThrowIfNull(targets);
        int wi = InputsPerExample;
        for (int r = 0; r < examples.Length; r++) _inputs.AsSpan(examples[r] * wi, wi).CopyTo(inputs.Slice(r * wi, wi));
        var wanted = targets.Tasks;
        for (int k = 0; k < wanted.Count; k++) // the destination's tasks: a task the model does not train is not copied
        {
            var task = wanted[k];
            if (task.Kind == TaskTargetKind.Labels) Copy(examples, _targets.LabelBuffer(task.Name), targets.LabelBuffer(task.Name), task.PerExample);
            else Copy(examples, _targets.ValueBuffer(task.Name), targets.ValueBuffer(task.Name), task.PerExample);
        }
    }

    private static void Copy<T>(ReadOnlySpan<int> examples, Span<T> from, Span<T> to, int width)
    {
        for (int r = 0; r < examples.Length; r++) from.Slice(examples[r] * width, width).CopyTo(to.Slice(r * width, width));
    }
}
