using System;
using Dsl.Optimizers;
using Dsl.Runtime;
using Xunit;

namespace Dsl.Tests.EndToEnd;

/// <summary>FGM ([Adversarial] on an embedding) through the generated engine, in double.</summary>
/// <remarks>In the shared-runtime collection: the allocation tests count the worker pool's helper
/// threads, which a test running in parallel would also be using.</remarks>
[Collection(Dsl.Tests.Kernels.SharedRuntimeStateCollection.Name)]
public sealed class AdversarialTests
{
    private static readonly int[] s_labels = [0, 2, 1, 1, 2, 0, 0, 1];

    private static AdversarialTagger.Engine<double> Engine()
    {
        var engine = new AdversarialTagger.Engine<double>(seed: 4);
        int[] ids = [1, 4, 0, 5, 3, 3, 2, 1];
        ids.CopyTo(engine.Tokens, 0);
        return engine;
    }

    private static (int Offset, int Length) Table()
    {
        foreach (var t in AdversarialTagger.Engine<double>.Tensors)
        {
            if (t.Name == "Tokens.weight") return (t.Offset, t.Length);
        }

        throw new InvalidOperationException("no Tokens.weight");
    }

    /// <summary>The clean gradient and r = ε·g_E/‖g_E‖ computed here, in double, from a clean pass.</summary>
    private static (double[] Clean, double[] R) CleanGradientAndPerturbation(AdversarialTagger.Engine<double> engine)
    {
        engine.TrainingPass(2, s_labels);
        double[] clean = engine.Gradients.ToArray();
        var (offset, length) = Table();
        double norm = 0;
        for (int i = 0; i < length; i++) norm += clean[offset + i] * clean[offset + i];
        norm = Math.Sqrt(norm);
        var r = new double[length];
        for (int i = 0; i < length; i++) r[i] = AdversarialTagger.Engine<double>.AdversarialEpsilon * clean[offset + i] / norm;
        return (clean, r);
    }

    [Fact]
    public void The_gradient_is_the_clean_plus_the_perturbed_gradient_and_the_table_is_restored()
    {
        var engine = Engine();
        double[] before = engine.Parameters.ToArray();
        var (clean, r) = CleanGradientAndPerturbation(engine);
        var (offset, length) = Table();

        // The perturbed pass, by hand.
        for (int i = 0; i < length; i++) engine.Parameters[offset + i] += r[i];
        engine.TrainingPass(2, s_labels);
        double[] perturbed = engine.Gradients.ToArray();
        before.CopyTo(engine.Parameters);

        double cleanLoss = engine.TrainingPass(2, s_labels);
        double loss = engine.AdversarialPass(2, s_labels);
        Assert.Equal(cleanLoss, loss);
        Assert.Equal(before, engine.Parameters.ToArray()); // restored bit for bit
        Assert.Equal(0.5, engine.AdversarialPerturbationNorm, 1e-12);
        double[] combined = engine.Gradients.ToArray();
        double largestPerturbedChange = 0;
        foreach (var t in AdversarialTagger.Engine<double>.Tensors)
        {
            for (int k = t.Offset; k < t.Offset + t.Length; k++)
            {
                Assert.Equal(clean[k] + perturbed[k], combined[k], 1e-13);
                largestPerturbedChange = Math.Max(largestPerturbedChange, Math.Abs(perturbed[k] - clean[k]));
            }
        }

        Assert.True(largestPerturbedChange > 1e-3, "the perturbation should change the gradients");
    }

    [Fact]
    public void Gradient_check_of_the_combined_objective_with_r_held_constant()
    {
        // J(θ) = L(θ) + L(θ + r₀), r₀ frozen at the base point (FGM does not differentiate through r).
        var engine = Engine();
        var (_, r0) = CleanGradientAndPerturbation(engine);
        var (offset, length) = Table();
        engine.AdversarialPass(2, s_labels);
        double[] analytic = engine.Gradients.ToArray();

        double J()
        {
            double clean = engine.Loss(2, s_labels);
            var table = engine.Parameters.Slice(offset, length);
            for (int i = 0; i < length; i++) table[i] += r0[i];
            double perturbed = engine.Loss(2, s_labels);
            for (int i = 0; i < length; i++) table[i] -= r0[i];
            return clean + perturbed;
        }

        GradientCheckTests.Check(engine.Parameters, analytic, J, AdversarialTagger.Engine<double>.Tensors);
    }

    [Fact]
    public void The_same_weights_without_adversarial_train_differently()
    {
        var adversarial = new AdversarialTagger(seed: 2);
        var plain = new PlainTagger(seed: 2);
        int[] x = [1, 4, 0, 5, 3, 3, 2, 1];
        var a = new Sgd(0.1, momentum: 0);
        var p = new Sgd(0.1, momentum: 0);
        float la = adversarial.TrainStep(x, s_labels, a);
        float lp = plain.TrainStep(x, s_labels, p);
        Assert.Equal(lp, la); // same initial weights, same clean loss
        float la2 = adversarial.TrainStep(x, s_labels, a);
        float lp2 = plain.TrainStep(x, s_labels, p);
        Assert.NotEqual(lp2, la2); // but FGM's step was different
    }

    [Fact]
    public void TrainStep_with_fgm_allocates_nothing()
    {
        var model = new AdversarialTagger(seed: 1);
        var optimizer = new AdamW(1e-3);
        int[] x = [1, 4, 0, 5, 3, 3, 2, 1];
        for (int i = 0; i < 10; i++) model.TrainStep(x, s_labels, optimizer);
        var (allocated, helperAllocated) = Allocations.PerWindow(() => model.TrainStep(x, s_labels, optimizer), 50);
        Assert.Equal(0, allocated);
        Assert.Equal(0, helperAllocated);
    }

    [Fact]
    public void Perturb_checks_its_arguments_and_skips_a_zero_gradient()
    {
        double[] table = [1, 2], backup = new double[2], zero = new double[2];
        Assert.Equal(0, FastGradient.Perturb<double>(table, backup, zero, 1));
        Assert.Equal([1.0, 2.0], table);
        Assert.Contains("epsilon must be positive and finite, was -1", Assert.Throws<ArgumentException>(() => FastGradient.Perturb<double>(table, backup, zero, -1)).Message);
        Assert.Throws<ArgumentException>(() => FastGradient.Perturb<double>(table, new double[1], zero, 1));
        double[] g = [3, 4];
        Assert.Equal(2, FastGradient.Perturb<double>(table, backup, g, 2), 1e-15);
        Assert.Equal([1 + 1.2, 2 + 1.6], table);
    }
}
