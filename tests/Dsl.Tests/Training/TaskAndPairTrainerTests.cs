using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using Dsl.Optimizers;
using Dsl.Runtime;
using Dsl.Tests.EndToEnd;
using Dsl.Tests.IO;
using Dsl.Training;
using Xunit;

namespace Dsl.Tests.Training;

/// <summary>The training loop with several targets (a multi-task model: per-task losses in the evaluations, the
/// training records and the epoch summaries) and with pairs (a CoSENT encoder: pair batches, a Spearman metric),
/// each resumed mid-epoch bit for bit; the run names of a program that trains several models; no allocation
/// per step.</summary>
public sealed class TaskAndPairTrainerTests
{
    private const int Features = 5, Classes = 4, Box = 3;

    /// <summary>Examples for the MultiTask*Net models: 5 features, a label of 4 classes and 3 regression values.</summary>
    private static TaskDataset<float> TaskData(int count, ulong seed)
    {
        var random = new SeededRandom(seed);
        var x = new float[count * Features];
        var y = new int[count];
        var box = new float[count * Box];
        for (int i = 0; i < x.Length; i++) x[i] = (float)random.NextGaussian();
        for (int r = 0; r < count; r++)
        {
            y[r] = (x[r * Features] > 0 ? 1 : 0) + (x[(r * Features) + 1] > 0 ? 2 : 0);
            for (int k = 0; k < Box; k++) box[(r * Box) + k] = 0.5f * x[(r * Features) + k + 2];
        }

        return new ArrayTaskDataset<float>(x, Features, TaskTargets.Of(count).Add("y", y, 1).Add("box", box, Box));
    }

    /// <summary>Pairs for CoSentPairs: two sequences of 4 ids (pads at the end) and a score from 0 to 5 per pair.</summary>
    private static ArrayDataset<int, float> PairData(int pairs, ulong seed)
    {
        int[] ids = LossGradientCheckTests.PairIds(2 * pairs, CoSentPairs.Sequence, 11, seed);
        var random = new SeededRandom(seed + 1);
        var scores = new float[pairs];
        for (int i = 0; i < pairs; i++) scores[i] = (float)(5 * random.NextDouble());
        return new ArrayDataset<int, float>(ids, 2 * CoSentPairs.Sequence, scores, 1);
    }

    private static TrainerOptions Options(string? outDir) => new()
    {
        Epochs = 3, Seed = 5, LearningRate = step => 5e-3 / (1 + (0.1 * step)), MaxGradientNorm = 2.0,
        OutputDirectory = outDir, Progress = ProgressDisplay.None,
    };

    /// <summary>metrics.jsonl's eval and epoch records without the timing fields.</summary>
    private static string[] Records(string folder) => File.ReadAllLines(Path.Combine(folder, RunFolder.MetricsFile))
        .Select(line => JsonDocument.Parse(line).RootElement)
        .Where(r => r.GetProperty("kind").GetString() is "eval" or "epoch")
        .Select(r => string.Join(",", r.EnumerateObject().Where(p => p.Name is not ("seconds" or "samples_per_second" or "elapsed_seconds")).Select(p => $"{p.Name}={p.Value}")))
        .ToArray();

    public static TheoryData<string> MultiTaskModels => new() { nameof(MultiTaskInitialNet), nameof(MultiTaskUncertaintyNet), nameof(MultiTaskLogSumNet) };

    private static IMultiTaskModel<float> Create(string name, ulong seed) => name switch
    {
        nameof(MultiTaskInitialNet) => new MultiTaskInitialNet(seed),
        nameof(MultiTaskUncertaintyNet) => new MultiTaskUncertaintyNet(seed),
        nameof(MultiTaskLogSumNet) => new MultiTaskLogSumNet(seed),
        _ => throw new ArgumentException(name),
    };

    private static Trainer MultiTaskTrainer(IMultiTaskModel<float> model, TrainerOptions options)
    {
        var trainer = new Trainer(model, new AdamW(5e-3), options);
        trainer.AddTaskMetric("accuracy", (outputs, targets) => Trainer.Accuracy(outputs, targets.Labels("y"), Classes));
        return trainer;
    }

    [Theory]
    [MemberData(nameof(MultiTaskModels))]
    public void A_multi_task_run_resumed_mid_epoch_matches_the_uninterrupted_run_bit_for_bit(string name)
    {
        using var dir = new TempDirectory();
        TaskDataset<float> train = TaskData(100, 3), validation = TaskData(30, 4);

        var straight = Create(name, 2);
        var straightResult = MultiTaskTrainer(straight, Options(dir.File("straight"))).Fit(train, validation);
        Assert.Equal(48, straightResult.Steps); // 100 / 6 = 16 steps per epoch, 3 epochs

        string state = dir.File("state.safetensors");
        var options = Options(dir.File("resumed"));
        options.MaxSteps = 21; // inside epoch 2
        options.CheckpointPath = state;
        MultiTaskTrainer(Create(name, 2), options).Fit(train, validation);

        var resumed = Create(name, 77); // another seed: the checkpoint supplies everything
        var resumedOptions = Options(dir.File("resumed"));
        resumedOptions.ResumeFrom = state;
        var resumedResult = MultiTaskTrainer(resumed, resumedOptions).Fit(train, validation);

        Assert.Equal(21, resumedResult.ResumedAt);
        Assert.True(straight.Engine.Arena.AsSpan(0, straight.Engine.Parameters.Length).SequenceEqual(resumed.Engine.Arena.AsSpan(0, resumed.Engine.Parameters.Length)), "parameters differ");
        Assert.True(straight.Engine.OptimizerState.SequenceEqual(resumed.Engine.OptimizerState), "optimizer state differs");
        // Epochs 2 and 3 finished in the resumed process: the same combined and per-task means, to the bit.
        Assert.Equal(straightResult.Epochs.Skip(1).Select(e => e.TrainLoss), resumedResult.Epochs.Select(e => e.TrainLoss));
        Assert.Equal(straightResult.Epochs.Skip(1).Select(e => e.TaskLosses!["box"]), resumedResult.Epochs.Select(e => e.TaskLosses!["box"]));
        Assert.Equal(straightResult.LastValidation!.Metrics, resumedResult.LastValidation!.Metrics);
        Assert.Equal(Records(dir.File("straight")), Records(dir.File("resumed")).Where(r => !r.Contains("step=21,", StringComparison.Ordinal)));
    }

    [Fact]
    public void A_multi_task_run_reports_each_tasks_loss_in_evaluations_training_records_and_epoch_summaries()
    {
        using var dir = new TempDirectory();
        TaskDataset<float> train = TaskData(60, 3), validation = TaskData(30, 4);
        var model = new MultiTaskUncertaintyNet(1);
        var perStep = new List<(float Loss, double Y, double Box)>();
        var options = Options(dir.File("run"));
        options.LogEvery = 5;
        var trainer = MultiTaskTrainer(model, options);
        // The model's own step, recording what the model says each task's loss was.
        var result = trainer.Fit(train, validation, (x, t, o) =>
        {
            float loss = ((IMultiTaskModel<float>)model).TrainStep(x, t, o);
            perStep.Add((loss, model.Compiled.TaskLosses[0], model.Compiled.TaskLosses[1]));
            return loss;
        });

        Assert.Equal(30, perStep.Count); // 10 steps per epoch
        var tasks = ((IMultiTaskModel<float>)model).Tasks.ToArray();
        Assert.Equal(new[] { new TaskTarget("y", TaskTargetKind.Labels, 1), new TaskTarget("box", TaskTargetKind.Values, 3) }, tasks);
        for (int e = 0; e < 3; e++)
        {
            var steps = perStep.Skip(10 * e).Take(10).ToList();
            Assert.Equal(steps.Sum(s => s.Y) / 10, result.Epochs[e].TaskLosses!["y"], 12);
            Assert.Equal(steps.Sum(s => s.Box) / 10, result.Epochs[e].TaskLosses!["box"], 12);
        }

        // The evaluation's per-task means are the model's own Evaluate over the whole split.
        var (inputs, targets) = validation.Materialize();
        var means = new double[2];
        float combined = ((IMultiTaskModel<float>)model).Evaluate(inputs, targets, means);
        var last = result.LastValidation!;
        Assert.Equal(combined, last["loss"]);
        Assert.Equal(means[0], last["y_loss"]);
        Assert.Equal(means[1], last["box_loss"]);
        var logits = new float[30 * Classes];
        model.Predict(inputs, logits);
        int correct = 0;
        for (int r = 0; r < 30; r++)
        {
            var row = logits.AsSpan(r * Classes, Classes);
            if (row.IndexOf(System.Linq.Enumerable.Max(row.ToArray())) == targets.Labels("y")[r]) correct++;
        }

        Assert.Equal(correct / 30.0, last["accuracy"]);

        var records = File.ReadAllLines(Path.Combine(dir.File("run"), RunFolder.MetricsFile)).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        var firstTrain = records.First(r => r.GetProperty("kind").GetString() == "train");
        Assert.Equal(5, firstTrain.GetProperty("step").GetInt64());
        Assert.Equal(perStep.Take(5).Sum(s => s.Box) / 5, firstTrain.GetProperty("box_loss").GetDouble(), 12);
        Assert.Equal(perStep.Take(5).Sum(s => s.Y) / 5, firstTrain.GetProperty("y_loss").GetDouble(), 12);
        var epoch = records.First(r => r.GetProperty("kind").GetString() == "epoch");
        Assert.Equal(result.Epochs[0].TaskLosses!["y"], epoch.GetProperty("train_y_loss").GetDouble());
        Assert.Contains(records, r => r.GetProperty("kind").GetString() == "eval" && r.TryGetProperty("box_loss", out _) && r.TryGetProperty("accuracy", out _));
    }

    [Fact]
    public void A_multi_task_dataset_must_carry_every_task_of_the_model_and_a_one_target_model_is_not_a_multi_task_one()
    {
        var x = new float[12 * Features];
        var wrongWidth = new ArrayTaskDataset<float>(x, Features, TaskTargets.Of(12).Add("y", new int[12], 1).Add("box", new float[24], 2));
        var e = Assert.Throws<ArgumentException>(() => new Trainer(new MultiTaskSumNet(1), new Sgd(0.1)).Fit(wrongWidth));
        Assert.Contains("task 'box' has 2 values per example; model MultiTaskSumNet takes 3 values", e.Message);
        var missing = new ArrayTaskDataset<float>(x, Features, TaskTargets.Of(12).Add("y", new int[12], 1).Add("bbox", new float[36], 3));
        e = Assert.Throws<ArgumentException>(() => new Trainer(new MultiTaskSumNet(1), new Sgd(0.1)).Fit(missing));
        Assert.Contains("no targets for task 'box'", e.Message);
        Assert.Contains("'bbox'", e.Message);
        e = Assert.Throws<ArgumentException>(() => new Trainer(new Dsl.Tests.Checkpoints.ResumePlain(1), new Sgd(0.1)).Fit(TaskData(12, 1)));
        Assert.Contains("not a multi-task model", e.Message);
    }

    [Fact]
    public void Task_targets_name_what_is_wrong()
    {
        var targets = TaskTargets.Of(4).Add("y", new int[4], 1).Add("box", new float[12], 3);
        Assert.Contains("task 'y' holds labels, not values", Assert.Throws<ArgumentException>(() => targets.Values("y").Length).Message);
        Assert.Contains("no task named 'z'; the targets hold 'y' (labels), 'box' (values)", Assert.Throws<ArgumentException>(() => targets.Labels("z").Length).Message);
        Assert.Contains("task 'box': 8 values, not 4 examples of 3", Assert.Throws<ArgumentException>(() => TaskTargets.Of(4).Add("box", new float[8], 3)).Message);
        Assert.Contains("already there", Assert.Throws<ArgumentException>(() => targets.Add("y", new int[4], 1)).Message);
        var buffers = new TaskTargets(targets.Tasks.ToArray(), capacity: 4) { Examples = 2 };
        Assert.Equal(2, buffers.Labels("y").Length);
        Assert.Equal(6, buffers.Values("box").Length);
        Assert.Throws<ArgumentOutOfRangeException>(() => buffers.Examples = 5);
    }

    [Fact]
    public void A_pair_run_with_a_spearman_metric_resumed_mid_epoch_matches_the_uninterrupted_run_bit_for_bit()
    {
        using var dir = new TempDirectory();
        ArrayDataset<int, float> train = PairData(30, 7), validation = PairData(20, 8);
        TrainerOptions PairOptions(string folder)
        {
            var o = Options(dir.File(folder));
            o.DropLast = false; // 30 pairs, 4 a step: 7 full batches and one of 2
            o.Monitor = "spearman";
            return o;
        }

        Trainer PairTrainer(CoSentPairs model, TrainerOptions o) => new Trainer(model, new AdamW(5e-3), o).AddMetric<float>("spearman", PairMetrics.CosineSpearman);

        var straight = new CoSentPairs(4);
        var straightResult = PairTrainer(straight, PairOptions("straight")).Fit(train, validation);
        Assert.Equal(24, straightResult.Steps);

        string state = dir.File("state.safetensors");
        var first = PairOptions("resumed");
        first.MaxSteps = 11;
        first.CheckpointPath = state;
        PairTrainer(new CoSentPairs(4), first).Fit(train, validation);
        var resumed = new CoSentPairs(5);
        var again = PairOptions("resumed");
        again.ResumeFrom = state;
        var resumedResult = PairTrainer(resumed, again).Fit(train, validation);

        Assert.True(straight.Compiled.Parameters.SequenceEqual(resumed.Compiled.Parameters), "parameters differ");
        Assert.Equal(straightResult.Epochs.Skip(1).Select(e => e.TrainLoss), resumedResult.Epochs.Select(e => e.TrainLoss));
        Assert.Equal(straightResult.LastValidation!.Metrics, resumedResult.LastValidation!.Metrics);
        Assert.Equal(Records(dir.File("straight")), Records(dir.File("resumed")).Where(r => !r.Contains("step=11,", StringComparison.Ordinal)));
        Assert.Equal(straightResult.Best!.Step, resumedResult.Best!.Step); // the best by Spearman (higher is better)

        // The metric is Spearman's rho of the pairs' cosines against the scores, computed here by hand.
        var embeddings = new float[validation.Count * 2 * CoSentPairs.OutputFeatures];
        var (ids, scores) = validation.Materialize();
        resumed.Predict(ids, embeddings);
        var cosines = new double[validation.Count];
        for (int i = 0; i < cosines.Length; i++)
        {
            var u = embeddings.AsSpan(2 * i * CoSentPairs.OutputFeatures, CoSentPairs.OutputFeatures);
            var v = embeddings.AsSpan(((2 * i) + 1) * CoSentPairs.OutputFeatures, CoSentPairs.OutputFeatures);
            double uv = 0, uu = 0, vv = 0;
            for (int k = 0; k < u.Length; k++) (uv, uu, vv) = (uv + (u[k] * v[k]), uu + (u[k] * u[k]), vv + (v[k] * v[k]));
            cosines[i] = uv / Math.Sqrt(uu * vv);
        }

        Assert.Equal(RankCorrelation.Spearman(cosines, scores.Select(s => (double)s).ToArray()), resumedResult.LastValidation["spearman"], 12);
        Assert.True(Trainer.HigherIsBetter("spearman") && Trainer.HigherIsBetter("test_accuracy") && !Trainer.HigherIsBetter("loss"));
    }

    [Fact]
    public void The_options_of_one_of_several_runs_put_its_folder_and_checkpoints_beside_the_others()
    {
        var options = new TrainerOptions { OutputDirectory = "runs/cmp", CheckpointPath = "ckpt/state.safetensors", ResumeFrom = "ckpt/state", Epochs = 4 };
        var run = options.ForRun("logsum");
        Assert.Equal(Path.Combine("runs/cmp", "logsum"), run.OutputDirectory);
        Assert.Equal("ckpt/state.logsum.safetensors", run.CheckpointPath);
        Assert.Equal("ckpt/state.logsum", run.ResumeFrom);
        Assert.Equal("logsum", run.RunName);
        Assert.Equal(4, run.Epochs);
        Assert.Equal("runs/cmp", options.OutputDirectory); // the original is unchanged
        Assert.Throws<ArgumentException>(() => options.ForRun("a/b"));
    }

    [Fact]
    public void The_loop_allocates_nothing_per_step_for_several_targets_or_for_pairs()
    {
        TaskDataset<float> tasks = TaskData(600, 3); // 100 steps an epoch
        ArrayDataset<int, float> pairs = PairData(400, 7);
        long Allocated(Action fit)
        {
            long before = GC.GetAllocatedBytesForCurrentThread(), helpers = WorkerPool.HelperAllocatedBytesForCurrentThread;
            fit();
            return GC.GetAllocatedBytesForCurrentThread() - before + (WorkerPool.HelperAllocatedBytesForCurrentThread - helpers);
        }

        TrainerOptions Budget(long steps) => new() { MaxSteps = steps, Seed = 2, Progress = ProgressDisplay.None, LearningRate = s => 1e-3 };
        var multi = new MultiTaskUncertaintyNet(1);
        var pair = new CoSentPairs(1);
        void Multi(long steps) => new Trainer(multi, new AdamW(1e-3), Budget(steps)).Fit(tasks);
        void Pair(long steps) => new Trainer(pair, new AdamW(1e-3), Budget(steps)).Fit(pairs);
        for (int i = 0; i < 3; i++)
        {
            Multi(60); // past tiering
            Pair(60);
        }

        // The same fixed set-up either way: 40 more steps inside the same epoch allocate nothing more.
        Assert.Equal(Allocated(() => Multi(20)), Allocated(() => Multi(60)));
        Assert.Equal(Allocated(() => Pair(20)), Allocated(() => Pair(60)));
    }
}
