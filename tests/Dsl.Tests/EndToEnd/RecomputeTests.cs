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
        long caller = GC.GetAllocatedBytesForCurrentThread();
        long helpers = WorkerPool.HelperAllocatedBytesForCurrentThread;
        for (int i = 0; i < 10; i++) model.TrainStep(ids, next, optimizer);
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - caller);
        Assert.Equal(0, WorkerPool.HelperAllocatedBytesForCurrentThread - helpers);
    }
}
