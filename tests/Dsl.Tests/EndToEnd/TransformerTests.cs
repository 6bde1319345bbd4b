using System;
using System.Linq;
using Dsl.Optimizers;
using Dsl.Runtime;
using Xunit;

namespace Dsl.Tests.EndToEnd;

/// <summary>
/// The transformer layers through the generated code: double-precision gradient checks of every
/// option (SEEDS.md §3 protocol, via <see cref="GradientCheckTests.Check"/>), the fused float path
/// against the eager double reference, and training behaviour.
/// </summary>
public sealed class TransformerTests
{
    private static int[] Tokens(int count, int vocabulary, ulong seed)
    {
        var random = new SeededRandom(seed);
        var ids = new int[count];
        for (int i = 0; i < ids.Length; i++) ids[i] = (int)(random.NextDouble() * vocabulary);
        return ids;
    }

    private static int[] Labels(int count, int classes, ulong seed) => Tokens(count, classes, seed);

    private static void Fill(Span<double> input, ulong seed)
    {
        var random = new SeededRandom(seed);
        for (int i = 0; i < input.Length; i++) input[i] = random.NextGaussian();
    }

    [Fact]
    public void Gpt_embedding_positions_repeat_fused_residual_norms_tied_head()
    {
        var engine = new TinyGpt.Engine<double>(seed: 1);
        int rows = 2 * TinyGpt.Sequence;
        Tokens(rows, 7, 3).CopyTo(engine.Tokens, 0);
        int[] labels = Labels(rows, 7, 4);
        engine.TrainingPass(2, labels);
        double[] analytic = engine.Gradients.ToArray();
        GradientCheckTests.Check(engine.Arena.AsSpan(0, TinyGpt.Engine<double>.ParameterRegion), analytic, () => engine.TrainingPass(2, labels), TinyGpt.Engine<double>.Tensors);
    }

    [Fact]
    public void Causal_attention_with_rope_and_biases()
    {
        var engine = new CausalRope.Engine<double>(seed: 2);
        Fill(engine.Input, 5);
        int[] labels = Labels(2 * CausalRope.Sequence, 3, 6);
        engine.TrainingPass(2, labels);
        double[] analytic = engine.Gradients.ToArray();
        GradientCheckTests.Check(engine.Arena.AsSpan(0, CausalRope.Engine<double>.ParameterRegion), analytic, () => engine.TrainingPass(2, labels), CausalRope.Engine<double>.Tensors);
    }

    [Fact]
    public void Local_window_explicit_scale_key_size_partial_rope_and_rmsnorm()
    {
        var engine = new WindowKeySize.Engine<double>(seed: 3);
        Fill(engine.Input, 7);
        int[] labels = Labels(2 * WindowKeySize.Sequence, 3, 8);
        engine.TrainingPass(2, labels);
        double[] analytic = engine.Gradients.ToArray();
        GradientCheckTests.Check(engine.Arena.AsSpan(0, WindowKeySize.Engine<double>.ParameterRegion), analytic, () => engine.TrainingPass(2, labels), WindowKeySize.Engine<double>.Tensors);
    }

    [Fact]
    public void Causal_talking_heads_with_the_entropy_invariant_scale_and_gainless_rmsnorm()
    {
        var engine = new EntropyTalkingHeads.Engine<double>(seed: 7);
        Fill(engine.Input, 17);
        int[] labels = Labels(2 * EntropyTalkingHeads.Sequence, 3, 18);
        engine.TrainingPass(2, labels);
        double[] analytic = engine.Gradients.ToArray();
        GradientCheckTests.Check(engine.Arena.AsSpan(0, EntropyTalkingHeads.Engine<double>.ParameterRegion), analytic, () => engine.TrainingPass(2, labels), EntropyTalkingHeads.Engine<double>.Tensors);
    }

    [Fact]
    public void Linear_attention_causal_and_global()
    {
        var engine = new LinearBoth.Engine<double>(seed: 8);
        Fill(engine.Input, 19);
        var targets = new double[2 * LinearBoth.Sequence * LinearBoth.OutputFeatures];
        Fill(targets, 20);
        engine.TrainingPass(2, targets);
        double[] analytic = engine.Gradients.ToArray();
        GradientCheckTests.Check(engine.Arena.AsSpan(0, LinearBoth.Engine<double>.ParameterRegion), analytic, () => engine.TrainingPass(2, targets), LinearBoth.Engine<double>.Tensors);
    }

    [Fact]
    public void DeepNorm_post_ln_stack()
    {
        var engine = new DeepNormStack.Engine<double>(seed: 4);
        Fill(engine.Input, 9);
        int[] labels = Labels(2 * DeepNormStack.Sequence, 3, 10);
        engine.TrainingPass(2, labels);
        double[] analytic = engine.Gradients.ToArray();
        GradientCheckTests.Check(engine.Arena.AsSpan(0, DeepNormStack.Engine<double>.ParameterRegion), analytic, () => engine.TrainingPass(2, labels), DeepNormStack.Engine<double>.Tensors);
    }

    [Fact]
    public void A_smaller_batch_than_the_maximum_checks_too()
    {
        var engine = new TinyGpt.Engine<double>(seed: 5);
        Tokens(TinyGpt.Sequence, 7, 11).CopyTo(engine.Tokens, 0);
        int[] labels = Labels(TinyGpt.Sequence, 7, 12);
        engine.TrainingPass(1, labels);
        double[] analytic = engine.Gradients.ToArray();
        GradientCheckTests.Check(engine.Arena.AsSpan(0, TinyGpt.Engine<double>.ParameterRegion), analytic, () => engine.TrainingPass(1, labels), TinyGpt.Engine<double>.Tensors);
    }

    [Fact]
    public void DeepNorm_alpha_and_beta_follow_the_depth()
    {
        // α = (2N)^¼ on the skip, β = (8N)^−¼ as the Xavier-normal gain of the FFN, value and output projections.
        var model = new DeepNormStack(seed: 1);
        var x = new Tensor(4, 6);
        for (int i = 0; i < x.Data.Length; i++) x.Data[i] = i;
        var skipped = model.Blocks[1].Skip(x);
        Assert.Equal(Math.Pow(6, 0.25) * 5, skipped.Data[5], 12);

        // The sample standard deviation of Up's weight (12×6) against β·√(2/(6+12)).
        var tensors = DeepNormStack.Engine<float>.Tensors;
        var up = tensors.ToArray().First(t => t.Name == "Blocks.0.Up.weight");
        var values = model.Compiled.Parameters.Slice(up.Offset, up.Length).ToArray();
        double std = Math.Sqrt(values.Select(v => (double)v * v).Average());
        double expected = Math.Pow(24, -0.25) * Math.Sqrt(2.0 / 18);
        Assert.InRange(std, 0.7 * expected, 1.3 * expected);
    }

    private static void AssertAgrees(ReadOnlySpan<float> fused, Tensor reference)
    {
        Assert.Equal(fused.Length, reference.Data.Length);
        for (int i = 0; i < fused.Length; i++)
            Assert.True(Math.Abs(fused[i] - reference.Data[i]) <= 2e-4 * Math.Max(1, Math.Abs(reference.Data[i])), $"output {i}: fused {fused[i]}, reference {reference.Data[i]}");
    }

    [Fact]
    public void Gpt_fused_forward_agrees_with_the_eager_reference()
    {
        var model = new TinyGpt(seed: 3);
        int[] ids = Tokens(2 * TinyGpt.Sequence, 7, 13);
        var fused = new float[ids.Length * TinyGpt.OutputFeatures];
        model.Predict(ids, fused);
        var input = new Tensor(ids.Length, 1);
        for (int i = 0; i < ids.Length; i++) input.Data[i] = ids[i];
        AssertAgrees(fused, model.Forward(input));
    }

    [Fact]
    public void Attention_variants_agree_with_the_eager_reference()
    {
        var random = new SeededRandom(14);
        float[] Inputs(int rows, int width)
        {
            var x = new float[rows * width];
            for (int i = 0; i < x.Length; i++) x[i] = (float)random.NextGaussian();
            return x;
        }

        var a = new CausalRope(seed: 1);
        float[] xa = Inputs(2 * CausalRope.Sequence, CausalRope.InputFeatures);
        var ya = new float[2 * CausalRope.Sequence * CausalRope.OutputFeatures];
        a.Predict(xa, ya);
        AssertAgrees(ya, a.Forward(Tensor.FromRows(xa, 2 * CausalRope.Sequence, CausalRope.InputFeatures)));

        var b = new WindowKeySize(seed: 2);
        float[] xb = Inputs(2 * WindowKeySize.Sequence, WindowKeySize.InputFeatures);
        var yb = new float[2 * WindowKeySize.Sequence * WindowKeySize.OutputFeatures];
        b.Predict(xb, yb);
        AssertAgrees(yb, b.Forward(Tensor.FromRows(xb, 2 * WindowKeySize.Sequence, WindowKeySize.InputFeatures)));

        var d = new EntropyTalkingHeads(seed: 4);
        float[] xd = Inputs(2 * EntropyTalkingHeads.Sequence, EntropyTalkingHeads.InputFeatures);
        var yd = new float[2 * EntropyTalkingHeads.Sequence * EntropyTalkingHeads.OutputFeatures];
        d.Predict(xd, yd);
        AssertAgrees(yd, d.Forward(Tensor.FromRows(xd, 2 * EntropyTalkingHeads.Sequence, EntropyTalkingHeads.InputFeatures)));

        var e = new LinearBoth(seed: 5);
        float[] xe = Inputs(2 * LinearBoth.Sequence, LinearBoth.InputFeatures);
        var ye = new float[2 * LinearBoth.Sequence * LinearBoth.OutputFeatures];
        e.Predict(xe, ye);
        AssertAgrees(ye, e.Forward(Tensor.FromRows(xe, 2 * LinearBoth.Sequence, LinearBoth.InputFeatures)));

        var c = new DeepNormStack(seed: 3);
        float[] xc = Inputs(2 * DeepNormStack.Sequence, DeepNormStack.InputFeatures);
        var yc = new float[2 * DeepNormStack.Sequence * DeepNormStack.OutputFeatures];
        c.Predict(xc, yc);
        AssertAgrees(yc, c.Forward(Tensor.FromRows(xc, 2 * DeepNormStack.Sequence, DeepNormStack.InputFeatures)));
    }

    [Fact]
    public void Causal_model_output_at_a_position_ignores_later_tokens()
    {
        var model = new TinyGpt(seed: 4);
        int[] ids = Tokens(TinyGpt.Sequence, 7, 15);
        var first = new float[ids.Length * TinyGpt.OutputFeatures];
        model.Predict(ids, first);
        ids[^1] = (ids[^1] + 1) % 7;
        var second = new float[first.Length];
        model.Predict(ids, second);
        int prefix = (TinyGpt.Sequence - 1) * TinyGpt.OutputFeatures;
        Assert.Equal(first.AsSpan(0, prefix).ToArray(), second.AsSpan(0, prefix).ToArray());
        Assert.NotEqual(first.AsSpan(prefix).ToArray(), second.AsSpan(prefix).ToArray());
    }

    [Fact]
    public void Gpt_training_reduces_the_loss_deterministically()
    {
        // Learnable: the next token is the current one plus one (mod 7).
        int rows = 2 * TinyGpt.Sequence;
        int[] ids = Tokens(rows, 7, 16);
        var next = new int[rows];
        for (int i = 0; i < rows; i++) next[i] = (ids[i] + 1) % 7;

        float Run()
        {
            var model = new TinyGpt(seed: 6);
            var optimizer = new AdamW(3e-3, beta2: 0.99, weightDecay: 0.1) { MaxGradientNorm = 1.0 };
            float first = model.TrainStep(ids, next, optimizer);
            float last = first;
            for (int i = 0; i < 80; i++) last = model.TrainStep(ids, next, optimizer);
            Assert.True(last < 0.5f * first, $"loss went from {first} to {last}");
            return last;
        }

        Assert.Equal(Run(), Run());
    }

    [Fact]
    public void Token_ids_out_of_range_are_named()
    {
        var model = new TinyGpt(seed: 1);
        int[] ids = new int[TinyGpt.Sequence];
        ids[3] = 9;
        var e = Assert.ThrowsAny<ArgumentException>(() => model.TrainStep(ids, new int[TinyGpt.Sequence], new Sgd(0.1)));
        Assert.Contains("9", e.Message);
    }

    [Fact]
    public void A_partial_sequence_is_rejected_with_the_sequence_length_named()
    {
        var model = new TinyGpt(seed: 1);
#pragma warning disable DSL208 // on purpose: this tests the run-time check behind what DSL208 reports at compile time
        var e = Assert.Throws<ArgumentException>(() => model.TrainStep(new int[7], new int[7], new Sgd(0.1)));
#pragma warning restore DSL208
        Assert.Contains("5 positions", e.Message);
    }

    [Fact]
    public void Planner_and_kernel_agree_on_the_rope_table_length()
    {
        Assert.Equal(CausalRope.Sequence * 4, Dsl.Kernels.Rope.TableLength(CausalRope.Sequence, 4));
    }
}

/// <summary>The CharGpt sample's models at their real size (batch 12 × 64 positions, width 128).</summary>
[Collection(Dsl.Tests.Kernels.SharedRuntimeStateCollection.Name)]
public sealed class CharGptAllocationTests
{
    [Theory]
    [InlineData("gpt")]
    [InlineData("rope")]
    public void TrainStep_allocates_nothing_on_any_thread(string variant)
    {
        global::CharGpt.ICharModel model = variant == "gpt" ? new global::CharGpt.CharGpt(seed: 1) : new global::CharGpt.CharGptRope(seed: 1);
        var optimizer = new AdamW(1e-3, beta2: 0.99, weightDecay: 0.1) { MaxGradientNorm = 1.0 };
        var random = new SeededRandom(3);
        var ids = new int[12 * 64];
        var next = new int[ids.Length];
        for (int i = 0; i < ids.Length; i++)
        {
            ids[i] = (int)(random.NextDouble() * 65);
            next[i] = (int)(random.NextDouble() * 65);
        }

        for (int i = 0; i < 5; i++) model.TrainStep(ids, next, optimizer); // warm-up: JIT, per-worker scratch, tiering
        // The caller's own count and the pool's helpers' counts (a process-wide count would include
        // the test host's background threads, which allocate even while the process is idle).
        var (allocated, helperAllocated) = Allocations.PerWindow(() => model.TrainStep(ids, next, optimizer), 10);
        Assert.Equal(0, allocated);
        Assert.Equal(0, helperAllocated);
    }
}
