using System;
using System.Numerics;
using Dsl.Kernels;
using Dsl.Reference;
using Xunit;

namespace Dsl.Tests.Kernels;

public sealed class LinearAttentionTests
{
    internal static T[] Forward<T>(AttentionProblem p, T[] packed, T[] stats)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var output = new T[p.OutputLength];
        LinearAttention.Forward(p.Options, p.Batch, p.Q(packed), p.K(packed), p.V(packed), p.Stride, output, p.OutStride, stats);
        return output;
    }

    internal static T[] Backward<T>(AttentionProblem p, T[] packed, T[] output, T[] dOutput, T[] stats)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var grad = new T[packed.Length];
        grad.AsSpan().Fill(T.NaN);
        LinearAttention.Backward(p.Options, p.Batch, p.Q(packed), p.K(packed), p.V(packed), p.Stride, output, dOutput, p.OutStride, stats, p.DQ(grad), p.DK(grad), p.DV(grad), p.Stride);
        return grad;
    }

    internal static double[] Naive(AttentionProblem p, double[] packed)
    {
        var output = new double[p.OutputLength];
        NaiveAttention.Linear(p.Options, p.Batch, p.Q(packed), p.K(packed), p.V(packed), p.Stride, output, p.OutStride);
        return output;
    }

    private static AttentionProblem Problem(int batch, int seq, int heads, int dk, int dv, bool causal, int seed)
        => new(AttentionProblem.Make(heads, dk, dv, seq, causal, 0, AttentionScaleMode.Fixed), batch, seed + seq + (17 * dk) + (causal ? 5 : 0), range: 1.5);

    [Theory]
    [InlineData(2, 5, 2, 3, 3, true)]
    [InlineData(2, 5, 2, 3, 4, false)]
    [InlineData(1, 7, 3, 5, 2, true)]
    [InlineData(2, 9, 1, 9, 17, false)]
    [InlineData(12, 64, 4, 32, 32, true)]
    [InlineData(2, 64, 4, 64, 64, false)]
    public void Forward_matches_the_naive_reference(int batch, int seq, int heads, int dk, int dv, bool causal)
    {
        AttentionProblem p = Problem(batch, seq, heads, dk, dv, causal, 1);
        double[] expected = Naive(p, p.Packed);
        var stats = new double[p.StatsLength];
        GradientCheck.AssertClose(expected, Forward(p, p.Packed, stats), 1e-13, "double output");
        Assert.All(stats, d => Assert.True(d > 0));

        float[] packedF = AttentionProblem.ToFloat(p.Packed);
        double[] expectedF = Naive(p, AttentionProblem.ToDouble(packedF));
        GradientCheck.AssertClose(expectedF, AttentionProblem.ToDouble(Forward(p, packedF, new float[p.StatsLength])), 2e-6, "float output");
    }

    [Fact]
    public void Window_and_scale_are_ignored()
    {
        AttentionProblem p = Problem(2, 9, 2, 4, 3, true, 2);
        double[] plain = Forward(p, p.Packed, new double[p.StatsLength]);
        var other = new AttentionProblem(p.Options with { Window = 3, ScaleMode = AttentionScaleMode.EntropyInvariant, Scale = 5 }, 2, 0);
        Array.Copy(p.Packed, other.Packed, p.Packed.Length);
        Assert.Equal(plain, Forward(other, other.Packed, new double[p.StatsLength]));
    }

    [Theory]
    [InlineData(2, 5, 2, 3, 3, true)]
    [InlineData(2, 5, 2, 3, 4, false)]
    [InlineData(1, 7, 3, 5, 2, true)]
    [InlineData(2, 6, 1, 2, 7, false)]
    public void Backward_matches_central_differences_of_the_naive_forward(int batch, int seq, int heads, int dk, int dv, bool causal)
    {
        AttentionProblem p = Problem(batch, seq, heads, dk, dv, causal, 3);
        var stats = new double[p.StatsLength];
        double[] output = Forward(p, p.Packed, stats);
        double[] grad = Backward(p, p.Packed, output, p.DOutput, stats);
        var result = GradientCheck.Run(p.Packed, grad, GradientCheck.All(p.Packed.Length), () => Naive(p, p.Packed), p.WeightedDifference);
        GradientCheck.AssertPasses(result, "linear attention dq/dk/dv");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Backward_matches_central_differences_at_sampled_elements_of_the_target_shape(bool causal)
    {
        AttentionProblem p = Problem(2, 64, 4, 32, 32, causal, 4);
        var stats = new double[p.StatsLength];
        double[] output = Forward(p, p.Packed, stats);
        double[] grad = Backward(p, p.Packed, output, p.DOutput, stats);
        var result = GradientCheck.Run(p.Packed, grad, GradientCheck.Sample(p.Packed.Length, 60, 8), () => Forward(p, p.Packed, new double[p.StatsLength]), p.WeightedDifference);
        GradientCheck.AssertPasses(result, "linear attention (sampled)");
    }

    [Theory]
    [InlineData(2, 5, 2, 3, 4, true)]
    [InlineData(2, 7, 2, 3, 5, false)]
    [InlineData(12, 64, 4, 32, 32, true)]
    [InlineData(3, 64, 4, 64, 64, false)]
    public void Float_backward_matches_double_backward(int batch, int seq, int heads, int dk, int dv, bool causal)
    {
        AttentionProblem p = Problem(batch, seq, heads, dk, dv, causal, 5);
        p.RoundToFloat();
        var stats = new double[p.StatsLength];
        double[] output = Forward(p, p.Packed, stats);
        double[] grad = Backward(p, p.Packed, output, p.DOutput, stats);

        float[] packedF = AttentionProblem.ToFloat(p.Packed);
        var statsF = new float[p.StatsLength];
        float[] outputF = Forward(p, packedF, statsF);
        float[] gradF = Backward(p, packedF, outputF, AttentionProblem.ToFloat(p.DOutput), statsF);
        GradientCheck.AssertClose(grad, gradF, 1e-4, "float gradient");
    }

    [Fact]
    public void Gradient_check_rejects_a_perturbed_key_gradient()
    {
        AttentionProblem p = Problem(2, 5, 2, 3, 4, true, 6);
        var stats = new double[p.StatsLength];
        double[] output = Forward(p, p.Packed, stats);
        double[] grad = Backward(p, p.Packed, output, p.DOutput, stats);
        int index = (2 * p.Stride) + p.QWidth + 1;
        grad[index] *= 1.001;
        var result = GradientCheck.Run(p.Packed, grad, [index], () => Naive(p, p.Packed), p.WeightedDifference);
        Assert.True(result.Worst > 10 * GradientCheck.Tolerance, $"a 0.1% error gave metric {result.Worst:E3}");
    }
}
