using System;
using System.Collections.Generic;

namespace Dsl;

/// <summary>What a task's target holds: a class label per row, or values (a regression head's width per row).</summary>
public enum TaskTargetKind
{
    /// <summary>One int label per row (a <c>Labels</c> parameter of the [Loss] method).</summary>
    Labels,
    /// <summary>Float values per row (a <c>Tensor</c> parameter of the [Loss] method).</summary>
    Values,
}

/// <summary>One task of a multi-task model: its target parameter's name, what it holds, and how many values an example has.</summary>
/// <param name="Name">The [Loss] method's parameter name ("y", "thumb").</param>
/// <param name="Kind">Labels or values.</param>
/// <param name="PerExample">Target values per example (rows per example × values per row).</param>
public readonly record struct TaskTarget(string Name, TaskTargetKind Kind, int PerExample);

/// <summary>
/// The targets of a number of examples for each task of a multi-task model, by the [Loss] method's
/// parameter names: what <see cref="IMultiTaskModel{TInput}"/>'s <c>TrainStep</c> and <c>Evaluate</c>
/// take instead of one span per task.
/// </summary>
/// <remarks>
/// Holds one array per task. <see cref="Examples"/> says how many examples of them are in use, so
/// one object sized for the largest batch serves every batch of a run without allocating:
/// <code>
/// var targets = new TaskTargets(model.Tasks, capacity: 128);
/// labels.CopyTo(targets.LabelBuffer("y")); thumbnails.CopyTo(targets.ValueBuffer("thumb"));
/// targets.Examples = 128;
/// float loss = model.TrainStep(inputs, targets, optimizer);   // model seen as IMultiTaskModel&lt;float&gt;
/// </code>
/// Or wrap whole arrays (not copied): <c>TaskTargets.Of(examples).Add("y", labels, 1).Add("thumb", thumbnails, 49)</c>.
/// </remarks>
public sealed class TaskTargets
{
    private readonly List<TaskTarget> _tasks = new();
    private readonly List<Array> _arrays = new();
    private int _examples;

    private TaskTargets(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(capacity);
        Capacity = capacity;
    }

    /// <summary>Buffers for <paramref name="capacity"/> examples of each of <paramref name="tasks"/>; <see cref="Examples"/> starts at 0.</summary>
    /// <exception cref="ArgumentException">Two tasks have the same name, or a width is not positive.</exception>
    public TaskTargets(ReadOnlySpan<TaskTarget> tasks, int capacity)
        : this(capacity)
    {
        foreach (var task in tasks)
            Append(task, task.Kind == TaskTargetKind.Labels ? new int[checked(capacity * task.PerExample)] : new float[checked(capacity * task.PerExample)]);
    }

    /// <summary>An empty set for <paramref name="examples"/> examples, to <see cref="Add(string, int[], int)"/> whole arrays to.</summary>
    public static TaskTargets Of(int examples) => new(examples) { _examples = examples };

    /// <summary>The tasks, in the order they were given.</summary>
    public IReadOnlyList<TaskTarget> Tasks => _tasks;

    /// <summary>Most examples the arrays hold.</summary>
    public int Capacity { get; }

    /// <summary>Examples in use: the spans hold Examples × PerExample values.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Negative or more than <see cref="Capacity"/>.</exception>
    public int Examples
    {
        get => _examples;
        set
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value);
            ArgumentOutOfRangeException.ThrowIfGreaterThan(value, Capacity);
            _examples = value;
        }
    }

    /// <summary>Adds a labels task over <paramref name="labels"/> (not copied), <paramref name="perExample"/> labels an example.</summary>
    /// <exception cref="ArgumentException">The name is taken, or the array holds other than <see cref="Capacity"/> examples.</exception>
    public TaskTargets Add(string name, int[] labels, int perExample) => Append(new TaskTarget(name, TaskTargetKind.Labels, perExample), labels);

    /// <summary>Adds a values task over <paramref name="values"/> (not copied), <paramref name="perExample"/> values an example.</summary>
    /// <exception cref="ArgumentException">The name is taken, or the array holds other than <see cref="Capacity"/> examples.</exception>
    public TaskTargets Add(string name, float[] values, int perExample) => Append(new TaskTarget(name, TaskTargetKind.Values, perExample), values);

    /// <summary>The labels of task <paramref name="name"/> for the <see cref="Examples"/> in use.</summary>
    /// <exception cref="ArgumentException">No labels task has that name.</exception>
    public ReadOnlySpan<int> Labels(string name) => LabelBuffer(name)[..(_examples * _tasks[Find(name, TaskTargetKind.Labels)].PerExample)];

    /// <summary>The values of task <paramref name="name"/> for the <see cref="Examples"/> in use.</summary>
    /// <exception cref="ArgumentException">No values task has that name.</exception>
    public ReadOnlySpan<float> Values(string name) => ValueBuffer(name)[..(_examples * _tasks[Find(name, TaskTargetKind.Values)].PerExample)];

    /// <summary>The whole labels array of task <paramref name="name"/> (<see cref="Capacity"/> examples), to write into.</summary>
    /// <exception cref="ArgumentException">No labels task has that name.</exception>
    public Span<int> LabelBuffer(string name) => (int[])_arrays[Find(name, TaskTargetKind.Labels)];

    /// <summary>The whole values array of task <paramref name="name"/> (<see cref="Capacity"/> examples), to write into.</summary>
    /// <exception cref="ArgumentException">No values task has that name.</exception>
    public Span<float> ValueBuffer(string name) => (float[])_arrays[Find(name, TaskTargetKind.Values)];

    private TaskTargets Append(TaskTarget task, Array values)
    {
        ArgumentException.ThrowIfNullOrEmpty(task.Name);
        ArgumentNullException.ThrowIfNull(values);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(task.PerExample);
        foreach (var t in _tasks)
        {
            if (t.Name == task.Name) throw new ArgumentException($"a task named '{task.Name}' is already there", nameof(task));
        }

        if (values.Length != (long)Capacity * task.PerExample)
            throw new ArgumentException($"task '{task.Name}': {values.Length} values, not {Capacity} examples of {task.PerExample}", nameof(values));
        _tasks.Add(task);
        _arrays.Add(values);
        return this;
    }

    private int Find(string name, TaskTargetKind kind)
    {
        for (int i = 0; i < _tasks.Count; i++)
        {
            if (_tasks[i].Name != name) continue;
            if (_tasks[i].Kind != kind)
                throw new ArgumentException($"task '{name}' holds {_tasks[i].Kind.ToString().ToLowerInvariant()}, not {kind.ToString().ToLowerInvariant()}", nameof(name));
            return i;
        }

        throw new ArgumentException($"no task named '{name}'; the targets hold {Describe()}", nameof(name));
    }

    private string Describe()
    {
        if (_tasks.Count == 0) return "none";
        var parts = new string[_tasks.Count];
        for (int i = 0; i < parts.Length; i++) parts[i] = $"'{_tasks[i].Name}' ({_tasks[i].Kind.ToString().ToLowerInvariant()})";
        return string.Join(", ", parts);
    }
}
