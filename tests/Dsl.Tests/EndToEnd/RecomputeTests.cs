using System;
using Dsl.Optimizers;
using Dsl.Runtime;
using Xunit;

namespace Dsl.Tests.EndToEnd;

/// <summary>
/// [Recompute]: the recomputing model trains to the same bits as the one that keeps every activation (losses,
/// gradients and parameters after several AdamW steps with dropout on), in float and in double; it is
/// gradient-checked in double; its arena is smaller, and exactly the plain model's without [Recompute]; a step
/// allocates nothing.
/// </summary>
public sealed class RecomputeTests
{
    private static int[] Tokens(int count, int vocabulary, ulong seed)
    {
        var random = new SeededRandom(seed);
        var ids = new int[count];
        for (int i = 0; i < ids.Length; i++) ids[i] = (int)(random.NextDouble() * vocabulary);
        return ids;
    }

    private static float[] Floats(int count, ulong seed)
    {
        var random = new SeededRandom(seed);
        var x = new float[count];
        for (int i = 0; i < x.Length; i++) x[i] = (float)random.NextGaussian();
        return x;
    }

    private static void AssertBitwise(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(actual[i]), $"{what} {i}: {expected[i]:R} without [Recompute], {actual[i]:R} with it");
    }

    private static void AssertBitwise(ReadOnlySpan<double> expected, ReadOnlySpan<double> actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(BitConverter.DoubleToInt64Bits(expected[i]) == BitConverter.DoubleToInt64Bits(actual[i]), $"{what} {i}: {expected[i]:R} without [Recompute], {actual[i]:R} with it");
    }

    [Fact]
    public void A_recomputed_stack_with_dropout_trains_to_the_same_bits()
    {
        int rows = 3 * DropGpt.Sequence;
        int[] ids = Tokens(rows, 7, 1), next = Tokens(rows, 7, 2);
        var plain = new DropGpt(seed: 5);
        var recompute = new DropGptRecompute(seed: 5);
        AssertBitwise(plain.Compiled.Parameters, recompute.Compiled.Parameters, "initial parameter");
        var a = new AdamW(3e-3, weightDecay: 0.1) { MaxGradientNorm = 1.0 };
        var b = new AdamW(3e-3, weightDecay: 0.1) { MaxGradientNorm = 1.0 };
        for (int step = 0; step < 6; step++)
        {
            float lossA = plain.TrainStep(ids, next, a), lossB = recompute.TrainStep(ids, next, b);
            Assert.Equal(BitConverter.SingleToInt32Bits(lossA), BitConverter.SingleToInt32Bits(lossB));
            AssertBitwise(plain.Compiled.Gradients, recompute.Compiled.Gradients, $"step {step}: gradient");
        }

        AssertBitwise(plain.Compiled.Parameters, recompute.Compiled.Parameters, "trained parameter");
        AssertBitwise(plain.Compiled.OptimizerState, recompute.Compiled.OptimizerState, "optimizer state");
    }

    [Fact]
    public void The_double_engine_recomputes_to_the_same_bits_too()
    {
        int rows = 2 * DropGpt.Sequence;
        var plain = new DropGpt.Engine<double>(seed: 3);
        var recompute = new DropGptRecompute.Engine<double>(seed: 3);
        Tokens(rows, 7, 4).CopyTo(plain.Tokens, 0);
        Tokens(rows, 7, 4).CopyTo(recompute.Tokens, 0);
        int[] labels = Tokens(rows, 7, 5);
        plain.DropoutStep = recompute.DropoutStep = 9;
        double lossA = plain.TrainingPass(2, labels), lossB = recompute.TrainingPass(2, labels);
        Assert.Equal(BitConverter.DoubleToInt64Bits(lossA), BitConverter.DoubleToInt64Bits(lossB));
        AssertBitwise(plain.Gradients, recompute.Gradients, "gradient");
    }

    [Fact]
    public void The_double_engine_trains_to_the_same_parameters_and_optimizer_state()
    {
        // Several dropout steps, each a TrainingPass and a clipped AdamW update of the double engine.
        int rows = 3 * DropGpt.Sequence;
        var plain = new DropGpt.Engine<double>(seed: 6);
        var recompute = new DropGptRecompute.Engine<double>(seed: 6);
        var a = new AdamW(3e-3, weightDecay: 0.1) { MaxGradientNorm = 1.0 };
        var b = new AdamW(3e-3, weightDecay: 0.1) { MaxGradientNorm = 1.0 };
        for (int step = 0; step < 5; step++)
        {
            Tokens(rows, 7, (ulong)(20 + step)).CopyTo(plain.Tokens, 0);
            Tokens(rows, 7, (ulong)(20 + step)).CopyTo(recompute.Tokens, 0);
            int[] labels = Tokens(rows, 7, (ulong)(40 + step));
            plain.DropoutStep = recompute.DropoutStep = (ulong)(100 + step);
            double lossA = plain.TrainingPass(3, labels), lossB = recompute.TrainingPass(3, labels);
            Assert.Equal(BitConverter.DoubleToInt64Bits(lossA), BitConverter.DoubleToInt64Bits(lossB));
            AssertBitwise(plain.Gradients, recompute.Gradients, $"step {step}: gradient");
            plain.ApplyOptimizer(a);
            recompute.ApplyOptimizer(b);
        }

        AssertBitwise(plain.Parameters, recompute.Parameters, "trained parameter");
        AssertBitwise(plain.OptimizerState, recompute.OptimizerState, "optimizer state");
    }

    [Fact]
    public void Single_module_uses_with_rope_and_a_recomputing_module_type_train_to_the_same_bits()
    {
        int rows = 2 * RopePair.Sequence;
        float[] x = Floats(rows * RopePair.InputFeatures, 6);
        int[] y = Tokens(rows, 3, 7);
        var plain = new RopePair(seed: 2);
        var recompute = new RopePairRecompute(seed: 2);
        var a = new AdamW(1e-2);
        var b = new AdamW(1e-2);
        for (int step = 0; step < 4; step++)
        {
            Assert.Equal(BitConverter.SingleToInt32Bits(plain.TrainStep(x, y, a)), BitConverter.SingleToInt32Bits(recompute.TrainStep(x, y, b)));
            AssertBitwise(plain.Compiled.Gradients, recompute.Compiled.Gradients, $"step {step}: gradient");
        }

        var predictedA = new float[rows * RopePair.OutputFeatures];
        var predictedB = new float[predictedA.Length];
        plain.Predict(x, predictedA);
        recompute.Predict(x, predictedB);
        AssertBitwise(predictedA, predictedB, "prediction");
    }

    [Fact]
    public void A_segment_that_pools_its_rows_trains_to_the_same_bits()
    {
        // The recompute runs at one row per example (where the segment's backward starts): only what follows the
        // MeanPool runs again; the per-token layers before it keep their values.
        int batch = 4;
        int[] ids = Tokens(batch * PooledEncoderPlain.Sequence, 13, 14), labels = Tokens(batch, 3, 15);
        var plain = new PooledEncoderPlain.Engine<double>(seed: 8);
        var recompute = new PooledEncoderRecompute.Engine<double>(seed: 8);
        ids.CopyTo(plain.Tokens, 0);
        ids.CopyTo(recompute.Tokens, 0);
        var a = new AdamW(1e-2);
        var b = new AdamW(1e-2);
        for (int step = 0; step < 3; step++)
        {
            double lossA = plain.TrainingPass(batch, labels), lossB = recompute.TrainingPass(batch, labels);
            Assert.Equal(BitConverter.DoubleToInt64Bits(lossA), BitConverter.DoubleToInt64Bits(lossB));
            AssertBitwise(plain.Gradients, recompute.Gradients, $"step {step}: gradient");
            plain.ApplyOptimizer(a);
            recompute.ApplyOptimizer(b);
        }

        AssertBitwise(plain.Parameters, recompute.Parameters, "trained parameter");
    }

    [Fact]
    public void Post_ln_blocks_keep_the_add_their_last_norm_computes()
    {
        int rows = 2 * DeepNormStack.Sequence;
        float[] x = Floats(rows * DeepNormStack.InputFeatures, 8);
        int[] y = Tokens(rows, 3, 9);
        var plain = new DeepNormStack(seed: 4);
        var recompute = new DeepNormRecompute(seed: 4);
        var a = new Sgd(0.05);
        var b = new Sgd(0.05);
        for (int step = 0; step < 3; step++)
        {
            Assert.Equal(BitConverter.SingleToInt32Bits(plain.TrainStep(x, y, a)), BitConverter.SingleToInt32Bits(recompute.TrainStep(x, y, b)));
            AssertBitwise(plain.Compiled.Gradients, recompute.Compiled.Gradients, $"step {step}: gradient");
        }
    }

    [Fact]
    public void The_recomputing_model_passes_the_double_gradient_check()
    {
        // TinyGpt's check (TransformerTests), on its recomputing twin, whose gradients are also TinyGpt's bits.
        var engine = new TinyGptRecompute.Engine<double>(seed: 1);
        var plain = new TinyGpt.Engine<double>(seed: 1);
        int rows = 2 * TinyGptRecompute.Sequence;
        Tokens(rows, 7, 3).CopyTo(engine.Tokens, 0);
        Tokens(rows, 7, 3).CopyTo(plain.Tokens, 0);
        int[] labels = Tokens(rows, 7, 4);
        engine.TrainingPass(2, labels);
        plain.TrainingPass(2, labels);
        AssertBitwise(plain.Gradients, engine.Gradients, "gradient");
        double[] analytic = engine.Gradients.ToArray();
        GradientCheckTests.Check(engine.Arena.AsSpan(0, TinyGptRecompute.Engine<double>.ParameterRegion), analytic, () => engine.TrainingPass(2, labels),
            TinyGptRecompute.Engine<double>.Tensors);
    }

    [Fact]
    public void The_arena_shrinks_to_the_plain_models_without_recompute()
    {
        Assert.Equal(DropGpt.Engine<float>.ArenaLength, DropGptRecompute.Engine<float>.ArenaLengthWithoutRecompute);
        Assert.True(DropGptRecompute.Engine<float>.ArenaLength < DropGpt.Engine<float>.ArenaLength,
            $"{DropGptRecompute.Engine<float>.ArenaLength} elements with [Recompute], {DropGpt.Engine<float>.ArenaLength} without");
        Assert.Equal(DropGpt.ArenaBytes, DropGptRecompute.ArenaBytesWithoutRecompute);
        Assert.Equal(4L * DropGptRecompute.Engine<float>.ArenaLength, DropGptRecompute.ArenaBytes);
        Assert.Equal(RopePair.Engine<float>.ArenaLength, RopePairRecompute.Engine<float>.ArenaLengthWithoutRecompute);
        Assert.True(RopePairRecompute.Engine<float>.ArenaLength < RopePair.Engine<float>.ArenaLength);
    }

    [Fact]
    public void A_recomputing_step_allocates_nothing()
    {
        int rows = 3 * DropGptRecompute.Sequence;
        int[] ids = Tokens(rows, 7, 12), next = Tokens(rows, 7, 13);
        var model = new DropGptRecompute(seed: 1);
        var optimizer = new AdamW(1e-3);
        for (int i = 0; i < 40; i++) model.TrainStep(ids, next, optimizer); // past tiering (a method is recompiled after 30 calls)
        var (allocated, helperAllocated) = Allocations.PerWindow(() => model.TrainStep(ids, next, optimizer), 10);
        Assert.Equal(0, allocated);
        Assert.Equal(0, helperAllocated);
    }
}

/// <summary>
/// The non-finite guard on recomputing models: the checking pass's step table covers the backward's extra steps
/// (the segment's forward again, the cleared gradients), finds nothing in a finite batch, and names the same place
/// as the model that keeps every activation. With the serial tests (many training steps; see NonFiniteGuardTests).
/// </summary>
[Collection(Dsl.Tests.Kernels.SharedRuntimeStateCollection.Name)]
public sealed class RecomputeGuardTests
{
    private static int[] Tokens(int count, int vocabulary, ulong seed)
    {
        var random = new SeededRandom(seed);
        var ids = new int[count];
        for (int i = 0; i < ids.Length; i++) ids[i] = (int)(random.NextDouble() * vocabulary);
        return ids;
    }

    private static Dsl.Optimizers.ParameterTensor Tensor(ReadOnlySpan<Dsl.Optimizers.ParameterTensor> tensors, string name)
    {
        foreach (var tensor in tensors)
            if (tensor.Name == name) return tensor;
        throw new InvalidOperationException($"no tensor '{name}'");
    }

    [Fact]
    public void The_checking_pass_runs_through_the_recomputing_backward_and_finds_nothing_in_a_finite_batch()
    {
        int rows = 3 * DropGptRecompute.Sequence;
        var engine = new DropGptRecompute.Engine<float>(seed: 2);
        Tokens(rows, 7, 3).CopyTo(engine.Tokens, 0);
        int[] labels = Tokens(rows, 7, 4);
        double before = engine.TrainingPass(3, labels);
        float[] gradients = engine.Gradients.ToArray();
        var check = engine.BeginCheck(3);
        double checkedLoss = engine.TrainingPass(3, labels);
        engine.EndCheck();
        Assert.Null(check.Finding);
        // The pass ran to its end: the same loss and gradients as without the check.
        Assert.Equal(BitConverter.DoubleToInt64Bits(before), BitConverter.DoubleToInt64Bits(checkedLoss));
        Assert.Equal(gradients, engine.Gradients.ToArray());
    }

    [Fact]
    public void An_overflow_inside_a_recomputed_block_is_named_as_without_recompute()
    {
        // Blocks.1's second norm scaled by 1e38: its output, or the Dense after it, overflows float in the forward.
        int rows = 3 * DropGpt.Sequence;
        int[] ids = Tokens(rows, 7, 5), next = Tokens(rows, 7, 6);
        NonFiniteTrainingException Train(ISupervisedModel<int, int> model, Span<float> parameters, ReadOnlySpan<Dsl.Optimizers.ParameterTensor> tensors)
        {
            var gain = Tensor(tensors, "Blocks.1.Norm2.weight");
            parameters.Slice(gain.Offset, gain.Length).Fill(1e38f);
            var optimizer = new AdamW(1e-3);
            NonFiniteTrainingException? e = null;
            for (int i = 0; i < 3 && e is null; i++)
            {
                try { model.TrainStep(ids, next, optimizer); }
                catch (NonFiniteTrainingException caught) { e = caught; }
            }

            return e ?? throw new InvalidOperationException("no overflow");
        }

        var plain = new DropGpt(seed: 7);
        var recompute = new DropGptRecompute(seed: 7);
        var expected = Train(plain, plain.Compiled.Parameters, DropGpt.Engine<float>.Tensors).Finding!;
        var actual = Train(recompute, recompute.Compiled.Parameters, DropGptRecompute.Engine<float>.Tensors).Finding!;
        Assert.Equal("forward", expected.Kind);
        Assert.StartsWith("Blocks.1.", expected.Where, StringComparison.Ordinal);
        Assert.Equal((expected.Kind, expected.Where, expected.Row, expected.Column, expected.Value), (actual.Kind, actual.Where, actual.Row, actual.Column, actual.Value));
    }

    [Theory]
    [InlineData(1000f, 1f, "Out")]
    [InlineData(0.01f, 100f, "Second.Down")]
    public void A_gradient_that_overflows_in_the_backward_is_named_as_without_recompute(float inputScale, float downScale, string where)
    {
        // NonFiniteGuardTests' backward overflow (targets of ±3e38) on Regressor and its recomputing twin, whose
        // backward runs each block's forward again before the block's backward steps. Inputs ×1000: Out's weight
        // gradient overflows first (before any recompute); inputs ×0.01 and Second.Down's weights ×100: Second.Down's
        // input gradient, after Second's forward ran again (step 4 of 9 without [Recompute], a later one of more with it).
        float[] x = new float[Regressor.MaxBatch * Regressor.InputFeatures];
        var random = new Random(5);
        for (int i = 0; i < x.Length; i++) x[i] = (float)(random.NextDouble() * 2 - 1) * inputScale;
        float[] t = new float[Regressor.MaxBatch * Regressor.OutputFeatures];
        for (int i = 0; i < t.Length; i++) t[i] = (i / Regressor.OutputFeatures) % 2 == 0 ? 3e38f : -3e38f;
        NonFiniteFinding Train(ISupervisedModel<float, float> model, Span<float> parameters, ReadOnlySpan<Dsl.Optimizers.ParameterTensor> tensors, NonFiniteGuard guard)
        {
            var down = Tensor(tensors, "Second.Down.weight");
            var w = parameters.Slice(down.Offset, down.Length);
            for (int i = 0; i < w.Length; i++) w[i] *= downScale;
            guard.MaxConsecutiveSkips = 1;
            return Assert.Throws<NonFiniteTrainingException>(() => model.TrainStep(x, t, new Sgd(0.01))).Finding!;
        }

        var plain = new Regressor(seed: 4);
        var recompute = new RegressorRecompute(seed: 4);
        var expected = Train(plain, plain.Compiled.Parameters, Regressor.Engine<float>.Tensors, plain.Guard);
        var actual = Train(recompute, recompute.Compiled.Parameters, RegressorRecompute.Engine<float>.Tensors, recompute.Guard);
        Assert.Equal("backward", expected.Kind);
        Assert.Equal(where, expected.Where);
        Assert.True(actual.StepCount > expected.StepCount, $"{actual.StepCount} backward steps with [Recompute], {expected.StepCount} without");
        Assert.Equal((expected.Kind, expected.Where, expected.Operation, expected.Row, expected.Column, expected.Value),
            (actual.Kind, actual.Where, actual.Operation, actual.Row, actual.Column, actual.Value));
    }
}
