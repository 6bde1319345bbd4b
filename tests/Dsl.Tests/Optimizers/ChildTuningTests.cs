using System;
using System.Linq;
using System.Numerics;
using Dsl.Optimizers;
using Xunit;

namespace Dsl.Tests.Optimizers;

// The argument checks pass invalid p on purpose (DSL316); the allocation test covers AdamW's l2 (DSL317).
#pragma warning disable DSL316, DSL317

/// <summary>
/// ChildTuning-F and -D around plain SGD with lr = 1 and θ = 0: one step leaves θ = −(masked
/// gradient) exactly, so the tests read the mask and the 1/p rescale straight off θ.
/// </summary>
public sealed class ChildTuningTests
{
    private static double Gradient(int i) => 0.25 + ((i % 13) * 0.125) - ((i % 3) * 0.5) + 1e-3;

    private static double[] MaskedGradient(Optimizer wrapper, double[] grad, ParameterTensor[] tensors, double[] state)
    {
        double[] theta = new double[grad.Length];
        wrapper.Step<double>(theta, grad, state, tensors);
        return theta.Select(value => -value).ToArray();
    }

    [Theory]
    [InlineData(0.3)]
    [InlineData(0.8)]
    public void ChildTuningF_keeps_a_p_fraction_rescaled_exactly_by_one_over_p(double p)
    {
        const int n = 200_000;
        ParameterTensor[] tensors = [new("w", 0, n, IsMatrix: true)];
        double[] grad = Enumerable.Range(0, n).Select(Gradient).ToArray();
        var wrapper = new ChildTuningF(new Sgd(1, momentum: 0), p, seed: 7);
        Assert.Equal(2, wrapper.StateSlots);
        double[] state = new double[2 * n];
        double[] masked = MaskedGradient(wrapper, grad, tensors, state);

        double scale = 1.0 / p;
        int kept = 0;
        for (int i = 0; i < n; i++)
        {
            if (masked[i] != 0)
            {
                Assert.Equal(grad[i] * scale, masked[i]); // exactly g·(1/p)
                kept++;
            }
        }

        // Binomial(n, p): a 6σ band fails by chance about once in 10⁹ runs, and fails for sure
        // if the rate is off by more than 6σ ≈ 0.006 here.
        double sigma = Math.Sqrt(p * (1 - p) / n);
        Assert.InRange((double)kept / n, p - (6 * sigma), p + (6 * sigma));
    }

    [Fact]
    public void ChildTuningF_draws_a_fresh_mask_each_step_reproducible_from_the_seed()
    {
        const int n = 10_000;
        ParameterTensor[] tensors = [new("w", 0, n, IsMatrix: true)];
        double[] grad = Enumerable.Range(0, n).Select(Gradient).ToArray();
        bool[] Mask(ChildTuningF wrapper, double[] state) => MaskedGradient(wrapper, grad, tensors, state).Select(x => x != 0).ToArray();

        var a = new ChildTuningF(new Sgd(1, momentum: 0), 0.5, seed: 1);
        double[] stateA = new double[2 * n];
        bool[] first = Mask(a, stateA), second = Mask(a, stateA);
        var b = new ChildTuningF(new Sgd(1, momentum: 0), 0.5, seed: 1);
        double[] stateB = new double[2 * n];
        Assert.Equal(first, Mask(b, stateB));
        Assert.Equal(second, Mask(b, stateB));
        // Independent masks with p = 0.5 agree on about half the entries.
        double agreement = first.Zip(second).Count(pair => pair.First == pair.Second) / (double)n;
        Assert.InRange(agreement, 0.45, 0.55);
        var c = new ChildTuningF(new Sgd(1, momentum: 0), 0.5, seed: 2);
        Assert.NotEqual(first, Mask(c, new double[2 * n]));
        Assert.Equal(2, a.Steps);
        Assert.Equal(2, a.Inner.Steps);
    }

    [Fact]
    public void ChildTuningF_with_p_one_is_the_inner_optimizer()
    {
        double[] theta1 = [0.5, -0.25, 1], theta2 = [0.5, -0.25, 1], grad = [0.1, 0.2, -0.3];
        ParameterTensor[] tensors = [new("w", 0, 3, IsMatrix: true)];
        var wrapper = new ChildTuningF(new AdamW(0.01), 1, seed: 3);
        Assert.Equal(3, wrapper.StateSlots);
        wrapper.Step<double>(theta1, grad, new double[9], tensors);
        new AdamW(0.01).Step<double>(theta2, grad, new double[6], tensors);
        Assert.Equal(theta2, theta1);
    }

    [Fact]
    public void ChildTuningD_keeps_exactly_the_largest_fisher_entries()
    {
        // A 37-element matrix and an 11-element bias at offset 40; the padding 37..39 is not a tensor.
        const int length = 51;
        ParameterTensor[] tensors = [new("w", 0, 37, IsMatrix: true), new("b", 40, 11, IsMatrix: false)];
        double[] g1 = new double[length], g2 = new double[length];
        for (int i = 0; i < length; i++)
        {
            g1[i] = Math.Sin(1.7 * i);
            g2[i] = Math.Cos(0.9 * i) * 0.5;
        }

        var wrapper = new ChildTuningD(new Sgd(1, momentum: 0), p: 0.25, fisherSteps: 2);
        Assert.Equal(3, wrapper.StateSlots);
        double[] state = new double[3 * length];
        double[] theta = new double[length];
        theta.AsSpan().Fill(0.5);
        wrapper.Step<double>(theta, g1, state, tensors);
        Assert.False(wrapper.IsMaskFixed);
        wrapper.Step<double>(theta, g2, state, tensors);
        Assert.True(wrapper.IsMaskFixed);
        Assert.All(theta, value => Assert.Equal(0.5, value)); // the Fisher pass does not update
        Assert.Equal(0, wrapper.Inner.Steps);

        // Expected: the round(0.25·48) = 12 covered entries with the largest g1² + g2².
        int[] covered = Enumerable.Range(0, 37).Concat(Enumerable.Range(40, 11)).ToArray();
        var top = covered.OrderByDescending(i => (g1[i] * g1[i]) + (g2[i] * g2[i])).Take(12).ToHashSet();
        Assert.Equal(12, wrapper.KeptCount);

        double[] g3 = Enumerable.Range(0, length).Select(Gradient).ToArray();
        double[] masked = MaskedGradient(wrapper, g3, tensors, state);
        foreach (int i in covered)
        {
            Assert.Equal(top.Contains(i) ? g3[i] * 4.0 : 0.0, masked[i]);
        }

        // The mask is fixed: the next step masks the same entries.
        double[] again = MaskedGradient(wrapper, g3, tensors, state);
        Assert.Equal(masked, again);
    }

    [Fact]
    public void ChildTuningD_breaks_ties_by_position_and_works_in_float()
    {
        ParameterTensor[] tensors = [new("w", 0, 10, IsMatrix: true)];
        float[] grad = new float[10];
        grad.AsSpan().Fill(0.5f);
        grad[7] = 2f; // the one clear winner
        var wrapper = new ChildTuningD(new Sgd(1, momentum: 0), p: 0.3, fisherSteps: 1);
        float[] state = new float[30], theta = new float[10];
        wrapper.Step<float>(theta, grad, state, tensors);
        wrapper.Step<float>(theta, grad, state, tensors);
        float scale = (float)(1 / 0.3);
        float[] expected = new float[10];
        expected[0] = -0.5f * scale; // then ties by position: 0 and 1
        expected[1] = -0.5f * scale;
        expected[7] = -2f * scale;
        Assert.Equal(expected, theta);
    }

    [Fact]
    public void Wrappers_pass_their_learning_rate_and_clipping_to_the_inner_optimizer()
    {
        ParameterTensor[] tensors = [new("w", 0, 2, IsMatrix: true)];
        var wrapper = new ChildTuningF(new Sgd(0.5, momentum: 0), 1, seed: 0) { MaxGradientNorm = 1 };
        Assert.Equal(0.5, wrapper.LearningRate);
        wrapper.LearningRate = 0.25; // as a schedule would
        double[] theta = new double[2];
        wrapper.Step<double>(theta, [3.0, 4.0], new double[4], tensors);
        Assert.Equal(5, wrapper.LastGradientNorm, 1e-15);
        double factor = 1 / (5 + 1e-6);
        Assert.Equal(-0.25 * 3 * factor, theta[0], 1e-15);
        Assert.Equal(-0.25 * 4 * factor, theta[1], 1e-15);
    }

    [Fact]
    public void Arguments_are_checked_naming_the_value()
    {
        Assert.Throws<ArgumentNullException>(() => new ChildTuningF(null!, 0.5, 1));
        Assert.Contains("p must be in (0, 1], was 0", Assert.Throws<ArgumentException>(() => new ChildTuningF(new Lion(), 0, 1)).Message);
        Assert.Contains("p must be in (0, 1], was 1.5", Assert.Throws<ArgumentException>(() => new ChildTuningD(new Lion(), 1.5, 1)).Message);
        Assert.Contains("p must be in (0, 1], was NaN", Assert.Throws<ArgumentException>(() => new ChildTuningD(new Lion(), double.NaN, 1)).Message);
        Assert.Contains("fisherSteps must be positive, was 0", Assert.Throws<ArgumentException>(() => new ChildTuningD(new Lion(), 0.5, 0)).Message);
        var wrapper = new ChildTuningD(new AdamW(), 0.5, 1);
        Assert.Contains("needs 4 × 3 = 12", Assert.Throws<ArgumentException>(() => wrapper.Step<double>(new double[3], new double[3], new double[9], [new("w", 0, 3, true)])).Message);
    }

    [Fact]
    public void Every_optimizer_steps_without_allocating()
    {
        AssertNoAllocation<float>(new Lion(1e-4));
        AssertNoAllocation<double>(new Lion(1e-4, decayAll: true));
        AssertNoAllocation<float>(new Sgd(0.1, l2: 0.01));
        AssertNoAllocation<float>(new AdamW(l2: 0.01));
        AssertNoAllocation<float>(new ChildTuningF(new AdamW(), 0.3, seed: 1));
        AssertNoAllocation<double>(new ChildTuningF(new Lion(), 0.3, seed: 1));
        AssertNoAllocation<float>(new ChildTuningD(new AdamW(), 0.3, fisherSteps: 60)); // fixes its mask inside the measured steps
        AssertNoAllocation<double>(new ChildTuningD(new Sgd(0.1), 0.3, fisherSteps: 200)); // still accumulating Fisher information
    }

    private static void AssertNoAllocation<T>(Optimizer optimizer) where T : unmanaged, IFloatingPointIeee754<T>
    {
        const int count = 40;
        ParameterTensor[] tensors = [new("w", 0, 29, true), new("b", 32, 8, false)];
        T[] theta = new T[count], grad = new T[count], state = new T[Optimizer.MaxStateSlots * count];
        for (int i = 0; i < count; i++)
        {
            grad[i] = T.CreateTruncating(Gradient(i) * 0.01);
        }

        // JIT, first-call work and tiering: past the 30 calls after which a method is recompiled, as
        // the other allocation tests warm up, so no tier transition lands inside the measured steps.
        for (int i = 0; i < 50; i++)
        {
            optimizer.Step<T>(theta, grad, state, tensors);
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 100; i++)
        {
            optimizer.LearningRate *= 0.999;
            optimizer.Step<T>(theta, grad, state, tensors);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.Equal(150, optimizer.Steps);
    }
}
