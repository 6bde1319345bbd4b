using System;
using Dsl.Optimizers;
using Dsl.Runtime;
using Dsl.Tests.IO;
using Xunit;

namespace Dsl.Tests.EndToEnd;

/// <summary>The float models' multi-task API: TrainStep and Evaluate with one span per target, the eager
/// reference, checkpoints, shape errors, learning on a synthetic two-task problem, zero allocation.</summary>
public sealed class MultiTaskModelTests
{
    private static float[] Gaussian(int count, ulong seed, double scale = 1)
    {
        var random = new SeededRandom(seed);
        var x = new float[count];
        for (int i = 0; i < x.Length; i++) x[i] = (float)(scale * random.NextGaussian());
        return x;
    }

    /// <summary>A learnable two-task problem: the label is the argmax of four fixed projections of x, the box
    /// three other fixed projections (targets of std about 3, so the MSE starts far above ln 4).</summary>
    private static (float[] X, int[] Y, float[] Box) Problem(int examples, ulong seed)
    {
        float[] x = Gaussian(examples * 5, seed);
        float[] w = Gaussian(7 * 5, 99);
        var y = new int[examples];
        var box = new float[examples * 3];
        for (int e = 0; e < examples; e++)
        {
            double best = double.NegativeInfinity;
            for (int j = 0; j < 7; j++)
            {
                double v = 0;
                for (int k = 0; k < 5; k++) v += w[(j * 5) + k] * x[(e * 5) + k];
                if (j < 4 && v > best) (best, y[e]) = (v, j);
                if (j >= 4) box[(e * 3) + j - 4] = (float)(1.5 * v);
            }
        }

        return (x, y, box);
    }

    [Fact]
    public void Evaluate_matches_the_eager_reference_and_reports_each_task()
    {
        var (x, y, box) = Problem(14, 1); // 14 examples: chunks of 6, 6 and 2
        var model = new MultiTaskSumNet(seed: 7);
        var xt = new Tensor(14, 5);
        Array.Copy(Array.ConvertAll(x, v => (double)v), xt.Data, xt.Data.Length);
        var bt = new Tensor(14, 3);
        Array.Copy(Array.ConvertAll(box, v => (double)v), bt.Data, bt.Data.Length);
        double eager = model.Loss(xt, new Labels(y), bt);
        double ce = Ops.SoftmaxCrossEntropy(model.Forward(xt), new Labels(y)).Value;
        double mse = Ops.MeanSquaredError(model.Box(model.Shared(xt)), bt).Value;
        Assert.Equal(ce + mse, eager, 9);

        Span<double> tasks = stackalloc double[2];
        float compiled = model.Evaluate(x, y, box, tasks);
        Assert.Equal(eager, compiled, 4);
        Assert.Equal(ce, tasks[0], 4);
        Assert.Equal(mse, tasks[1], 3);
        Assert.Equal(compiled, model.Evaluate(x, y, box));
    }

    [Fact]
    public void Evaluate_of_log_sum_takes_the_log_of_each_task_mean_over_the_whole_set()
    {
        var (x, y, box) = Problem(14, 2);
        var model = new MultiTaskLogSumNet(seed: 7);
        Span<double> tasks = stackalloc double[2];
        float value = model.Evaluate(x, y, box, tasks);
        Assert.Equal(Math.Log(tasks[0]) + Math.Log(tasks[1]), value, 5);
        var sum = new MultiTaskSumNet(seed: 7); // same parameters: same task means
        Span<double> reference = stackalloc double[2];
        sum.Evaluate(x, y, box, reference);
        Assert.Equal(reference[0], tasks[0], 10);
        Assert.Equal(reference[1], tasks[1], 10);
    }

    [Fact]
    public void Shape_errors_name_the_target_parameter()
    {
        var (x, y, box) = Problem(6, 3);
        var model = new MultiTaskUncertaintyNet(seed: 1);
        var optimizer = new AdamW(1e-3);
        var wrongBox = new float[(6 * 3) - 1];
        var e = Assert.Throws<ArgumentException>(() => model.TrainStep(x, y, wrongBox, optimizer));
        Assert.Contains("box: expected shape [6, 3] (18 values), got 17 values", e.Message, StringComparison.Ordinal);
        var shortLabels = new int[5];
        e = Assert.Throws<ArgumentException>(() => model.TrainStep(x, shortLabels, box, optimizer));
        Assert.Contains("inputs", e.Message, StringComparison.Ordinal);
        e = Assert.Throws<ArgumentException>(() => model.Evaluate(x, y, wrongBox));
        Assert.Contains("box", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("sum")]
    [InlineData("logsum")]
    [InlineData("initial")]
    [InlineData("uncertainty")]
    public void Training_lowers_both_task_losses(string weighting)
    {
        var (x, y, box) = Problem(96, 4);
        var (vx, vy, vbox) = Problem(60, 5);
        Func<float[], int[], float[], Optimizer, float> step;
        Func<float[], int[], float[], double[], float> evaluate;
        switch (weighting)
        {
            case "sum": { var m = new MultiTaskSumNet(3); step = (a, b, c, o) => m.TrainStep(a, b, c, o); evaluate = (a, b, c, t) => m.Evaluate(a, b, c, t); break; }
            case "logsum": { var m = new MultiTaskLogSumNet(3); step = (a, b, c, o) => m.TrainStep(a, b, c, o); evaluate = (a, b, c, t) => m.Evaluate(a, b, c, t); break; }
            case "initial": { var m = new MultiTaskInitialNet(3); step = (a, b, c, o) => m.TrainStep(a, b, c, o); evaluate = (a, b, c, t) => m.Evaluate(a, b, c, t); break; }
            default: { var m = new MultiTaskUncertaintyNet(3); step = (a, b, c, o) => m.TrainStep(a, b, c, o); evaluate = (a, b, c, t) => m.Evaluate(a, b, c, t); break; }
        }

        var before = new double[2];
        evaluate(vx, vy, vbox, before);
        var optimizer = new AdamW(1e-2);
        for (int epoch = 0; epoch < 40; epoch++)
            for (int start = 0; start < 96; start += 6)
                step(x.AsSpan(start * 5, 30).ToArray(), y.AsSpan(start, 6).ToArray(), box.AsSpan(start * 3, 18).ToArray(), optimizer);
        var after = new double[2];
        evaluate(vx, vy, vbox, after);
        Assert.True(after[0] < 0.8 * before[0], $"{weighting}: validation cross-entropy {before[0]:F4} → {after[0]:F4}");
        Assert.True(after[1] < 0.5 * before[1], $"{weighting}: validation squared error {before[1]:F4} → {after[1]:F4}");
    }

    [Fact]
    public void Uncertainty_log_variances_move_toward_the_log_of_each_task_loss()
    {
        var (x, y, box) = Problem(96, 6);
        var model = new MultiTaskUncertaintyNet(seed: 2);
        var optimizer = new AdamW(1e-2);
        for (int epoch = 0; epoch < 30; epoch++)
            for (int start = 0; start < 96; start += 6)
                model.TrainStep(x.AsSpan(start * 5, 30), y.AsSpan(start, 6), box.AsSpan(start * 3, 18), optimizer);
        // ∂L/∂s_i = ½ − ½e^{−s_i}L_i is 0 at s_i = ln L_i: each s_i tracks the log of its task's loss, with some lag
        // while the losses still fall (the optimizer moves s by about lr per step), and in the same order.
        Span<double> tasks = stackalloc double[2];
        model.Evaluate(x, y, box, tasks);
        float s0 = model.Compiled.TaskLogVariance[0], s1 = model.Compiled.TaskLogVariance[1];
        string at = $"s = ({s0}, {s1}), ln L = ({Math.Log(tasks[0])}, {Math.Log(tasks[1])})";
        Assert.True(Math.Sign(s1 - s0) == Math.Sign(tasks[1] - tasks[0]), at);
        Assert.True(Math.Abs(s0 - Math.Log(tasks[0])) < 0.6, at);
        Assert.True(Math.Abs(s1 - Math.Log(tasks[1])) < 0.6, at);
    }

    [Fact]
    public void Checkpoints_keep_the_recorded_initial_losses_and_the_learned_log_variances()
    {
        using var dir = new TempDirectory();
        var (x, y, box) = Problem(6, 7);
        var optimizer = new AdamW(1e-2);

        var initial = new MultiTaskInitialNet(seed: 1);
        initial.TrainStep(x, y, box, optimizer);
        double[] recorded = initial.Compiled.InitialTaskLosses.ToArray();
        Assert.All(recorded, v => Assert.True(v > 0));
        initial.Save(dir.File("initial.safetensors"));
        var resumed = new MultiTaskInitialNet(seed: 2);
        resumed.Load(dir.File("initial.safetensors"));
        Assert.Equal(recorded, resumed.Compiled.InitialTaskLosses.ToArray());
        Assert.Equal(initial.Evaluate(x, y, box), resumed.Evaluate(x, y, box));

        var uncertain = new MultiTaskUncertaintyNet(seed: 1);
        for (int i = 0; i < 5; i++) uncertain.TrainStep(x, y, box, optimizer);
        uncertain.Save(dir.File("uncertain.safetensors"));
        var file = Dsl.IO.SafeTensors.Read(dir.File("uncertain.safetensors"));
        Assert.Equal(new[] { 2 }, file["tasks.log_variance"].Shape);
        var copy = new MultiTaskUncertaintyNet(seed: 3);
        copy.Load(dir.File("uncertain.safetensors"));
        Assert.Equal(uncertain.Compiled.TaskLogVariance.ToArray(), copy.Compiled.TaskLogVariance.ToArray());
    }

    [Fact]
    public void A_checkpoint_with_a_bad_initial_loss_entry_is_refused_and_changes_nothing()
    {
        using var dir = new TempDirectory();
        var model = new MultiTaskInitialNet(seed: 1);
        new MultiTaskInitialNet(seed: 5).Save(dir.File("good.safetensors"));
        var tensors = new System.Collections.Generic.List<Dsl.IO.SafeTensor>(Dsl.IO.SafeTensors.Read(dir.File("good.safetensors")).Values);
        Dsl.IO.SafeTensors.Write(dir.File("bad.safetensors"), tensors, new System.Collections.Generic.Dictionary<string, string> { [TaskCheckpoint.Key] = "1.5,-2" });
        float[] before = model.Compiled.Parameters.ToArray();
        var e = Assert.Throws<Dsl.IO.InvalidDataException>(() => model.Load(dir.File("bad.safetensors")));
        Assert.Contains("value 1, '-2'", e.Message, StringComparison.Ordinal);
        Assert.Equal(before, model.Compiled.Parameters.ToArray());
    }

    private static void AssertNoAllocation(Action step)
    {
        for (int i = 0; i < 40; i++) step(); // past tiering
        var (allocated, helperAllocated) = Allocations.PerWindow(() => step(), 100);
        Assert.Equal(0, allocated);
        Assert.Equal(0, helperAllocated);
    }

    [Fact]
    public void A_multi_task_training_step_allocates_nothing()
    {
        var (x, y, box) = Problem(6, 8);
        var optimizer = new AdamW(1e-3);
        var uncertain = new MultiTaskUncertaintyNet(seed: 1);
        AssertNoAllocation(() => uncertain.TrainStep(x, y, box, optimizer));
        var initial = new MultiTaskInitialNet(seed: 1);
        AssertNoAllocation(() => initial.TrainStep(x, y, box, optimizer));
        var three = new MultiTaskThreeNet(seed: 1);
        var box2 = Gaussian(12, 9);
        AssertNoAllocation(() => three.TrainStep(x, y, box2, optimizer));

        var tagger = new MultiTaskAdversarialNet(seed: 1);
        var ids = new int[12];
        for (int i = 0; i < ids.Length; i++) ids[i] = (i * 7) % 11;
        var tags = new int[12];
        for (int i = 0; i < tags.Length; i++) tags[i] = i % 3;
        var values = Gaussian(24, 10);
        AssertNoAllocation(() => tagger.TrainStep(ids, tags, values, optimizer));
        Assert.Equal(0.5, tagger.Compiled.AdversarialPerturbationNorm, 5);
    }
}
