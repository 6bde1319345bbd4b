using System;
using System.Numerics;
using Dsl.Kernels;
using Dsl.Reference;
using Xunit;

namespace Dsl.Tests.Kernels;

public sealed class TalkingHeadsTests
{
    private const AttentionScaleMode Fixed = AttentionScaleMode.Fixed;
    private const AttentionScaleMode Entropy = AttentionScaleMode.EntropyInvariant;

    /// <summary>A problem plus its two mixing matrices (identity plus noise, as after initialisation and some training).</summary>
    private sealed class Case
    {
        public Case(int batch, int seq, int heads, int dk, int dv, bool causal, int window, AttentionScaleMode mode, int seed)
        {
            P = new AttentionProblem(AttentionProblem.Make(heads, dk, dv, seq, causal, window, mode), batch, seed + seq + (11 * dk) + window);
            var random = new Random(seed * 31);
            Pre = AttentionProblem.Draw(random, heads * heads, 0.5);
            Post = AttentionProblem.Draw(random, heads * heads, 0.5);
            for (int h = 0; h < heads; h++)
            {
                Pre[(h * heads) + h] += 1;
                Post[(h * heads) + h] += 1;
            }
        }

        public AttentionProblem P { get; }

        public double[] Pre { get; }

        public double[] Post { get; }

        public int MixSize => P.Options.Heads * P.Options.Heads;

        public void RoundToFloat()
        {
            P.RoundToFloat();
            for (int i = 0; i < MixSize; i++)
            {
                Pre[i] = (float)Pre[i];
                Post[i] = (float)Post[i];
            }
        }
    }

    private static T[] Forward<T>(Case c, T[] packed, T[] pre, T[] post, T[] stats)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        AttentionProblem p = c.P;
        var output = new T[p.OutputLength];
        TalkingHeadsAttention.Forward(p.Options, p.Batch, p.Q(packed), p.K(packed), p.V(packed), p.Stride, pre, post, output, p.OutStride, stats);
        return output;
    }

    private static (T[] Grad, T[] DPre, T[] DPost) Backward<T>(Case c, T[] packed, T[] pre, T[] post, T[] output, T[] dOutput, T[] stats)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        AttentionProblem p = c.P;
        var grad = new T[packed.Length];
        grad.AsSpan().Fill(T.NaN);
        var dPre = new T[c.MixSize];
        var dPost = new T[c.MixSize];
        dPre.AsSpan().Fill(T.NaN);
        dPost.AsSpan().Fill(T.NaN);
        TalkingHeadsAttention.Backward(
            p.Options, p.Batch, p.Q(packed), p.K(packed), p.V(packed), p.Stride, pre, post, output, dOutput, p.OutStride, stats,
            p.DQ(grad), p.DK(grad), p.DV(grad), p.Stride, dPre, dPost, accumulateMix: false);
        return (grad, dPre, dPost);
    }

    private static double[] Naive(Case c)
    {
        AttentionProblem p = c.P;
        var output = new double[p.OutputLength];
        NaiveAttention.TalkingHeads(p.Options, p.Batch, p.Q(p.Packed), p.K(p.Packed), p.V(p.Packed), p.Stride, c.Pre, c.Post, output, p.OutStride);
        return output;
    }

    [Theory]
    [InlineData(2, 5, 2, 3, 4, true, 0, Fixed)]
    [InlineData(2, 5, 3, 3, 3, false, 0, Entropy)]
    [InlineData(1, 7, 3, 4, 2, true, 3, Entropy)]
    [InlineData(2, 7, 2, 5, 3, false, 2, Fixed)]
    [InlineData(12, 64, 4, 32, 32, true, 0, Fixed)]
    [InlineData(1, 100, 4, 16, 16, false, 40, Entropy)]
    public void Forward_matches_the_naive_reference(int batch, int seq, int heads, int dk, int dv, bool causal, int window, AttentionScaleMode mode)
    {
        var c = new Case(batch, seq, heads, dk, dv, causal, window, mode, 1);
        double[] expected = Naive(c);
        GradientCheck.AssertClose(expected, Forward(c, c.P.Packed, c.Pre, c.Post, new double[c.P.StatsLength]), 1e-13, "double output");

        c.RoundToFloat();
        double[] expectedF = Naive(c);
        float[] outputF = Forward(c, AttentionProblem.ToFloat(c.P.Packed), AttentionProblem.ToFloat(c.Pre), AttentionProblem.ToFloat(c.Post), new float[c.P.StatsLength]);
        GradientCheck.AssertClose(expectedF, AttentionProblem.ToDouble(outputF), 2e-6, "float output");
    }

    [Theory]
    [InlineData(true, 0, Fixed)]
    [InlineData(false, 3, Entropy)]
    public void Identity_mixes_reduce_to_plain_attention(bool causal, int window, AttentionScaleMode mode)
    {
        var c = new Case(2, 9, 3, 4, 5, causal, window, mode, 2);
        Array.Clear(c.Pre);
        Array.Clear(c.Post);
        for (int h = 0; h < 3; h++)
        {
            c.Pre[(h * 3) + h] = 1;
            c.Post[(h * 3) + h] = 1;
        }

        var lse = new double[c.P.StatsLength];
        double[] plain = AttentionTests.Forward(c.P, c.P.Packed, lse);
        var stats = new double[c.P.StatsLength];
        double[] talking = Forward(c, c.P.Packed, c.Pre, c.Post, stats);
        GradientCheck.AssertClose(plain, talking, 1e-14, "output");
        GradientCheck.AssertClose(lse, stats, 1e-14, "log-sum-exp");

        double[] plainGrad = AttentionTests.Backward(c.P, c.P.Packed, plain, c.P.DOutput, lse);
        (double[] grad, _, _) = Backward(c, c.P.Packed, c.Pre, c.Post, talking, c.P.DOutput, stats);
        GradientCheck.AssertClose(plainGrad, grad, 1e-14, "gradient");
    }

    [Theory]
    [InlineData(2, 5, 2, 3, 4, true, 0, Fixed)]
    [InlineData(2, 5, 3, 3, 3, false, 0, Entropy)]
    [InlineData(1, 7, 3, 4, 2, true, 3, Entropy)]
    [InlineData(2, 7, 2, 5, 3, false, 2, Fixed)]
    public void Backward_matches_central_differences_of_the_naive_forward(int batch, int seq, int heads, int dk, int dv, bool causal, int window, AttentionScaleMode mode)
    {
        var c = new Case(batch, seq, heads, dk, dv, causal, window, mode, 3);
        AttentionProblem p = c.P;
        var stats = new double[p.StatsLength];
        double[] output = Forward(c, p.Packed, c.Pre, c.Post, stats);
        (double[] grad, double[] dPre, double[] dPost) = Backward(c, p.Packed, c.Pre, c.Post, output, p.DOutput, stats);
        GradientCheck.AssertPasses(GradientCheck.Run(p.Packed, grad, GradientCheck.All(p.Packed.Length), () => Naive(c), p.WeightedDifference), "dq/dk/dv");
        GradientCheck.AssertPasses(GradientCheck.Run(c.Pre, dPre, GradientCheck.All(c.MixSize), () => Naive(c), p.WeightedDifference), "dPreMix");
        GradientCheck.AssertPasses(GradientCheck.Run(c.Post, dPost, GradientCheck.All(c.MixSize), () => Naive(c), p.WeightedDifference), "dPostMix");

        // And the checker catches a 0.1% error in a mixing gradient.
        double[] wrong = (double[])dPre.Clone();
        wrong[1] *= 1.001;
        Assert.True(GradientCheck.Run(c.Pre, wrong, [1], () => Naive(c), p.WeightedDifference).Worst > 10 * GradientCheck.Tolerance);
    }

    [Fact]
    public void Backward_matches_central_differences_at_sampled_elements_of_the_target_shape()
    {
        var c = new Case(2, 64, 4, 32, 32, true, 0, Fixed, 4);
        AttentionProblem p = c.P;
        var stats = new double[p.StatsLength];
        double[] output = Forward(c, p.Packed, c.Pre, c.Post, stats);
        (double[] grad, double[] dPre, double[] dPost) = Backward(c, p.Packed, c.Pre, c.Post, output, p.DOutput, stats);
        double[] Evaluate() => Forward(c, p.Packed, c.Pre, c.Post, new double[p.StatsLength]);
        GradientCheck.AssertPasses(GradientCheck.Run(p.Packed, grad, GradientCheck.Sample(p.Packed.Length, 40, 9), Evaluate, p.WeightedDifference), "dq/dk/dv (sampled)");
        GradientCheck.AssertPasses(GradientCheck.Run(c.Pre, dPre, GradientCheck.All(c.MixSize), Evaluate, p.WeightedDifference), "dPreMix");
        GradientCheck.AssertPasses(GradientCheck.Run(c.Post, dPost, GradientCheck.All(c.MixSize), Evaluate, p.WeightedDifference), "dPostMix");
    }

    [Theory]
    [InlineData(2, 5, 2, 3, 4, true, 0, Entropy)]
    [InlineData(12, 64, 4, 32, 32, true, 0, Fixed)]
    [InlineData(2, 64, 4, 64, 64, false, 0, Fixed)]
    public void Float_backward_matches_double_backward(int batch, int seq, int heads, int dk, int dv, bool causal, int window, AttentionScaleMode mode)
    {
        var c = new Case(batch, seq, heads, dk, dv, causal, window, mode, 5);
        c.RoundToFloat();
        AttentionProblem p = c.P;
        var stats = new double[p.StatsLength];
        double[] output = Forward(c, p.Packed, c.Pre, c.Post, stats);
        (double[] grad, double[] dPre, double[] dPost) = Backward(c, p.Packed, c.Pre, c.Post, output, p.DOutput, stats);

        float[] packedF = AttentionProblem.ToFloat(p.Packed), preF = AttentionProblem.ToFloat(c.Pre), postF = AttentionProblem.ToFloat(c.Post);
        var statsF = new float[p.StatsLength];
        float[] outputF = Forward(c, packedF, preF, postF, statsF);
        (float[] gradF, float[] dPreF, float[] dPostF) = Backward(c, packedF, preF, postF, outputF, AttentionProblem.ToFloat(p.DOutput), statsF);
        GradientCheck.AssertClose(grad, gradF, 1e-4, "float dq/dk/dv");
        GradientCheck.AssertClose(dPre, dPreF, 1e-4, "float dPreMix");
        GradientCheck.AssertClose(dPost, dPostF, 1e-4, "float dPostMix");
    }

    [Fact]
    public void Mixing_gradients_accumulate_on_request_and_are_overwritten_otherwise()
    {
        var c = new Case(3, 6, 2, 3, 3, true, 0, Fixed, 6);
        AttentionProblem p = c.P;
        var stats = new double[p.StatsLength];
        double[] output = Forward(c, p.Packed, c.Pre, c.Post, stats);
        (_, double[] dPre, double[] dPost) = Backward(c, p.Packed, c.Pre, c.Post, output, p.DOutput, stats);

        double[] grad = new double[p.Packed.Length];
        double[] accPre = [1, 2, 3, 4], accPost = [-1, -2, -3, -4];
        TalkingHeadsAttention.Backward<double>(
            p.Options, p.Batch, p.Q(p.Packed), p.K(p.Packed), p.V(p.Packed), p.Stride, c.Pre, c.Post, output, p.DOutput, p.OutStride, stats,
            p.DQ(grad), p.DK(grad), p.DV(grad), p.Stride, accPre, accPost, accumulateMix: true);
        for (int i = 0; i < 4; i++)
        {
            Assert.Equal(dPre[i] + (i + 1), accPre[i], 14);
            Assert.Equal(dPost[i] - (i + 1), accPost[i], 14);
        }

        // batch 0: overwrite clears, accumulate leaves alone.
        TalkingHeadsAttention.Backward<double>(
            p.Options, 0, default, default, default, p.Stride, c.Pre, c.Post, default, default, p.OutStride, default,
            default, default, default, p.Stride, accPre, accPost, accumulateMix: true);
        Assert.Equal(dPre[0] + 1, accPre[0], 14);
        TalkingHeadsAttention.Backward<double>(
            p.Options, 0, default, default, default, p.Stride, c.Pre, c.Post, default, default, p.OutStride, default,
            default, default, default, p.Stride, accPre, accPost, accumulateMix: false);
        Assert.Equal(new double[4], accPre);
        Assert.Equal(new double[4], accPost);
    }

    [Fact]
    public void Short_mixing_matrices_are_rejected()
    {
        var c = new Case(1, 4, 3, 2, 2, true, 0, Fixed, 7);
        AttentionProblem p = c.P;
        var e = Assert.Throws<ArgumentException>(() => TalkingHeadsAttention.Forward<double>(
            p.Options, 1, p.Q(p.Packed), p.K(p.Packed), p.V(p.Packed), p.Stride, c.Pre.AsSpan(1), c.Post, new double[p.OutputLength], p.OutStride, new double[p.StatsLength]));
        Assert.Contains("preMix is too short: length 8, needs at least 9", e.Message);
    }
}
