using System;
using System.Collections.Generic;

namespace Dsl.Training;

/// <summary>The metrics of one evaluation of one split.</summary>
/// <param name="Split">The split's name ("validation", "test", "train", …).</param>
/// <param name="Step">Steps taken when it ran.</param>
/// <param name="Epoch">The 1-based epoch it ran in (or after).</param>
/// <param name="Metrics">"loss", "accuracy" for a classifier, and every added metric.</param>
public sealed record Evaluation(string Split, long Step, int Epoch, IReadOnlyDictionary<string, double> Metrics)
{
    /// <summary>The metric <paramref name="name"/>, or NaN when it was not computed.</summary>
    public double this[string name] => Metrics.TryGetValue(name, out double value) ? value : double.NaN;
}

/// <summary>The summary of one finished epoch.</summary>
/// <param name="Epoch">1-based.</param>
/// <param name="TrainLoss">Mean of the epoch's step losses.</param>
/// <param name="Steps">Steps in the epoch.</param>
/// <param name="SkippedSteps">Steps whose update the model skipped (a non-finite loss or gradient).</param>
/// <param name="Seconds">Wall time of the epoch's steps (evaluation excluded); for a resumed epoch, of the part this process ran.</param>
/// <param name="SamplesPerSecond">Examples per second over those steps.</param>
/// <param name="TaskLosses">A multi-task run's mean training loss of each task, by its target's name; null otherwise.</param>
public sealed record EpochSummary(int Epoch, double TrainLoss, long Steps, long SkippedSteps, double Seconds, double SamplesPerSecond, IReadOnlyDictionary<string, double>? TaskLosses = null);

/// <summary>What <see cref="Trainer"/>'s Fit did.</summary>
public sealed class TrainingResult
{
    /// <summary>Steps taken in all (a resumed run counts the earlier ones too).</summary>
    public long Steps { get; internal set; }
    /// <summary>The epochs finished in this process.</summary>
    public List<EpochSummary> Epochs { get; } = new();
    /// <summary>Every evaluation of this process, in order.</summary>
    public List<Evaluation> Evaluations { get; } = new();
    /// <summary>The best validation evaluation (by the monitored metric) of the whole run, or null.</summary>
    public Evaluation? Best { get; internal set; }
    /// <summary>True when early stopping ended the run.</summary>
    public bool StoppedEarly { get; internal set; }
    /// <summary>Step the run resumed from, or null.</summary>
    public long? ResumedAt { get; internal set; }
    /// <summary>Wall time of this process's Fit.</summary>
    public TimeSpan Elapsed { get; internal set; }
    /// <summary>The last evaluation of the validation split, or null.</summary>
    public Evaluation? LastValidation { get; internal set; }
}
