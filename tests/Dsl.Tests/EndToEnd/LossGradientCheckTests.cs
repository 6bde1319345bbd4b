using System;
using Dsl.Runtime;
using Xunit;

namespace Dsl.Tests.EndToEnd;

/// <summary>
/// Every new loss through the generated code path (<c>Engine&lt;double&gt;</c>): central finite
/// differences of the loss the engine computes against the gradient it leaves, per SEEDS §3 (see
/// <see cref="GradientCheckTests"/> for the protocol). Stop-gradient weights (TaiLr) are frozen at the
/// base point; flooding is checked on both sides of the level.
/// </summary>
public sealed class LossGradientCheckTests
{
    private const int Batch = 6;
    private static readonly int[] s_labels = { 0, 3, 1, 2, 1, 0 };

    private static void Fill(Span<double> input, ulong seed)
    {
        var random = new SeededRandom(seed);
        for (int i = 0; i < input.Length; i++) input[i] = random.NextGaussian();
    }

    [Fact]
    public void Focal_loss_gamma_2_alpha_half()
    {
        var engine = new FocalNet.Engine<double>(seed: 1);
        Fill(engine.Input.Slice(0, Batch * FocalNet.InputFeatures), 21);
        engine.TrainingPass(Batch, s_labels);
        GradientCheckTests.Check(engine.Parameters, engine.Gradients.ToArray(), () => engine.TrainingPass(Batch, s_labels), FocalNet.Engine<double>.Tensors);
    }

    [Fact]
    public void Focal_loss_gamma_below_one_uses_the_stable_form()
    {
        var engine = new FocalHalfNet.Engine<double>(seed: 2);
        Fill(engine.Input.Slice(0, Batch * FocalHalfNet.InputFeatures), 22);
        engine.TrainingPass(Batch, s_labels);
        GradientCheckTests.Check(engine.Parameters, engine.Gradients.ToArray(), () => engine.TrainingPass(Batch, s_labels), FocalHalfNet.Engine<double>.Tensors);
    }

    [Fact]
    public void Label_smoothing()
    {
        var engine = new SmoothedNet.Engine<double>(seed: 3);
        Fill(engine.Input.Slice(0, Batch * SmoothedNet.InputFeatures), 23);
        engine.TrainingPass(Batch, s_labels);
        GradientCheckTests.Check(engine.Parameters, engine.Gradients.ToArray(), () => engine.TrainingPass(Batch, s_labels), SmoothedNet.Engine<double>.Tensors);
    }

    [Fact]
    public void Logit_adjusted_cross_entropy_with_declared_priors()
    {
        var engine = new AdjustedNet.Engine<double>(seed: 4);
        Fill(engine.Input.Slice(0, Batch * AdjustedNet.InputFeatures), 24);
        engine.TrainingPass(Batch, s_labels);
        GradientCheckTests.Check(engine.Parameters, engine.Gradients.ToArray(), () => engine.TrainingPass(Batch, s_labels), AdjustedNet.Engine<double>.Tensors);
    }

    [Fact]
    public void Logit_adjusted_cross_entropy_with_priors_counted_at_run_time()
    {
        var engine = new AdjustedAtRunTimeNet.Engine<double>(seed: 5);
        Fill(engine.Input.Slice(0, Batch * AdjustedAtRunTimeNet.InputFeatures), 25);
        double uniform = engine.Loss(Batch, s_labels);
        engine.SetClassPriors(Dsl.Kernels.LogitAdjustedCrossEntropy.CountPriors(new[] { 0, 0, 0, 0, 0, 1, 1, 2 }, 4));
        double adjusted = engine.Loss(Batch, s_labels);
        Assert.NotEqual(uniform, adjusted, 6); // the priors took effect
        engine.TrainingPass(Batch, s_labels);
        GradientCheckTests.Check(engine.Parameters, engine.Gradients.ToArray(), () => engine.TrainingPass(Batch, s_labels), AdjustedAtRunTimeNet.Engine<double>.Tensors);
    }

    /// <summary>−Σ_r w_r ln softmax(z_r)[y_r] / rows from the engine's logits, with the weights given (frozen).</summary>
    private static double FrozenTaiLr(TaiLrNet.Engine<double> engine, double[] weights)
    {
        engine.Forward(Batch, training: false);
        var logits = new Tensor(Batch, TaiLrNet.OutputFeatures);
        engine.Output.Slice(0, logits.Data.Length).CopyTo(logits.Data);
        double total = 0;
        for (int r = 0; r < Batch; r++)
        {
            var row = new Tensor(1, TaiLrNet.OutputFeatures);
            for (int c = 0; c < row.Columns; c++) row[0, c] = logits[r, c];
            total += weights[r] * Ops.SoftmaxCrossEntropy(row, new Labels(new[] { s_labels[r] })).Value;
        }

        return total / Batch;
    }

    private static double[] TaiLrWeights(TaiLrNet.Engine<double> engine)
    {
        engine.Forward(Batch, training: false);
        var weights = new double[Batch];
        for (int r = 0; r < Batch; r++)
        {
            var row = new Tensor(1, TaiLrNet.OutputFeatures);
            for (int c = 0; c < row.Columns; c++) row[0, c] = engine.Output[r * TaiLrNet.OutputFeatures + c];
            double p = Math.Exp(-Ops.SoftmaxCrossEntropy(row, new Labels(new[] { s_labels[r] })).Value);
            weights[r] = Dsl.Kernels.TaiLr.Weight(p, 0.5, 0.1);
        }

        return weights;
    }

    [Fact]
    public void TaiLr_with_its_weight_frozen_at_the_base_point()
    {
        var engine = new TaiLrNet.Engine<double>(seed: 6);
        Fill(engine.Input.Slice(0, Batch * TaiLrNet.InputFeatures), 26);
        double[] weights = TaiLrWeights(engine);
        Assert.Contains(weights, w => w > 0.1 && w < 1); // the weights are not all clamped: sg matters
        double value = engine.TrainingPass(Batch, s_labels);
        Assert.Equal(FrozenTaiLr(engine, weights), value, 12); // same value as the frozen function at the base point
        GradientCheckTests.Check(engine.Parameters, engine.Gradients.ToArray(), () => FrozenTaiLr(engine, weights), TaiLrNet.Engine<double>.Tensors);
    }

    [Fact]
    public void TaiLr_check_fails_if_the_weight_were_differentiated()
    {
        // Finite differences of the full value −w(θ) ln p(θ) see the spurious ln p · ∇w term the
        // stop-gradient removes, so they disagree with the implemented gradient.
        var engine = new TaiLrNet.Engine<double>(seed: 6);
        Fill(engine.Input.Slice(0, Batch * TaiLrNet.InputFeatures), 26);
        engine.TrainingPass(Batch, s_labels);
        double[] analytic = engine.Gradients.ToArray();
        Assert.ThrowsAny<Xunit.Sdk.XunitException>(() =>
            GradientCheckTests.Check(engine.Parameters, analytic, () => engine.Loss(Batch, s_labels), TaiLrNet.Engine<double>.Tensors));
    }

    [Fact]
    public void Flooding_above_the_level_descends_and_below_it_ascends()
    {
        var plain = new PlainNet.Engine<double>(seed: 7);
        var below = new FloodBelowNet.Engine<double>(seed: 7);
        var above = new FloodAboveNet.Engine<double>(seed: 7);
        Fill(plain.Input.Slice(0, Batch * PlainNet.InputFeatures), 27);
        plain.Input.CopyTo(below.Input);
        plain.Input.CopyTo(above.Input);

        double loss = plain.TrainingPass(Batch, s_labels);
        Assert.InRange(loss, 0.05 + 0.1, 4 - 0.1); // well away from both levels (SEEDS §3: away from the kink)
        Assert.Equal(loss, below.TrainingPass(Batch, s_labels), 12);            // |L − b| + b = L above b
        Assert.Equal(2 * 4 - loss, above.TrainingPass(Batch, s_labels), 12);   // = 2b − L below b
        double[] g = plain.Gradients.ToArray(), gBelow = below.Gradients.ToArray(), gAbove = above.Gradients.ToArray();
        Assert.Contains(g, v => Math.Abs(v) > 1e-3);
        for (int i = 0; i < g.Length; i++)
        {
            Assert.Equal(g[i], gBelow[i], 14);
            Assert.Equal(-g[i], gAbove[i], 14);
        }

        GradientCheckTests.Check(below.Parameters, gBelow, () => below.TrainingPass(Batch, s_labels), FloodBelowNet.Engine<double>.Tensors);
        GradientCheckTests.Check(above.Parameters, gAbove, () => above.TrainingPass(Batch, s_labels), FloodAboveNet.Engine<double>.Tensors);
    }

    [Fact]
    public void Flooding_wraps_any_loss()
    {
        var engine = new FloodedFocalNet.Engine<double>(seed: 8);
        Fill(engine.Input.Slice(0, Batch * FloodedFocalNet.InputFeatures), 28);
        double flooded = engine.TrainingPass(Batch, s_labels);
        Assert.True(flooded > 3, $"focal loss below the level 3 floods to 2b − L > b, got {flooded}");
        GradientCheckTests.Check(engine.Parameters, engine.Gradients.ToArray(), () => engine.TrainingPass(Batch, s_labels), FloodedFocalNet.Engine<double>.Tensors);
    }

    [Fact]
    public void Flooding_at_the_level_exactly_gives_a_zero_gradient()
    {
        double[] gradient = { 0.5, -0.25 };
        Assert.Equal(0.3, Dsl.Kernels.Flooding.Apply<double>(0.3, 0.3, gradient));
        Assert.Equal(new double[2], gradient);
    }

    /// <summary>Token ids for 4 pairs (8 examples of 4 positions), pads (0) at the ends of some.</summary>
    internal static int[] PairIds(int examples, int sequence, int vocabulary, ulong seed)
    {
        var random = new SeededRandom(seed);
        var ids = new int[examples * sequence];
        for (int e = 0; e < examples; e++)
        {
            int length = 1 + (int)(random.NextDouble() * sequence);
            for (int t = 0; t < length; t++) ids[e * sequence + t] = 1 + (int)(random.NextDouble() * (vocabulary - 1));
        }

        return ids;
    }

    [Fact]
    public void CoSent_through_mean_pooling()
    {
        var engine = new CoSentPairs.Engine<double>(seed: 9);
        PairIds(8, CoSentPairs.Sequence, 11, 29).CopyTo(engine.Tokens, 0);
        double[] scores = { 4.2, 1.0, 3.0, 1.0 };   // a tie: (1, 3) is not an ordered pair
        double loss = engine.TrainingPass(8, scores);
        Assert.True(loss > 0);
        GradientCheckTests.Check(engine.Parameters, engine.Gradients.ToArray(), () => engine.TrainingPass(8, scores), CoSentPairs.Engine<double>.Tensors);
    }

    [Fact]
    public void Cosine_mse_through_mean_pooling()
    {
        var engine = new CosineMsePairs.Engine<double>(seed: 10);
        PairIds(8, CosineMsePairs.Sequence, 11, 30).CopyTo(engine.Tokens, 0);
        double[] scores = { 0.84, 0.2, 0.6, 0.0 };
        engine.TrainingPass(8, scores);
        GradientCheckTests.Check(engine.Parameters, engine.Gradients.ToArray(), () => engine.TrainingPass(8, scores), CosineMsePairs.Engine<double>.Tensors);
    }

    [Fact]
    public void Pad_positions_do_not_change_the_pooled_output()
    {
        var model = new CoSentPairs(seed: 3);
        int[] ids = PairIds(8, CoSentPairs.Sequence, 11, 31);
        var before = new float[8 * CoSentPairs.OutputFeatures];
        model.Predict(ids, before);
        // Pads hold no information: writing a different id where there was a pad changes the output,
        // while the embedding row of the pad id itself is never read.
        model.Compiled.Parameters.Slice(CoSentPairs.Engine<float>.Tensors[0].Offset, 6).Fill(100f); // pad's embedding row
        var after = new float[before.Length];
        model.Predict(ids, after);
        Assert.Equal(before, after);
    }
}
