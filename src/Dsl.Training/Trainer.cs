using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using Dsl.Optimizers;
using Dsl.Runtime;

namespace Dsl.Training;

/// <summary>One training step on the examples <paramref name="examples"/> of the training set: gather them,
/// compute the gradients, apply <paramref name="optimizer"/>; returns the batch loss.</summary>
/// <remarks>The seam for anything that is not a plain <c>TrainStep</c>: a GPU trainer, a multi-task model's
/// several targets, or a data-parallel step that reduces the gradients before it applies them.</remarks>
public delegate float BatchStep(ReadOnlySpan<int> examples, Optimizer optimizer);

/// <summary>A typed training step on gathered buffers (the default is the model's own <c>TrainStep</c>).</summary>
public delegate float TrainStep<TInput, TTarget>(ReadOnlySpan<TInput> inputs, ReadOnlySpan<TTarget> targets, Optimizer optimizer)
    where TInput : unmanaged
    where TTarget : unmanaged;

/// <summary>A metric over a split: the model's outputs for every example and their targets.</summary>
public delegate double Metric<TTarget>(ReadOnlySpan<float> outputs, ReadOnlySpan<TTarget> targets)
    where TTarget : unmanaged;

/// <summary>A multi-task model's training step on gathered buffers (the default is the model's own <c>TrainStep</c>).</summary>
public delegate float TaskStep<TInput>(ReadOnlySpan<TInput> inputs, TaskTargets targets, Optimizer optimizer)
    where TInput : unmanaged;

/// <summary>A metric of a multi-task model over a split: Forward's outputs for every example and every task's targets.</summary>
public delegate double TaskMetric(ReadOnlySpan<float> outputs, TaskTargets targets);

/// <summary>
/// The training loop users do not write: batches drawn in a seeded order, a learning-rate schedule,
/// clipping, evaluation with metrics, early stopping, the best model kept, full-state checkpoints and
/// exact resume, a progress display, and a run folder with metrics.jsonl and loss.svg.
/// </summary>
/// <remarks>
/// <para>For example:</para>
/// <code>
/// var trainer = new Trainer(model, new AdamW(1e-3), new TrainerOptions { Epochs = 10, OutputDirectory = "runs/mlp" });
/// TrainingResult result = trainer.Fit(new ArrayDataset&lt;float, int&gt;(x, 784, y, 1), validation);
/// </code>
/// <para>Every number of a run is a fixed function of the model's seed, <see cref="TrainerOptions.Seed"/>
/// and the options: epoch e's order is the permutation drawn from (seed, e), so a run resumed from a
/// checkpoint (<see cref="TrainerOptions.ResumeFrom"/>) sees the same batches, learning rates, dropout
/// masks and optimizer state as one that never stopped, and its losses and parameters are bit for bit
/// the same on the CPU.</para>
/// </remarks>
public sealed class Trainer
{
    private const string Prefix = "train.";
    private readonly List<(string Name, Func<IReadOnlyDictionary<string, double>> Evaluate)> _splits = new();
    private readonly List<object> _metrics = new();

    /// <summary>A trainer of <paramref name="model"/> with <paramref name="optimizer"/>.</summary>
    public Trainer(IModel model, Optimizer optimizer, TrainerOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(optimizer);
        Model = model;
        Optimizer = optimizer;
        Options = options ?? new TrainerOptions();
    }

    /// <summary>The model.</summary>
    public IModel Model { get; }

    /// <summary>The optimizer.</summary>
    public Optimizer Optimizer { get; }

    /// <summary>The settings.</summary>
    public TrainerOptions Options { get; }

    /// <summary>Runs before every evaluation and checkpoint (for a GPU run: bring the parameters back to the host).</summary>
    public Action? BeforeEvaluate { get; set; }

    /// <summary>Says whether the last step's update was skipped (a guarded step that saw a non-finite value); null: never.</summary>
    public Func<bool>? LastStepSkipped { get; set; }

    /// <summary>A multi-task run's per-task losses of the last step (in the order of the model's Tasks), for a step that
    /// does not run on the CPU model (a GPU trainer's TaskLosses); null reads the model's.</summary>
    public Func<ReadOnlySpan<double>>? LastTaskLosses { get; set; }

    /// <summary>Adds a metric computed on every evaluated split of target type <typeparamref name="TTarget"/>.</summary>
    public Trainer AddMetric<TTarget>(string name, Metric<TTarget> metric)
        where TTarget : unmanaged
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(metric);
        _metrics.Add((name, metric));
        return this;
    }

    /// <summary>Adds a metric of a multi-task model, computed on every evaluated split of a multi-task run.</summary>
    public Trainer AddTaskMetric(string name, TaskMetric metric)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(metric);
        _metrics.Add((name, metric));
        return this;
    }

    /// <summary>Adds a split of a multi-task model, evaluated with the validation split.</summary>
    public Trainer AddSplit<TInput>(string name, TaskDataset<TInput> data)
        where TInput : unmanaged
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(data);
        _splits.Add((name, TaskEvaluator(MultiTask<TInput>(), data)));
        return this;
    }

    /// <summary>Adds a split evaluated with the validation split (a fixed sample of the training data, a test set).</summary>
    public Trainer AddSplit<TInput, TTarget>(string name, Dataset<TInput, TTarget> data)
        where TInput : unmanaged
        where TTarget : unmanaged
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(data);
        _splits.Add((name, Evaluator(Supervised<TInput, TTarget>(), data)));
        return this;
    }

    /// <summary>Adds a split evaluated by <paramref name="evaluate"/> ("loss" and any other metrics).</summary>
    public Trainer AddSplit(string name, Func<IReadOnlyDictionary<string, double>> evaluate)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(evaluate);
        _splits.Add((name, evaluate));
        return this;
    }

    /// <summary>
    /// Trains on <paramref name="train"/> and evaluates <paramref name="validation"/> (loss, accuracy for
    /// a classifier, every added metric) as the options say. <paramref name="step"/> replaces the model's
    /// <c>TrainStep</c> (a GPU trainer's, say) on the gathered batch.
    /// </summary>
    /// <exception cref="ArgumentException">The model is not trained on <typeparamref name="TInput"/> inputs and
    /// <typeparamref name="TTarget"/> targets, or the datasets' widths are not the model's.</exception>
    public TrainingResult Fit<TInput, TTarget>(Dataset<TInput, TTarget> train, Dataset<TInput, TTarget>? validation = null, TrainStep<TInput, TTarget>? step = null)
        where TInput : unmanaged
        where TTarget : unmanaged
    {
        ArgumentNullException.ThrowIfNull(train);
        var model = Supervised<TInput, TTarget>();
        Check(model, train, nameof(train));
        if (validation is not null) Check(model, validation, nameof(validation));
        int batch = BatchSize(model.MaxExamples);
        var inputs = new TInput[batch * model.InputsPerExample];
        var targets = new TTarget[batch * model.TargetsPerExample];
        TrainStep<TInput, TTarget> train1 = step ?? model.TrainStep;
        var world = Options.Communicator;
        if (world is { Size: > 1 } && step is not null)
            throw new NotSupportedException("a data-parallel run (Options.Communicator with several ranks) trains with the model's own TrainStep; for another step, use Fit(examples, BatchStep, …) and shard inside it (DataParallel.Shard).");
        Distributed.DataParallel<float>? parallel = null;
        float Step(ReadOnlySpan<int> examples, Optimizer optimizer)
        {
            if (world is { Size: > 1 })
            {
                // Attached at the first step, after a resume has loaded the checkpoint on every rank: it checks that
                // the ranks start from the same parameters.
                parallel ??= new Distributed.DataParallel<float>(world, Model.Engine as Distributed.IDataParallelEngine<float>
                    ?? throw new NotSupportedException($"{Model.Engine.ModelName}'s engine does not take part in data parallelism."));
                var shard = parallel.Shard(examples.Length);
                examples = examples.Slice(shard.Start, shard.Count);
            }

            var x = inputs.AsSpan(0, examples.Length * model.InputsPerExample);
            var y = targets.AsSpan(0, examples.Length * model.TargetsPerExample);
            train.Gather(examples, x, y);
            float loss = train1(x, y, optimizer);
            return parallel is null ? loss : (float)parallel.GlobalLoss(loss);
        }

        try
        {
            return Run(train.Count, Step, validation is null ? null : Evaluator(model, validation), model.MaxExamples, tasks: null, sharded: true);
        }
        finally
        {
            parallel?.Dispose();
        }
    }

    /// <summary>
    /// Trains a multi-task model (<see cref="IMultiTaskModel{TInput}"/>) on <paramref name="train"/>, whose examples carry
    /// a target for every task, and evaluates <paramref name="validation"/>: the combined "loss", each task's mean loss
    /// ("NAME_loss", NAME the task's target parameter), and every <see cref="AddTaskMetric"/> metric. The training records
    /// and epoch summaries carry each task's mean training loss too. <paramref name="step"/> replaces the model's
    /// <c>TrainStep</c> (a GPU trainer's; then set <see cref="LastTaskLosses"/>).
    /// </summary>
    /// <exception cref="ArgumentException">The model is not a multi-task model on <typeparamref name="TInput"/> inputs, or a
    /// dataset's widths or tasks are not the model's.</exception>
    public TrainingResult Fit<TInput>(TaskDataset<TInput> train, TaskDataset<TInput>? validation = null, TaskStep<TInput>? step = null)
        where TInput : unmanaged
    {
        ArgumentNullException.ThrowIfNull(train);
        var model = MultiTask<TInput>();
        Check(model, train, nameof(train));
        if (validation is not null) Check(model, validation, nameof(validation));
        int batch = BatchSize(model.MaxExamples);
        var inputs = new TInput[batch * model.InputsPerExample];
        var targets = new TaskTargets(model.Tasks, batch);
        TaskStep<TInput> train1 = step ?? model.TrainStep;
        float Step(ReadOnlySpan<int> examples, Optimizer optimizer)
        {
            var x = inputs.AsSpan(0, examples.Length * model.InputsPerExample);
            targets.Examples = examples.Length;
            train.Gather(examples, x, targets);
            return train1(x, targets, optimizer);
        }

        var names = new string[model.Tasks.Length];
        for (int i = 0; i < names.Length; i++) names[i] = model.Tasks[i].Name;
        ReadOnlySpan<double> Losses() => LastTaskLosses is { } losses ? losses() : model.TaskLosses;
        return Run(train.Count, Step, validation is null ? null : TaskEvaluator(model, validation), model.MaxExamples, new TaskFeed(names, Losses), sharded: false);
    }

    /// <summary>
    /// The loop itself, for any kind of step: <paramref name="step"/> trains on the given example indices
    /// of a training set of <paramref name="trainExamples"/>; <paramref name="validation"/>, if given,
    /// returns the validation metrics ("loss" at least).
    /// </summary>
    public TrainingResult Fit(int trainExamples, BatchStep step, Func<IReadOnlyDictionary<string, double>>? validation, int maxExamplesPerStep) =>
        Run(trainExamples, step, validation, maxExamplesPerStep, tasks: null, sharded: false);

    /// <summary>The loop; <paramref name="tasks"/> names a multi-task model's tasks and reads their losses after each step;
    /// <paramref name="sharded"/>: the step trains this rank's shard of each batch (the typed Fit with a communicator).</summary>
    private TrainingResult Run(int trainExamples, BatchStep step, Func<IReadOnlyDictionary<string, double>>? validation, int maxExamplesPerStep, TaskFeed? tasks, bool sharded)
    {
        ArgumentNullException.ThrowIfNull(step);
        if (Options.Communicator is { Size: > 1 } && !sharded)
            throw new NotSupportedException("a data-parallel run (Options.Communicator with several ranks) needs the typed Fit(train, validation), which shards each batch; a BatchStep would train every rank on the whole batch.");
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(trainExamples);
        var o = Options;
        int batch = BatchSize(maxExamplesPerStep);
        if (batch > trainExamples && o.DropLast && o.Order != BatchOrder.Sample)
            throw new ArgumentException($"the training set has {trainExamples} examples, fewer than one batch of {batch}; use a smaller BatchSize or DropLast = false");
        bool sampled = o.Order == BatchOrder.Sample;
        if (sampled && o.MaxSteps <= 0)
            throw new ArgumentException("BatchOrder.Sample has no epochs: set MaxSteps");
        if (o.MaxGradientNorm > 0) Optimizer.MaxGradientNorm = o.MaxGradientNorm;

        long stepsPerEpoch = sampled ? o.MaxSteps : o.DropLast ? trainExamples / batch : (trainExamples + batch - 1) / batch;
        int epochs = sampled ? 1 : o.Epochs;
        long total = sampled ? o.MaxSteps : o.MaxSteps > 0 ? Math.Min(o.MaxSteps, epochs * stepsPerEpoch) : epochs * stepsPerEpoch;
        long logEvery = o.LogEvery > 0 ? o.LogEvery : Math.Max(1, total / 200);
        long printEvery = o.PrintEvery > 0 ? o.PrintEvery : Math.Max(1, total / 20);
        var splits = new List<(string Name, Func<IReadOnlyDictionary<string, double>> Evaluate)>();
        if (validation is not null) splits.Add((o.ValidationName, validation));
        splits.AddRange(_splits);

        int taskCount = tasks?.Names.Length ?? 0;
        var state = new LoopState(taskCount) { Seed = o.Seed };
        var sampler = new SeededRandom(o.Seed);
        var result = new TrainingResult();
        if (o.ResumeFrom is not null)
        {
            var metadata = Checkpoint.Load(o.ResumeFrom, Model, Optimizer);
            state = LoopState.Read(metadata, o.ResumeFrom, o, trainExamples, batch, sampler, taskCount);
            result.ResumedAt = state.Step;
            if (state.BestStep >= 0)
                result.Best = new Evaluation(o.ValidationName, state.BestStep, 0, new Dictionary<string, double> { [o.Monitor] = state.Best });
        }

        string title = o.RunName ?? Model.Engine.ModelName;
        // Data parallel: rank 0 alone prints and writes; the others run the same loop silently.
        bool lead = o.Communicator is null || o.Communicator.Rank == 0;
        using RunFolder? folder = o.OutputDirectory is null || !lead ? null : new RunFolder(o.OutputDirectory, result.ResumedAt);
        if (folder is not null && result.ResumedAt is null)
        {
            folder.Write("run", new Dictionary<string, object?>
            {
                ["name"] = title, ["model"] = Model.Engine.ModelName, ["optimizer"] = Optimizer.Describe(), ["examples"] = trainExamples,
                ["batch"] = batch, ["epochs"] = sampled ? null : epochs, ["steps"] = total, ["order"] = o.Order.ToString(), ["seed"] = (long)o.Seed, ["step"] = 0L,
            });
        }

        var view = ProgressView.Create(o, printEvery, !sampled, silent: !lead);
        var clock = Stopwatch.StartNew();
        var trainingClock = new Stopwatch();
        long firstStepHere = state.Step;
        var order = new int[sampled ? batch : trainExamples];
        bool maximize = o.MaximizeMonitor ?? HigherIsBetter(o.Monitor);

        void Evaluate(int epoch, string? epochText)
        {
            if (splits.Count == 0)
            {
                if (epochText is not null) view.Line(epochText);
                return;
            }

            BeforeEvaluate?.Invoke();
            var line = new System.Text.StringBuilder(epochText ?? $"step {state.Step,6}");
            foreach (var (name, evaluate) in splits)
            {
                var metrics = evaluate();
                var evaluation = new Evaluation(name, state.Step, epoch, metrics);
                result.Evaluations.Add(evaluation);
                foreach (var (key, value) in metrics) line.Append(CultureInfo.InvariantCulture, $"  {name} {key} {value:F4}");
                if (folder is not null)
                {
                    var fields = new List<KeyValuePair<string, object?>> { new("step", state.Step), new("epoch", epoch), new("split", name) };
                    foreach (var (key, value) in metrics) fields.Add(new(key, value));
                    folder.Write("eval", fields);
                }

                if (name != o.ValidationName) continue;
                result.LastValidation = evaluation;
                double value2 = evaluation[o.Monitor];
                bool better = state.BestStep < 0 || (maximize ? value2 > state.Best + o.MinDelta : value2 < state.Best - o.MinDelta);
                if (better && double.IsFinite(value2))
                {
                    state.Best = value2;
                    state.BestStep = state.Step;
                    state.BadEvaluations = 0;
                    result.Best = evaluation;
                    if (o.KeepBest && folder is not null) Model.Save(folder.PathOf("best.safetensors"));
                }
                else
                {
                    state.BadEvaluations++;
                }
            }

            if (epochText is not null && trainingClock.Elapsed.TotalSeconds > 0)
                line.Append(CultureInfo.InvariantCulture, $"  ({clock.Elapsed.TotalSeconds:F1} s)");
            view.Line(line.ToString());
        }

        void SaveCheckpoint()
        {
            if (o.CheckpointPath is null || !lead) return;
            BeforeEvaluate?.Invoke();
            Checkpoint.Save(o.CheckpointPath, Model, Optimizer, state.Write(o, trainExamples, batch, sampler));
        }

        bool Stop() => o.Patience > 0 && state.BadEvaluations >= o.Patience;

        view.Run(() =>
        {
            if (o.EvaluateAtStart && result.ResumedAt is null) Evaluate(0, null);
            for (int epoch = state.Epoch; epoch < epochs && state.Step < total && !result.StoppedEarly; epoch++)
            {
                if (!sampled)
                {
                    for (int i = 0; i < order.Length; i++) order[i] = i;
                    if (o.Order == BatchOrder.Shuffle) new SeededRandom(EpochSeed(state.Seed, epoch)).Shuffle(order);
                }

                var epochClock = Stopwatch.StartNew();
                long stepsHere = 0;
                for (long b = state.Batch; b < stepsPerEpoch && state.Step < total; b++)
                {
                    ReadOnlySpan<int> examples;
                    if (sampled)
                    {
                        for (int r = 0; r < batch; r++) order[r] = sampler.NextInt(trainExamples);
                        examples = order;
                    }
                    else
                    {
                        int start = (int)(b * batch);
                        examples = order.AsSpan(start, Math.Min(batch, trainExamples - start));
                    }

                    if (o.LearningRate is not null) Optimizer.LearningRate = o.LearningRate(state.Step);
                    trainingClock.Start();
                    float loss = step(examples, Optimizer);
                    trainingClock.Stop();
                    bool skipped = LastStepSkipped?.Invoke() ?? false;
                    state.Step++;
                    state.Batch = b + 1;
                    stepsHere++;
                    if (skipped)
                    {
                        state.EpochSkipped++;
                        state.LogSkipped++;
                    }
                    else
                    {
                        state.EpochLossSum += loss;
                        state.EpochSteps++;
                        state.LogLossSum += loss;
                        state.LogSteps++;
                        if (tasks is not null)
                        {
                            var losses = tasks.Losses();
                            for (int t = 0; t < taskCount; t++)
                            {
                                state.EpochTaskSums[t] += losses[t];
                                state.LogTaskSums[t] += losses[t];
                            }
                        }
                    }

                    double seconds = trainingClock.Elapsed.TotalSeconds;
                    long done = state.Step - firstStepHere;
                    double rate = seconds > 0 ? done * (double)batch / seconds : 0;
                    var eta = seconds > 0 ? TimeSpan.FromSeconds((total - state.Step) * seconds / done) : TimeSpan.Zero;
                    if (state.Step % logEvery == 0 || state.Step == total)
                    {
                        if (folder is not null)
                        {
                            var record = new List<KeyValuePair<string, object?>>
                            {
                                new("step", state.Step), new("epoch", epoch + 1), new("loss", state.LogSteps > 0 ? state.LogLossSum / state.LogSteps : double.NaN),
                            };
                            for (int t = 0; t < taskCount; t++) record.Add(new(TaskLossKey(tasks!.Names[t]), state.LogSteps > 0 ? state.LogTaskSums[t] / state.LogSteps : double.NaN));
                            record.Add(new("lr", Optimizer.LearningRate));
                            record.Add(new("grad_norm", Optimizer.LastGradientNorm));
                            record.Add(new("skipped", state.LogSkipped));
                            record.Add(new("samples_per_second", rate));
                            record.Add(new("elapsed_seconds", clock.Elapsed.TotalSeconds));
                            folder.Write("train", record);
                        }

                        state.LogLossSum = 0;
                        state.LogSteps = 0;
                        state.LogSkipped = 0;
                        Array.Clear(state.LogTaskSums);
                    }

                    double shown = state.EpochSteps > 0 ? state.EpochLossSum / state.EpochSteps : double.NaN;
                    view.Update(new ProgressState(state.Step, total, epoch + 1, epochs, shown, Optimizer.LearningRate, rate, eta, state.EpochSkipped));
                    bool last = state.Step == total;
                    if (o.EvaluateEvery > 0 && (state.Step % o.EvaluateEvery == 0 || last))
                    {
                        Evaluate(epoch + 1, null);
                        if (Stop())
                        {
                            result.StoppedEarly = true;
                            break;
                        }
                    }

                    if (o.CheckpointEvery > 0 && state.Step % o.CheckpointEvery == 0 && b + 1 < stepsPerEpoch && !last) SaveCheckpoint();
                }

                bool finished = state.Batch >= stepsPerEpoch;
                double epochSeconds = epochClock.Elapsed.TotalSeconds;
                double epochLoss = state.EpochSteps > 0 ? state.EpochLossSum / state.EpochSteps : double.NaN;
                if (finished && !sampled)
                {
                    Dictionary<string, double>? taskLosses = null;
                    if (tasks is not null)
                    {
                        taskLosses = new Dictionary<string, double>(StringComparer.Ordinal);
                        for (int t = 0; t < taskCount; t++) taskLosses[tasks.Names[t]] = state.EpochSteps > 0 ? state.EpochTaskSums[t] / state.EpochSteps : double.NaN;
                    }

                    var summary = new EpochSummary(epoch + 1, epochLoss, state.EpochSteps + state.EpochSkipped, state.EpochSkipped, epochSeconds, stepsHere * (double)batch / epochSeconds, taskLosses);
                    result.Epochs.Add(summary);
                    if (folder is not null)
                    {
                        var record = new List<KeyValuePair<string, object?>> { new("step", state.Step), new("epoch", epoch + 1), new("train_loss", epochLoss) };
                        foreach (var (name, value) in taskLosses ?? new Dictionary<string, double>()) record.Add(new("train_" + TaskLossKey(name), value));
                        record.Add(new("skipped", state.EpochSkipped));
                        record.Add(new("seconds", epochSeconds));
                        record.Add(new("samples_per_second", summary.SamplesPerSecond));
                        folder.Write("epoch", record);
                    }

                    string text = string.Create(CultureInfo.InvariantCulture, $"epoch {epoch + 1,2}/{epochs}  train loss {epochLoss:F4}{(state.EpochSkipped > 0 ? $" ({state.EpochSkipped} skipped)" : "")}  {summary.SamplesPerSecond:F0} samples/s");
                    if (o.EvaluateEvery == 0 && !result.StoppedEarly) Evaluate(epoch + 1, text);
                    else view.Line(text);
                    state.Epoch = epoch + 1;
                    state.Batch = 0;
                    state.EpochLossSum = 0;
                    state.EpochSteps = 0;
                    state.EpochSkipped = 0;
                    Array.Clear(state.EpochTaskSums);
                    if (Stop()) result.StoppedEarly = true;
                    if (o.CheckpointEvery == 0 || state.Step == total || result.StoppedEarly) SaveCheckpoint();
                }
                else
                {
                    // A step budget (or early stopping) ended the run inside an epoch: evaluate and keep the position.
                    if (o.EvaluateEvery == 0 && !result.StoppedEarly) Evaluate(epoch + 1, null);
                    SaveCheckpoint();
                }
            }
        });

        result.Steps = state.Step;
        result.Elapsed = clock.Elapsed;
        if (folder is not null)
        {
            BeforeEvaluate?.Invoke();
            Model.Save(folder.PathOf("model.safetensors"));
            folder.Plot(title);
            view.Line($"run folder {folder.Directory}: metrics.jsonl, loss.svg, model.safetensors{(o.KeepBest && result.Best is not null && splits.Count > 0 ? ", best.safetensors" : "")}");
        }

        return result;
    }

    /// <summary>Evaluates <paramref name="data"/> now: "loss", "accuracy" for a classifier, and the added metrics.</summary>
    public IReadOnlyDictionary<string, double> Evaluate<TInput, TTarget>(Dataset<TInput, TTarget> data)
        where TInput : unmanaged
        where TTarget : unmanaged => Evaluator(Supervised<TInput, TTarget>(), data)();

    /// <summary>Evaluates a multi-task model on <paramref name="data"/> now: the combined "loss", each task's "NAME_loss", and the added task metrics.</summary>
    public IReadOnlyDictionary<string, double> Evaluate<TInput>(TaskDataset<TInput> data)
        where TInput : unmanaged => TaskEvaluator(MultiTask<TInput>(), data)();

    /// <summary>The usual sense of a metric: accuracy and correlations (names containing "accuracy", "spearman",
    /// "pearson" or "correlation") are better higher, anything else lower.</summary>
    public static bool HigherIsBetter(string metric)
    {
        ArgumentNullException.ThrowIfNull(metric);
        foreach (string word in (ReadOnlySpan<string>)["accuracy", "spearman", "pearson", "correlation"])
        {
            if (metric.Contains(word, StringComparison.OrdinalIgnoreCase)) return true;
        }

        return false;
    }

    /// <summary>The metric name of a task's loss: its target parameter's name and "_loss" ("thumb_loss").</summary>
    public static string TaskLossKey(string task) => task + "_loss";

    /// <summary>The seed of epoch <paramref name="epoch"/>'s permutation.</summary>
    internal static ulong EpochSeed(ulong seed, int epoch) => unchecked(seed + (0x9E3779B97F4A7C15UL * (ulong)(epoch + 1)));

    private Func<IReadOnlyDictionary<string, double>> Evaluator<TInput, TTarget>(ISupervisedModel<TInput, TTarget> model, Dataset<TInput, TTarget> data)
        where TInput : unmanaged
        where TTarget : unmanaged
    {
        Check(model, data, nameof(data));
        TInput[]? inputs = null;
        TTarget[]? targets = null;
        float[]? outputs = null;
        var metrics = _metrics.OfType<(string Name, Metric<TTarget> Metric)>().ToList();
        bool classifier = typeof(TTarget) == typeof(int) && model.OutputsPerExample == model.TargetsPerExample * model.OutputFeatures;
        return () =>
        {
            (inputs, targets) = inputs is null ? data.Materialize() : (inputs, targets!);
            var result = new Dictionary<string, double>(StringComparer.Ordinal) { ["loss"] = model.Evaluate(inputs, targets) };
            if (classifier || metrics.Count > 0)
            {
                outputs ??= new float[data.Count * model.OutputsPerExample];
                model.Predict(inputs, outputs);
                if (classifier) result["accuracy"] = Accuracy(outputs, (int[])(object)targets, model.OutputFeatures);
                foreach (var (name, metric) in metrics) result[name] = metric(outputs, targets);
            }

            return result;
        };
    }

    private Func<IReadOnlyDictionary<string, double>> TaskEvaluator<TInput>(IMultiTaskModel<TInput> model, TaskDataset<TInput> data)
        where TInput : unmanaged
    {
        Check(model, data, nameof(data));
        TInput[]? inputs = null;
        TaskTargets? targets = null;
        float[]? outputs = null;
        var losses = new double[model.Tasks.Length];
        var names = new string[losses.Length];
        for (int i = 0; i < names.Length; i++) names[i] = model.Tasks[i].Name;
        var metrics = _metrics.OfType<(string Name, TaskMetric Metric)>().ToList();
        return () =>
        {
            if (inputs is null) (inputs, targets) = data.Materialize();
            var result = new Dictionary<string, double>(StringComparer.Ordinal) { ["loss"] = model.Evaluate(inputs, targets!, losses) };
            for (int i = 0; i < losses.Length; i++) result[TaskLossKey(names[i])] = losses[i];
            if (metrics.Count > 0)
            {
                outputs ??= new float[data.Count * model.OutputsPerExample];
                model.Predict(inputs, outputs);
                foreach (var (name, metric) in metrics) result[name] = metric(outputs, targets!);
            }

            return result;
        };
    }

    /// <summary>Fraction of rows whose largest output is the label.</summary>
    public static double Accuracy(ReadOnlySpan<float> outputs, ReadOnlySpan<int> labels, int classes)
    {
        if (labels.Length == 0) return double.NaN;
        int correct = 0;
        for (int r = 0; r < labels.Length; r++)
        {
            var row = outputs.Slice(r * classes, classes);
            int best = 0;
            for (int c = 1; c < classes; c++)
            {
                if (row[c] > row[best]) best = c;
            }

            if (best == labels[r]) correct++;
        }

        return (double)correct / labels.Length;
    }

    private ISupervisedModel<TInput, TTarget> Supervised<TInput, TTarget>()
        where TInput : unmanaged
        where TTarget : unmanaged =>
        Model as ISupervisedModel<TInput, TTarget>
        ?? throw new ArgumentException($"model {Model.Engine.ModelName} is not trained on {typeof(TInput).Name} inputs with {typeof(TTarget).Name} targets (a multi-task model takes several targets: use Fit(examples, step, …) with its own step)");

    private IMultiTaskModel<TInput> MultiTask<TInput>()
        where TInput : unmanaged =>
        Model as IMultiTaskModel<TInput>
        ?? throw new ArgumentException($"model {Model.Engine.ModelName} is not a multi-task model on {typeof(TInput).Name} inputs (Ops.MultiTask in its [Loss]); train a one-target model with Fit(Dataset<TInput, TTarget>, …)");

    private static void Check<TInput>(IMultiTaskModel<TInput> model, TaskDataset<TInput> data, string name)
        where TInput : unmanaged
    {
        if (data.InputsPerExample != model.InputsPerExample)
            throw new ArgumentException($"{name}: examples of {data.InputsPerExample} inputs; model {model.Engine.ModelName} takes {model.InputsPerExample}", name);
        foreach (var task in model.Tasks)
        {
            TaskTarget? found = null;
            foreach (var t in data.Tasks)
            {
                if (t.Name == task.Name) found = t;
            }

            if (found is not { } have)
                throw new ArgumentException($"{name}: no targets for task '{task.Name}' of model {model.Engine.ModelName} (the data has {string.Join(", ", data.Tasks.Select(t => $"'{t.Name}'"))})", name);
            if (have.Kind != task.Kind || have.PerExample != task.PerExample)
                throw new ArgumentException($"{name}: task '{task.Name}' has {have.PerExample} {have.Kind.ToString().ToLowerInvariant()} per example; model {model.Engine.ModelName} takes {task.PerExample} {task.Kind.ToString().ToLowerInvariant()}", name);
        }
    }

    private static void Check<TInput, TTarget>(ISupervisedModel<TInput, TTarget> model, Dataset<TInput, TTarget> data, string name)
        where TInput : unmanaged
        where TTarget : unmanaged
    {
        if (data.InputsPerExample != model.InputsPerExample || data.TargetsPerExample != model.TargetsPerExample)
            throw new ArgumentException($"{name}: examples of {data.InputsPerExample} inputs and {data.TargetsPerExample} targets; model {model.Engine.ModelName} takes {model.InputsPerExample} and {model.TargetsPerExample}", name);
    }

    private int BatchSize(int max)
    {
        int batch = Options.BatchSize > 0 ? Options.BatchSize : max;
        if (batch > max)
            throw new ArgumentException($"BatchSize {batch} is more than the {max} examples one step of {Model.Engine.ModelName} takes");
        return batch;
    }

    /// <summary>A multi-task run's task names and where the last step's task losses are read.</summary>
    private sealed record TaskFeed(string[] Names, Func<ReadOnlySpan<double>> Losses);

    /// <summary>Where the loop is: what a checkpoint records besides the model and optimizer.</summary>
    private sealed class LoopState(int tasks)
    {
        public long Step;
        public int Epoch;
        public long Batch;
        public ulong Seed;
        public double EpochLossSum;
        public long EpochSteps, EpochSkipped;
        public double LogLossSum;
        public long LogSteps, LogSkipped;
        public double Best = double.NaN;
        public long BestStep = -1;
        public int BadEvaluations;
        public readonly double[] EpochTaskSums = new double[tasks];
        public readonly double[] LogTaskSums = new double[tasks];

        public Dictionary<string, string> Write(TrainerOptions o, int examples, int batch, SeededRandom sampler)
        {
            Span<ulong> words = stackalloc ulong[SeededRandom.StateLength];
            sampler.GetState(words);
            var c = CultureInfo.InvariantCulture;
            return new Dictionary<string, string>(StringComparer.Ordinal)
            {
                [Prefix + "step"] = Step.ToString(c),
                [Prefix + "epoch"] = Epoch.ToString(c),
                [Prefix + "batch"] = Batch.ToString(c),
                [Prefix + "seed"] = Seed.ToString(c),
                [Prefix + "order"] = o.Order.ToString(),
                [Prefix + "batch_size"] = batch.ToString(c),
                [Prefix + "examples"] = examples.ToString(c),
                [Prefix + "sampler"] = string.Join(",", words.ToArray().Select(w => w.ToString("x16", c))),
                [Prefix + "epoch_loss_sum"] = EpochLossSum.ToString("R", c),
                [Prefix + "epoch_steps"] = EpochSteps.ToString(c),
                [Prefix + "epoch_skipped"] = EpochSkipped.ToString(c),
                [Prefix + "log_loss_sum"] = LogLossSum.ToString("R", c),
                [Prefix + "log_steps"] = LogSteps.ToString(c),
                [Prefix + "log_skipped"] = LogSkipped.ToString(c),
                [Prefix + "best"] = Best.ToString("R", c),
                [Prefix + "best_step"] = BestStep.ToString(c),
                [Prefix + "bad_evaluations"] = BadEvaluations.ToString(c),
                [Prefix + "epoch_task_loss_sums"] = string.Join(",", EpochTaskSums.Select(v => v.ToString("R", c))),
                [Prefix + "log_task_loss_sums"] = string.Join(",", LogTaskSums.Select(v => v.ToString("R", c))),
            };
        }

        public static LoopState Read(IReadOnlyDictionary<string, string> m, string path, TrainerOptions o, int examples, int batch, SeededRandom sampler, int tasks)
        {
            string Get(string key) => m.TryGetValue(Prefix + key, out string? v) ? v : throw new Dsl.IO.InvalidDataException(path, $"metadata '{Prefix}{key}' is missing: the checkpoint was not written by Dsl.Training.Trainer");
            long Long(string key) => long.TryParse(Get(key), NumberStyles.Integer, CultureInfo.InvariantCulture, out long v) ? v : throw new Dsl.IO.InvalidDataException(path, $"metadata '{Prefix}{key}' is '{Get(key)}', not an integer");
            double Double(string key) => double.TryParse(Get(key), NumberStyles.Float, CultureInfo.InvariantCulture, out double v) ? v : throw new Dsl.IO.InvalidDataException(path, $"metadata '{Prefix}{key}' is '{Get(key)}', not a number");
            void Same(string key, string expected, string what)
            {
                if (Get(key) != expected)
                    throw new Dsl.IO.InvalidDataException(path, $"was written with {what} {Get(key)}; this run has {expected}: resume with the same data and data order");
            }

            var c = CultureInfo.InvariantCulture;
            Same("seed", o.Seed.ToString(c), "data seed");
            Same("order", o.Order.ToString(), "batch order");
            Same("batch_size", batch.ToString(c), "batch size");
            Same("examples", examples.ToString(c), "a training set of");
            string[] words = Get("sampler").Split(',');
            Span<ulong> state = stackalloc ulong[SeededRandom.StateLength];
            if (words.Length != state.Length)
                throw new Dsl.IO.InvalidDataException(path, $"metadata '{Prefix}sampler' holds {words.Length} words, not {state.Length}");
            for (int i = 0; i < words.Length; i++)
            {
                if (!ulong.TryParse(words[i], NumberStyles.AllowHexSpecifier, c, out state[i]))
                    throw new Dsl.IO.InvalidDataException(path, $"metadata '{Prefix}sampler' word {i} is '{words[i]}', not hexadecimal");
            }

            void Sums(string key, double[] into)
            {
                // A checkpoint written before task losses were recorded has none: only a run without tasks can read it.
                string text = m.TryGetValue(Prefix + key, out string? v) ? v : into.Length == 0 ? "" : Get(key);
                string[] parts = text.Length == 0 ? [] : text.Split(',');
                if (parts.Length != into.Length)
                    throw new Dsl.IO.InvalidDataException(path, $"metadata '{Prefix}{key}' holds {parts.Length} task losses; this run's model has {into.Length} tasks");
                for (int i = 0; i < parts.Length; i++)
                {
                    if (!double.TryParse(parts[i], NumberStyles.Float, c, out into[i]))
                        throw new Dsl.IO.InvalidDataException(path, $"metadata '{Prefix}{key}' value {i} is '{parts[i]}', not a number");
                }
            }

            sampler.SetState(state);
            var loop = new LoopState(tasks)
            {
                Step = Long("step"), Epoch = (int)Long("epoch"), Batch = Long("batch"), Seed = o.Seed,
                EpochLossSum = Double("epoch_loss_sum"), EpochSteps = Long("epoch_steps"), EpochSkipped = Long("epoch_skipped"),
                LogLossSum = Double("log_loss_sum"), LogSteps = Long("log_steps"), LogSkipped = Long("log_skipped"),
                Best = Double("best"), BestStep = Long("best_step"), BadEvaluations = (int)Long("bad_evaluations"),
            };
            Sums("epoch_task_loss_sums", loop.EpochTaskSums);
            Sums("log_task_loss_sums", loop.LogTaskSums);
            return loop;
        }
    }
}
