using System;
using Dsl.Contracts;
using Dsl.Kernels;
using Dsl.Reference;
using Xunit;

namespace Dsl.Tests.Kernels;

/// <summary>ALiBi in the softmax attention kernel: the paper's slopes, the forward against the naive reference (which
/// adds −m_h|i − j| to the logits independently), the backward against central differences of the naive forward, and
/// the bias actually changing the result.</summary>
public sealed class AlibiTests
{
    [Fact]
    public void Slopes_are_the_papers()
    {
        // get_slopes(n) of Press et al.'s code: 2^(−8/n)·… for a power of two; 6 heads interleave 8's.
        Assert.Equal(new[] { 0.5, 0.25, 0.125, 0.0625, 0.03125, 0.015625, 0.0078125, 0.00390625 }, Slopes(8));
        Assert.Equal(new[] { 0.25, 0.0625, 0.015625, 0.00390625 }, Slopes(4));
        Assert.Equal(new[] { 0.25, 0.0625, 0.015625, 0.00390625, 0.5, 0.125 }, Slopes(6));
        Assert.Equal(new[] { 1.0 / 256 }, Slopes(1));
    }

    private static double[] Slopes(int heads)
    {
        var s = new double[heads];
        for (int h = 0; h < heads; h++) s[h] = AttentionSlots.AlibiSlope(heads, h);
        return s;
    }

    private static AttentionProblem Problem(int batch, int seq, int heads, bool causal, int window, int seed) =>
        new(AttentionProblem.Make(heads, 3, 4, seq, causal, window, AttentionScaleMode.Fixed, double.NaN) with { Alibi = true }, batch, seed, range: 1.5);

    [Theory]
    [InlineData(2, 5, 2, true, 0)]
    [InlineData(1, 9, 3, true, 4)]
    [InlineData(1, 70, 2, true, 0)] // two key blocks of the online softmax
    [InlineData(2, 6, 2, false, 0)]
    public void Forward_matches_the_naive_reference(int batch, int seq, int heads, bool causal, int window)
    {
        var p = Problem(batch, seq, heads, causal, window, seed: seq + heads);
        double[] expected = AttentionTests.Naive(p, p.Packed);
        double[] output = AttentionTests.Forward(p, p.Packed, new double[p.StatsLength]);
        GradientCheck.AssertClose(expected, output, 1e-13, "double output");
        float[] packedF = AttentionProblem.ToFloat(p.Packed);
        float[] outputF = AttentionTests.Forward(p, packedF, new float[p.StatsLength]);
        GradientCheck.AssertClose(AttentionTests.Naive(p, AttentionProblem.ToDouble(packedF)), AttentionProblem.ToDouble(outputF), 2e-6, "float output");

        // The bias is there: without it the same inputs give another result.
        var plain = new AttentionProblem(p.Options with { Alibi = false }, batch, seq + heads, range: 1.5);
        double[] without = AttentionTests.Naive(plain, plain.Packed);
        double largest = 0;
        for (int i = 0; i < without.Length; i++) largest = Math.Max(largest, Math.Abs(without[i] - expected[i]));
        Assert.True(largest > 1e-3, $"ALiBi changed the output by only {largest:E2}");
    }

    [Theory]
    [InlineData(2, 5, 2, true, 0)]
    [InlineData(1, 7, 3, true, 3)]
    [InlineData(1, 6, 2, false, 0)]
    public void Backward_matches_central_differences_of_the_naive_forward(int batch, int seq, int heads, bool causal, int window)
    {
        var p = Problem(batch, seq, heads, causal, window, seed: 40 + seq);
        var lse = new double[p.StatsLength];
        double[] output = AttentionTests.Forward(p, p.Packed, lse);
        double[] grad = AttentionTests.Backward(p, p.Packed, output, p.DOutput, lse);
        var result = GradientCheck.Run(p.Packed, grad, GradientCheck.All(p.Packed.Length), () => AttentionTests.Naive(p, p.Packed), p.WeightedDifference);
        GradientCheck.AssertPasses(result, "ALiBi attention dq/dk/dv");
    }
}
