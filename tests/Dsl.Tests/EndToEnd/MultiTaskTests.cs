using System;
using System.IO;
using Dsl.Optimizers;
using Dsl.Runtime;
using Dsl.Tests.IO;
using Xunit;

namespace Dsl.Tests.EndToEnd;

/// <summary>
/// Ops.MultiTask through the generated code: each weighting's value against its formula on the engine's own
/// per-task losses, the per-task losses against independent references, double-precision gradient checks of
/// the combined loss (the learned log-variances included), the recorded initial losses, checkpoints, shape
/// errors and allocation-free steps.
/// </summary>
public sealed class MultiTaskTests
{
    private const int Batch = 6;
    private static readonly int[] s_labels = { 0, 3, 1, 2, 1, 0 };

    private static double[] Boxes(int width, ulong seed)
    {
        var random = new SeededRandom(seed);
        var t = new double[Batch * width];
        for (int i = 0; i < t.Length; i++) t[i] = 2 * random.NextGaussian();
        return t;
    }

    private static void Fill(Span<double> input, ulong seed)
    {
        var random = new SeededRandom(seed);
        for (int i = 0; i < input.Length; i++) input[i] = random.NextGaussian();
    }

    /// <summary>The classification task's loss recomputed from the engine's logits (its Forward output).</summary>
    private static double ReferenceCrossEntropy(ReadOnlySpan<double> logits, int classes)
    {
        var tensor = new Tensor(Batch, classes);
        logits.Slice(0, Batch * classes).CopyTo(tensor.Data);
        return Ops.SoftmaxCrossEntropy(tensor, new Labels(s_labels)).Value;
    }

    [Fact]
    public void Sum_is_the_sum_of_the_task_losses_and_passes_the_gradient_check()
    {
        var engine = new MultiTaskSumNet.Engine<double>(seed: 1);
        Fill(engine.Input.Slice(0, Batch * 5), 31);
        double[] box = Boxes(3, 32);
        double value = engine.TrainingPass(Batch, s_labels, box);
        Assert.Equal(engine.TaskLosses[0] + engine.TaskLosses[1], value, 12);
        Assert.Equal(ReferenceCrossEntropy(engine.Output, 4), engine.TaskLosses[0], 12);
        Assert.True(engine.TaskLosses[1] > 0.5, $"the regression loss {engine.TaskLosses[1]} should be far from 0 with targets of std 2");
        Assert.Equal(new[] { 1.0, 1.0 }, engine.TaskWeights.ToArray());
        GradientCheckTests.Check(engine.Parameters, engine.Gradients.ToArray(), () => engine.TrainingPass(Batch, s_labels, box), MultiTaskSumNet.Engine<double>.Tensors);
    }

    [Fact]
    public void Fixed_weights_scale_each_task()
    {
        var engine = new MultiTaskWeightsNet.Engine<double>(seed: 1);
        Fill(engine.Input.Slice(0, Batch * 5), 31);
        double[] box = Boxes(3, 32);
        double value = engine.TrainingPass(Batch, s_labels, box);
        Assert.Equal((0.3 * engine.TaskLosses[0]) + (2.5 * engine.TaskLosses[1]), value, 12);
        Assert.Equal(new[] { 0.3, 2.5 }, engine.TaskWeights.ToArray());
        GradientCheckTests.Check(engine.Parameters, engine.Gradients.ToArray(), () => engine.TrainingPass(Batch, s_labels, box), MultiTaskWeightsNet.Engine<double>.Tensors);

        // The same seed gives the Sum model the same parameters: its per-task losses are the same numbers.
        var sum = new MultiTaskSumNet.Engine<double>(seed: 1);
        Fill(sum.Input.Slice(0, Batch * 5), 31);
        sum.Loss(Batch, s_labels, box);
        engine.Loss(Batch, s_labels, box);
        Assert.Equal(sum.TaskLosses.ToArray(), engine.TaskLosses.ToArray());
    }

    [Fact]
    public void LogSum_is_the_sum_of_logs_and_passes_the_gradient_check()
    {
        var engine = new MultiTaskLogSumNet.Engine<double>(seed: 2);
        Fill(engine.Input.Slice(0, Batch * 5), 33);
        double[] box = Boxes(3, 34);
        double value = engine.TrainingPass(Batch, s_labels, box);
        Assert.Equal(Math.Log(engine.TaskLosses[0]) + Math.Log(engine.TaskLosses[1]), value, 12);
        Assert.Equal(1 / engine.TaskLosses[1], engine.TaskWeights[1], 12);
        GradientCheckTests.Check(engine.Parameters, engine.Gradients.ToArray(), () => engine.TrainingPass(Batch, s_labels, box), MultiTaskLogSumNet.Engine<double>.Tensors);
    }

    [Fact]
    public void InitialLoss_records_the_first_batch_and_divides_by_it_from_then_on()
    {
        var engine = new MultiTaskInitialNet.Engine<double>(seed: 3);
        Fill(engine.Input.Slice(0, Batch * 5), 35);
        double[] box = Boxes(3, 36);
        Assert.Equal(new[] { 0.0, 0.0 }, engine.InitialTaskLosses.ToArray());
        double first = engine.TrainingPass(Batch, s_labels, box);
        Assert.Equal(2, first, 12); // every ratio L_i / L_i⁰ is 1 on the recording batch
        Assert.Equal(engine.TaskLosses.ToArray(), engine.InitialTaskLosses.ToArray());
        double[] initial = engine.InitialTaskLosses.ToArray();

        // Another batch: the weights stay 1/L_i⁰.
        Fill(engine.Input.Slice(0, Batch * 5), 37);
        double value = engine.TrainingPass(Batch, s_labels, box);
        Assert.Equal(initial, engine.InitialTaskLosses.ToArray());
        Assert.Equal((engine.TaskLosses[0] / initial[0]) + (engine.TaskLosses[1] / initial[1]), value, 12);
        Assert.NotEqual(2, value, 6);
        GradientCheckTests.Check(engine.Parameters, engine.Gradients.ToArray(), () => engine.TrainingPass(Batch, s_labels, box), MultiTaskInitialNet.Engine<double>.Tensors);
    }

    [Fact]
    public void Uncertainty_weights_are_learned_parameters_with_a_checked_gradient()
    {
        var engine = new MultiTaskUncertaintyNet.Engine<double>(seed: 4);
        Fill(engine.Input.Slice(0, Batch * 5), 38);
        double[] box = Boxes(3, 39);
        Assert.Contains(MultiTaskUncertaintyNet.Engine<double>.Tensors.ToArray(), t => t.Name == "tasks.log_variance" && t.Length == 2);
        engine.TaskLogVariance[0] = 0.7; // away from the initial 0, so e^{−s} ≠ 1 is exercised
        engine.TaskLogVariance[1] = -0.4;
        double value = engine.TrainingPass(Batch, s_labels, box);
        double expected = (0.5 * Math.Exp(-0.7) * engine.TaskLosses[0]) + 0.35 + (0.5 * Math.Exp(0.4) * engine.TaskLosses[1]) - 0.2;
        Assert.Equal(expected, value, 12);
        GradientCheckTests.Check(engine.Parameters, engine.Gradients.ToArray(), () => engine.TrainingPass(Batch, s_labels, box), MultiTaskUncertaintyNet.Engine<double>.Tensors);
    }

    [Fact]
    public void Three_tasks_with_a_shared_prediction_path_flooding_and_a_block_body_pass_the_gradient_check()
    {
        var engine = new MultiTaskThreeNet.Engine<double>(seed: 5);
        Fill(engine.Input.Slice(0, Batch * 5), 40);
        double[] box = Boxes(2, 41);
        double value = engine.TrainingPass(Batch, s_labels, box);
        Assert.Equal(3, engine.TaskLosses.Length);
        Assert.True(engine.TaskLosses[1] > 0.2, "the flooded task should be above its level b = 0.2 here");
        Assert.Equal(Math.Log(engine.TaskLosses[0]) + Math.Log(engine.TaskLosses[1]) + Math.Log(engine.TaskLosses[2]), value, 12);
        GradientCheckTests.Check(engine.Parameters, engine.Gradients.ToArray(), () => engine.TrainingPass(Batch, s_labels, box), MultiTaskThreeNet.Engine<double>.Tensors);
    }
}
