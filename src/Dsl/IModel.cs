using System;
using Dsl.Optimizers;
using Dsl.Runtime;

namespace Dsl;

/// <summary>
/// Every generated [Model] class: its compiled float engine and its parameter checkpoints. Lets
/// code written once (full-state checkpoints, <c>Dsl.Training.Trainer</c>) work with any model.
/// </summary>
public interface IModel
{
    /// <summary>The compiled float engine (the same object as the model's <c>Compiled</c>).</summary>
    IEngine<float> Engine { get; }

    /// <summary>Saves the parameters as safetensors (see the model's own <c>Save</c>).</summary>
    void Save(string path);

    /// <summary>Loads parameters saved by <see cref="Save"/> (see the model's own <c>Load</c>).</summary>
    void Load(string path);
}

/// <summary>
/// A generated model trained with one target per example: labels (<typeparamref name="TTarget"/> = int),
/// regression targets or pair scores (float). <typeparamref name="TInput"/> is float for feature
/// inputs and int for token ids. Multi-task models, which take one target span per task, implement
/// <see cref="IMultiTaskModel{TInput}"/> instead.
/// </summary>
/// <remarks>
/// An <em>example</em> is what one target row belongs to: one input row (or one sequence of
/// <c>Sequence</c> rows) for most models, one pair of sequences for a pair loss (CoSENT, cosine-MSE).
/// </remarks>
public interface ISupervisedModel<TInput, TTarget> : IModel
    where TInput : unmanaged
    where TTarget : unmanaged
{
    /// <summary>Most examples one <see cref="TrainStep"/> takes (MaxBatch, or MaxBatch / 2 pairs).</summary>
    int MaxExamples { get; }

    /// <summary>Input values per example (Sequence × InputFeatures, twice that for a pair).</summary>
    int InputsPerExample { get; }

    /// <summary>Target values per example: a label per row, OutputFeatures per row, or one score per pair.</summary>
    int TargetsPerExample { get; }

    /// <summary>Values <see cref="Predict"/> writes per example.</summary>
    int OutputsPerExample { get; }

    /// <summary>Features per output row (the number of classes of a classifier).</summary>
    int OutputFeatures { get; }

    /// <summary>One training step on up to <see cref="MaxExamples"/> examples; returns the batch loss. Allocates nothing.</summary>
    float TrainStep(ReadOnlySpan<TInput> inputs, ReadOnlySpan<TTarget> targets, Optimizer optimizer);

    /// <summary>The loss over any number of examples, without dropout or updates.</summary>
    float Evaluate(ReadOnlySpan<TInput> inputs, ReadOnlySpan<TTarget> targets);

    /// <summary>The forward pass over any number of examples, dropout off.</summary>
    void Predict(ReadOnlySpan<TInput> inputs, Span<float> outputs);
}

/// <summary>
/// A generated model trained on several tasks at once (<c>Ops.MultiTask</c>): one target per task, passed
/// by the [Loss] method's parameter names in a <see cref="TaskTargets"/>. The model's own
/// <c>TrainStep(inputs, y, thumb, optimizer)</c> takes the same targets as separate spans.
/// </summary>
public interface IMultiTaskModel<TInput> : IModel
    where TInput : unmanaged
{
    /// <summary>Most examples one <see cref="TrainStep"/> takes (MaxBatch).</summary>
    int MaxExamples { get; }

    /// <summary>Input values per example (Sequence × InputFeatures).</summary>
    int InputsPerExample { get; }

    /// <summary>Values <see cref="Predict"/> writes per example (Forward's output).</summary>
    int OutputsPerExample { get; }

    /// <summary>Features per output row of Forward.</summary>
    int OutputFeatures { get; }

    /// <summary>The tasks in the order of <see cref="TaskLosses"/>: each one's target parameter, kind and width.</summary>
    ReadOnlySpan<TaskTarget> Tasks { get; }

    /// <summary>Each task's own loss in the last training or evaluation pass, in the order of <see cref="Tasks"/>.</summary>
    ReadOnlySpan<double> TaskLosses { get; }

    /// <summary>Each task's factor ∂L/∂L_i in the last training pass.</summary>
    ReadOnlySpan<double> TaskWeights { get; }

    /// <summary>One training step on up to <see cref="MaxExamples"/> examples; returns the combined loss. Allocates nothing.</summary>
    /// <exception cref="ArgumentException">A task's target is missing from <paramref name="targets"/>, or the shapes disagree.</exception>
    float TrainStep(ReadOnlySpan<TInput> inputs, TaskTargets targets, Optimizer optimizer);

    /// <summary>The combined loss over any number of examples without dropout or updates; writes each task's mean
    /// to <paramref name="taskLosses"/> (one per task, or empty to skip).</summary>
    float Evaluate(ReadOnlySpan<TInput> inputs, TaskTargets targets, Span<double> taskLosses);

    /// <summary>The forward pass over any number of examples, dropout off.</summary>
    void Predict(ReadOnlySpan<TInput> inputs, Span<float> outputs);
}
