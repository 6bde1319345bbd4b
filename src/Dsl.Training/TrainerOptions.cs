using System;
using System.IO;

namespace Dsl.Training;

/// <summary>How the trainer walks the training examples.</summary>
public enum BatchOrder
{
    /// <summary>A fresh permutation every epoch, a fixed function of (seed, epoch).</summary>
    Shuffle,
    /// <summary>The examples in order, every epoch.</summary>
    Sequential,
    /// <summary>Each example of each batch drawn uniformly with replacement from one seeded generator
    /// (nanoGPT's sampler); there are no epochs, so set <see cref="TrainerOptions.MaxSteps"/>.</summary>
    Sample,
}

/// <summary>Where the trainer's progress goes.</summary>
public enum ProgressDisplay
{
    /// <summary>A live line on an interactive terminal, plain lines when the output is redirected.</summary>
    Auto,
    /// <summary>Always the live line.</summary>
    Live,
    /// <summary>Always plain lines (every <see cref="TrainerOptions.PrintEvery"/> steps, plus one per epoch and evaluation).</summary>
    Lines,
    /// <summary>Nothing but the per-epoch and evaluation lines.</summary>
    Quiet,
    /// <summary>Nothing at all.</summary>
    None,
}

/// <summary>
/// Settings of a <see cref="Trainer"/> run. Every field has a working default; a sample sets a few and
/// lets <see cref="TrainingCommandLine"/> set the rest from its command line.
/// </summary>
public sealed class TrainerOptions
{
    /// <summary>
    /// The ranks of a data-parallel run (<see cref="Dsl.Distributed.Communicator.FromEnvironment"/>), or null for one
    /// process. With several ranks every rank runs the same loop over the same batches and trains on its shard of each
    /// (<see cref="Dsl.Distributed.DataParallel{T}"/>: gradients summed across ranks before clipping and the update,
    /// the loss averaged over the global batch); only rank 0 prints, writes the run folder and the checkpoints; every
    /// rank can resume from the same checkpoint, and every rank evaluates (so early stopping agrees).
    /// </summary>
    public Dsl.Distributed.ICommunicator? Communicator { get; set; }

    /// <summary>Epochs to train (ignored for <see cref="BatchOrder.Sample"/>). Default 1.</summary>
    public int Epochs { get; set; } = 1;

    /// <summary>Stop after this many steps in all (counting the steps of a resumed run); 0 for no step budget.</summary>
    public long MaxSteps { get; set; }

    /// <summary>Examples per step; 0 (the default) for the model's largest batch.</summary>
    public int BatchSize { get; set; }

    /// <summary>How batches are drawn. Default <see cref="BatchOrder.Shuffle"/>.</summary>
    public BatchOrder Order { get; set; } = BatchOrder.Shuffle;

    /// <summary>Leave out an epoch's last, partial batch (the default), so every step has the same size.</summary>
    public bool DropLast { get; set; } = true;

    /// <summary>Seed of the data order (the permutations or the sampler). Default 1.</summary>
    public ulong Seed { get; set; } = 1;

    /// <summary>The learning rate at each 0-based step (see <c>Dsl.Optimizers.LearningRateSchedule</c>); null keeps the optimizer's.</summary>
    public Func<long, double>? LearningRate { get; set; }

    /// <summary>Gradient clipping by global norm (sets the optimizer's MaxGradientNorm); 0 leaves the optimizer's setting.</summary>
    public double MaxGradientNorm { get; set; }

    /// <summary>Evaluate every this many steps; 0 (the default) at the end of every epoch (and of a step budget).</summary>
    public long EvaluateEvery { get; set; }

    /// <summary>Evaluate once before the first step too.</summary>
    public bool EvaluateAtStart { get; set; }

    /// <summary>Name of the validation split in lines and records ("validation", or "test" when that is what it is).</summary>
    public string ValidationName { get; set; } = "validation";

    /// <summary>Validation metric early stopping and the kept best model follow. Default "loss".</summary>
    public string Monitor { get; set; } = "loss";

    /// <summary>Whether a larger <see cref="Monitor"/> is better; null for the usual sense (<see cref="Trainer.HigherIsBetter"/>:
    /// accuracy and correlations higher, "loss" and others lower).</summary>
    public bool? MaximizeMonitor { get; set; }

    /// <summary>Stop after this many evaluations in a row without a better <see cref="Monitor"/> (by more than
    /// <see cref="MinDelta"/>); 0 (the default) never stops early.</summary>
    public int Patience { get; set; }

    /// <summary>The least change of <see cref="Monitor"/> that counts as better.</summary>
    public double MinDelta { get; set; }

    /// <summary>Write the parameters of the best evaluation so far to best.safetensors in the run folder. Default true.</summary>
    public bool KeepBest { get; set; } = true;

    /// <summary>The run folder: metrics.jsonl, loss.svg, best.safetensors, model.safetensors. Null writes none.</summary>
    public string? OutputDirectory { get; set; }

    /// <summary>Write a full-state checkpoint (<see cref="Dsl.Checkpoint"/>) here; null writes none.</summary>
    public string? CheckpointPath { get; set; }

    /// <summary>Checkpoint every this many steps; 0 (the default) at the end of every epoch (and of a step budget).</summary>
    public long CheckpointEvery { get; set; }

    /// <summary>Continue the run saved in this full-state checkpoint; null starts afresh.</summary>
    public string? ResumeFrom { get; set; }

    /// <summary>A training record goes to metrics.jsonl every this many steps (the mean loss since the last); 0 for about 200 records per run.</summary>
    public long LogEvery { get; set; }

    /// <summary>With plain-line progress, a line every this many steps; 0 for about 20 per run.</summary>
    public long PrintEvery { get; set; }

    /// <summary>How progress is shown. Default <see cref="ProgressDisplay.Auto"/>.</summary>
    public ProgressDisplay Progress { get; set; } = ProgressDisplay.Auto;

    /// <summary>Where lines go (default: the console).</summary>
    public TextWriter? Output { get; set; }

    /// <summary>The run's name in the plot's title and the first record; default: the model's name.</summary>
    public string? RunName { get; set; }

    /// <summary>
    /// The options of run <paramref name="name"/> of a program that trains several models one after another (a
    /// comparison of losses, say): a copy whose run folder is OUT/<paramref name="name"/>, whose checkpoint and
    /// resume files carry ".<paramref name="name"/>" before their extension (state.safetensors →
    /// state.<paramref name="name"/>.safetensors), and whose <see cref="RunName"/> is <paramref name="name"/>.
    /// </summary>
    /// <exception cref="ArgumentException">The name is empty or holds a character not allowed in a file name.</exception>
    public TrainerOptions ForRun(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (name.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0 || name.Contains('/') || name.Contains('\\'))
            throw new ArgumentException($"run name '{name}' is not a file name", nameof(name));
        var copy = (TrainerOptions)MemberwiseClone();
        copy.RunName = name;
        copy.OutputDirectory = OutputDirectory is null ? null : Path.Combine(OutputDirectory, name);
        copy.CheckpointPath = WithRun(CheckpointPath, name);
        copy.ResumeFrom = WithRun(ResumeFrom, name);
        return copy;
    }

    private static string? WithRun(string? path, string name)
    {
        if (path is null) return null;
        string extension = Path.GetExtension(path);
        return path[..^extension.Length] + "." + name + extension;
    }
}
