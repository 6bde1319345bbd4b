using System;
using System.Runtime.InteropServices;
using Dsl.Optimizers;
using Dsl.Runtime;
using Xunit;

namespace Dsl.Tests.EndToEnd;

/// <summary>
/// The non-finite guard of the generated TrainStep: a NaN or ∞ loss or gradient skips the update with
/// the parameters and optimizer state bitwise unchanged, and three skips in a row stop training with an
/// exception naming the bad input row, target row, parameter or layer. Run with the serial tests: their many
/// training steps would otherwise compete for the worker pool with the parallel allocation tests (a caller
/// that finds the pool busy runs inline and may grow its own thread's scratch buffers).
/// </summary>
[Collection(Dsl.Tests.Kernels.SharedRuntimeStateCollection.Name)]
public sealed class NonFiniteGuardTests
{
    private static float[] Inputs(int rows, int width, int seed)
    {
        var random = new Random(seed);
        var x = new float[rows * width];
        for (int i = 0; i < x.Length; i++) x[i] = (float)(random.NextDouble() * 2 - 1);
        return x;
    }

    private static int[] Labels(int rows)
    {
        var labels = new int[rows];
        for (int i = 0; i < rows; i++) labels[i] = i % 10;
        return labels;
    }

    private static byte[] Bits(Span<float> values) => MemoryMarshal.AsBytes(values).ToArray();

    public static TheoryData<string> Optimizers() => new() { "adamw", "sgd", "lion", "childtuning-f", "clipped-adamw" };

    private static Optimizer Create(string name) => name switch
    {
        "adamw" => new AdamW(1e-3, weightDecay: 0.01),
        "sgd" => new Sgd(0.01, momentum: 0.9),
        "lion" => new Lion(1e-4),
        "childtuning-f" => new ChildTuningF(new AdamW(1e-3), p: 0.5, seed: 3),
        _ => new AdamW(1e-3) { MaxGradientNorm = 1.0 },
    };

    [Theory]
    [MemberData(nameof(Optimizers))]
    public void A_nan_input_skips_the_update_with_parameters_and_state_bitwise_unchanged(string optimizerName)
    {
        var model = new WideMlp(seed: 1);
        var optimizer = Create(optimizerName);
        float[] x = Inputs(WideMlp.MaxBatch, WideMlp.InputFeatures, 2);
        int[] y = Labels(WideMlp.MaxBatch);
        for (int i = 0; i < 3; i++) model.TrainStep(x, y, optimizer); // state that is not all zero
        byte[] parameters = Bits(model.Compiled.Parameters), state = Bits(model.Compiled.OptimizerState);
        long steps = optimizer.Steps;

        float[] bad = (float[])x.Clone();
        bad[17 * WideMlp.InputFeatures + 203] = float.NaN;
        float loss = model.TrainStep(bad, y, optimizer);

        Assert.True(float.IsNaN(loss));
        Assert.True(model.Guard.LastStepSkipped);
        Assert.Equal(1, model.Guard.ConsecutiveSkips);
        Assert.Equal(parameters, Bits(model.Compiled.Parameters));
        Assert.Equal(state, Bits(model.Compiled.OptimizerState));
        Assert.Equal(steps, optimizer.Steps);

        // The next good step trains again and clears the run of skips.
        model.TrainStep(x, y, optimizer);
        Assert.False(model.Guard.LastStepSkipped);
        Assert.Equal(0, model.Guard.ConsecutiveSkips);
        Assert.Equal(1, model.Guard.SkippedSteps);
        Assert.NotEqual(parameters, Bits(model.Compiled.Parameters));
        Assert.True(float.IsFinite(model.Compiled.Parameters[0]));
    }

    [Fact]
    public void Three_nan_batches_in_a_row_stop_training_naming_the_input_row()
    {
        var model = new WideMlp(seed: 1);
        var optimizer = new AdamW(1e-3);
        float[] x = Inputs(WideMlp.MaxBatch, WideMlp.InputFeatures, 2);
        x[17 * WideMlp.InputFeatures + 203] = float.PositiveInfinity;
        int[] y = Labels(WideMlp.MaxBatch);
        model.TrainStep(x, y, optimizer);
        model.TrainStep(x, y, optimizer);
        var e = Assert.Throws<NonFiniteTrainingException>(() => model.TrainStep(x, y, optimizer));

        Assert.True(e.BatchIsCause);
        Assert.Equal(3, e.Step);
        Assert.Equal(new NonFiniteFinding("input", "inputs", "", -1, 0, 17, 203, "+∞"), e.Finding);
        Assert.Contains("WideMlp: training stopped at step 3", e.Message, StringComparison.Ordinal);
        Assert.Contains("The input batch is the cause: input row 17 ('inputs' column 203) holds +∞", e.Message, StringComparison.Ordinal);
        Assert.Equal(0, optimizer.Steps);
    }

    [Fact]
    public void An_infinite_regression_target_is_named_by_its_row()
    {
        var model = new Regressor(seed: 4);
        var optimizer = new Sgd(0.01);
        model.Guard.MaxConsecutiveSkips = 1;
        float[] x = Inputs(Regressor.MaxBatch, Regressor.InputFeatures, 5);
        float[] t = Inputs(Regressor.MaxBatch, Regressor.OutputFeatures, 6);
        t[3 * Regressor.OutputFeatures + 1] = float.NegativeInfinity;
        byte[] parameters = Bits(model.Compiled.Parameters);

        var e = Assert.Throws<NonFiniteTrainingException>(() => model.TrainStep(x, t, optimizer));

        Assert.Equal(new NonFiniteFinding("target", "targets", "", -1, 0, 3, 1, "−∞"), e.Finding);
        Assert.Contains("target row 3", e.Message, StringComparison.Ordinal);
        Assert.Equal(parameters, Bits(model.Compiled.Parameters)); // 161 of 178 parameters went non-finite before the guard
    }

    [Fact]
    public void A_layer_whose_output_overflows_is_named()
    {
        // Weights of 1e37 make Hidden2's 256-term sums overflow float: the batch and every parameter are
        // finite, and the first non-finite value is that layer's output.
        var model = new WideMlp(seed: 1);
        var optimizer = new AdamW(1e-3);
        var hidden2 = FindTensor(WideMlp.Engine<float>.Tensors, "Hidden2.weight");
        model.Compiled.Parameters.Slice(hidden2.Offset, hidden2.Length).Fill(1e37f);
        float[] x = Inputs(WideMlp.MaxBatch, WideMlp.InputFeatures, 2);
        for (int i = 0; i < x.Length; i++) x[i] = Math.Abs(x[i]); // Relu keeps them
        int[] y = Labels(WideMlp.MaxBatch);

        NonFiniteTrainingException? e = null;
        for (int i = 0; i < 3 && e is null; i++)
        {
            try { model.TrainStep(x, y, optimizer); }
            catch (NonFiniteTrainingException caught) { e = caught; }
        }

        Assert.NotNull(e);
        Assert.False(e.BatchIsCause);
        Assert.Equal("forward", e.Finding!.Kind);
        Assert.Equal("Hidden2", e.Finding.Where);
        Assert.StartsWith("Dense 256 → 256", e.Finding.Operation, StringComparison.Ordinal);
        Assert.Contains("The input batch is finite; the first non-finite value in the replay of the batch: the output of 'Hidden2' (Dense 256 → 256", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_non_finite_parameter_is_named_before_the_replay()
    {
        var model = new Regressor(seed: 4);
        var optimizer = new AdamW(1e-3);
        model.Guard.MaxConsecutiveSkips = 1;
        var up = FindTensor(Regressor.Engine<float>.Tensors, "Second.Up.weight");
        model.Compiled.Parameters[up.Offset + 5] = float.NaN;

        var e = Assert.Throws<NonFiniteTrainingException>(() =>
            model.TrainStep(Inputs(Regressor.MaxBatch, Regressor.InputFeatures, 5), Inputs(Regressor.MaxBatch, Regressor.OutputFeatures, 6), optimizer));

        Assert.Equal(new NonFiniteFinding("parameter", "Second.Up.weight", "", -1, 0, -1, 5, "NaN"), e.Finding);
    }

    [Fact]
    public void A_gradient_that_overflows_in_the_backward_is_named()
    {
        // Finite batch, finite forward, finite loss (summed in double) and loss gradient: targets of ±3e38 give
        // ∂loss/∂p = 2(p − t)/n of about 6e37, whose products with Out's inputs (about 1e3) in its weight gradient
        // overflow float.
        var model = new Regressor(seed: 4);
        var optimizer = new Sgd(0.01);
        model.Guard.MaxConsecutiveSkips = 1;
        float[] x = Inputs(Regressor.MaxBatch, Regressor.InputFeatures, 5);
        for (int i = 0; i < x.Length; i++) x[i] *= 1000;
        float[] t = new float[Regressor.MaxBatch * Regressor.OutputFeatures];
        for (int i = 0; i < t.Length; i++) t[i] = i % 2 == 0 ? 3e38f : -3e38f;

        var e = Assert.Throws<NonFiniteTrainingException>(() => model.TrainStep(x, t, optimizer));

        Assert.False(e.BatchIsCause);
        Assert.Equal("backward", e.Finding!.Kind);
        Assert.Equal("Out", e.Finding.Where);
    }

    [Fact]
    public void With_the_guard_off_a_nan_batch_poisons_the_parameters()
    {
        var model = new WideMlp(seed: 1);
        model.Guard.Enabled = false;
        var optimizer = new AdamW(1e-3);
        float[] x = Inputs(WideMlp.MaxBatch, WideMlp.InputFeatures, 2);
        x[5] = float.NaN;
        model.TrainStep(x, Labels(WideMlp.MaxBatch), optimizer);
        Assert.False(model.Guard.LastStepSkipped);
        Assert.Equal(1, optimizer.Steps);
        Assert.True(float.IsNaN(model.Compiled.Parameters[0]));
    }

    [Fact]
    public void The_skip_limit_must_be_positive() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new NonFiniteGuard { MaxConsecutiveSkips = 0 });

    [Fact]
    public void TryStep_on_finite_gradients_is_the_plain_step_bit_for_bit()
    {
        // The guard hands the norm it measured to the step's clipping: same result as Step.
        float[] gradients = Inputs(40, 1, 9);
        var tensors = new[] { new ParameterTensor("w", 0, 30, true), new ParameterTensor("b", 30, 10, false) };
        float[] p1 = Inputs(40, 1, 10), p2 = (float[])p1.Clone();
        float[] s1 = new float[80], s2 = new float[80];
        var a = new AdamW(1e-2) { MaxGradientNorm = 0.5 };
        var b = new AdamW(1e-2) { MaxGradientNorm = 0.5 };
        for (int i = 0; i < 3; i++)
        {
            a.Step<float>(p1, gradients, s1, tensors);
            Assert.True(b.TryStep<float>(p2, gradients, s2, tensors, loss: 1.5));
        }

        Assert.Equal(Bits(p1), Bits(p2));
        Assert.Equal(Bits(s1), Bits(s2));
        Assert.Equal(a.LastGradientNorm, b.LastGradientNorm);
        Assert.False(b.TryStep<float>(p2, gradients, s2, tensors, loss: double.PositiveInfinity));
        Assert.Equal(Bits(p1), Bits(p2));
    }

    private static ParameterTensor FindTensor(ReadOnlySpan<ParameterTensor> tensors, string name)
    {
        foreach (var tensor in tensors)
            if (tensor.Name == name) return tensor;
        throw new InvalidOperationException($"no tensor '{name}'");
    }
}
