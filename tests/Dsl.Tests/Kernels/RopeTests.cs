using System;
using Dsl.Kernels;
using Dsl.Reference;
using Xunit;

namespace Dsl.Tests.Kernels;

public sealed class RopeTests
{
    private static double[] Table(int seq, int rotaryDim, double theta = 10000)
    {
        var table = new double[Rope.TableLength(seq, rotaryDim)];
        Rope.BuildTable<double>(table, seq, rotaryDim, theta);
        return table;
    }

    private static double Dot(double[] a, int offsetA, double[] b, int offsetB, int n)
    {
        double s = 0;
        for (int i = 0; i < n; i++)
        {
            s += a[offsetA + i] * b[offsetB + i];
        }

        return s;
    }

    [Fact]
    public void Table_holds_cosines_then_sines_of_the_exact_angles()
    {
        const int seq = 50, r = 8;
        Assert.Equal(seq * r, Rope.TableLength(seq, r));
        double[] table = Table(seq, r);
        for (int j = 0; j < r / 2; j++)
        {
            Assert.Equal(1.0, table[j]);
            Assert.Equal(0.0, table[(r / 2) + j]);
        }

        // θ_0 = 1, θ_1 = 10000^(−1/4) = 0.1, θ_2 = 0.01, θ_3 = 0.001.
        Assert.Equal(Math.Cos(37), table[(37 * r) + 0], 15);
        Assert.Equal(Math.Sin(37), table[(37 * r) + 4], 15);
        Assert.Equal(Math.Cos(3.7), table[(37 * r) + 1], 14);
        Assert.Equal(Math.Sin(0.37), table[(37 * r) + 6], 14);
        Assert.Equal(Math.Cos(0.049), table[(49 * r) + 3], 14);

        float[] tableF = new float[seq * r];
        Rope.BuildTable<float>(tableF, seq, r, theta: 500);
        Assert.Equal((float)Math.Sin(49 * Math.Pow(500, -0.5)), tableF[(49 * r) + 6]);
    }

    [Theory]
    [InlineData(2, 5, 2, 8, 8)]
    [InlineData(3, 7, 3, 10, 6)]
    [InlineData(2, 64, 4, 32, 32)]
    [InlineData(1, 9, 2, 64, 20)]
    [InlineData(1, 4, 1, 5, 0)]
    public void Forward_matches_the_naive_rotation_and_leaves_the_tail_alone(int batch, int seq, int heads, int headSize, int rotaryDim)
    {
        int rows = batch * seq, stride = (heads * headSize) + 5;
        double[] x = AttentionProblem.Draw(new Random(rows + headSize), rows * stride, 2);
        double[] expected = (double[])x.Clone();
        NaiveAttention.Rope(expected, rows, stride, heads, headSize, rotaryDim, seq);
        double[] actual = (double[])x.Clone();
        Rope.Forward<double>(actual, rows, stride, heads, headSize, rotaryDim, seq, Table(seq, rotaryDim));
        GradientCheck.AssertClose(expected, actual, 1e-14, "double rope");

        float[] xF = AttentionProblem.ToFloat(x);
        float[] tableF = new float[Rope.TableLength(seq, rotaryDim)];
        Rope.BuildTable<float>(tableF, seq, rotaryDim);
        Rope.Forward<float>(xF, rows, stride, heads, headSize, rotaryDim, seq, tableF);
        GradientCheck.AssertClose(expected, AttentionProblem.ToDouble(xF), 1e-6, "float rope");

        // Components at or beyond the rotary dimension, and the row padding, are bit-for-bit unchanged.
        for (int r = 0; r < rows; r++)
        {
            for (int h = 0; h < heads; h++)
            {
                for (int c = rotaryDim; c < headSize; c++)
                {
                    int i = (r * stride) + (h * headSize) + c;
                    Assert.Equal(x[i], actual[i]);
                    Assert.Equal((float)x[i], xF[i]);
                }
            }

            for (int c = heads * headSize; c < stride; c++)
            {
                Assert.Equal(x[(r * stride) + c], actual[(r * stride) + c]);
            }
        }
    }

    [Fact]
    public void Rotation_preserves_the_norm_of_every_head()
    {
        const int seq = 40, heads = 3, headSize = 12, rows = 2 * seq, stride = heads * headSize;
        double[] x = AttentionProblem.Draw(new Random(3), rows * stride, 1);
        double[] y = (double[])x.Clone();
        Rope.Forward<double>(y, rows, stride, heads, headSize, 10, seq, Table(seq, 10));
        for (int r = 0; r < rows; r++)
        {
            for (int h = 0; h < heads; h++)
            {
                int o = (r * stride) + (h * headSize);
                Assert.Equal(Dot(x, o, x, o, headSize), Dot(y, o, y, o, headSize), tolerance: 1e-13);
            }
        }
    }

    [Fact]
    public void Rotated_scores_depend_only_on_the_offset()
    {
        // (R_m q)·(R_n k) = q·(R_{n−m} k): place q at position m, k at positions n and n − m.
        const int seq = 30, size = 16;
        double[] table = Table(seq, size);
        var random = new Random(11);
        double[] q = AttentionProblem.Draw(random, size, 1);
        double[] k = AttentionProblem.Draw(random, size, 1);
        foreach ((int m, int n) in new[] { (0, 0), (3, 7), (5, 29), (12, 12), (1, 2) })
        {
            double[] qs = new double[seq * size], ks = new double[seq * size], kd = new double[seq * size];
            Array.Copy(q, 0, qs, m * size, size);
            Array.Copy(k, 0, ks, n * size, size);
            Array.Copy(k, 0, kd, (n - m) * size, size);
            Rope.Forward<double>(qs, seq, size, 1, size, size, seq, table);
            Rope.Forward<double>(ks, seq, size, 1, size, size, seq, table);
            Rope.Forward<double>(kd, seq, size, 1, size, size, seq, table);
            Assert.Equal(Dot(q, 0, kd, (n - m) * size, size), Dot(qs, m * size, ks, n * size, size), tolerance: 1e-13);
        }
    }

    [Fact]
    public void Backward_is_the_inverse_rotation_and_the_adjoint_of_the_forward()
    {
        const int seq = 9, heads = 2, headSize = 10, rotary = 6, rows = 3 * seq, stride = (heads * headSize) + 1;
        double[] table = Table(seq, rotary);
        var random = new Random(17);
        double[] x = AttentionProblem.Draw(random, rows * stride, 1);
        double[] y = AttentionProblem.Draw(random, rows * stride, 1);

        // Backward(Forward(x)) = x.
        double[] roundTrip = (double[])x.Clone();
        Rope.Forward<double>(roundTrip, rows, stride, heads, headSize, rotary, seq, table);
        Rope.Backward<double>(roundTrip, rows, stride, heads, headSize, rotary, seq, table);
        GradientCheck.AssertClose(x, roundTrip, 1e-15, "round trip");

        // ⟨Forward(x), y⟩ = ⟨x, Backward(y)⟩: the backward is the transposed Jacobian.
        double[] fx = (double[])x.Clone();
        Rope.Forward<double>(fx, rows, stride, heads, headSize, rotary, seq, table);
        double[] by = (double[])y.Clone();
        Rope.Backward<double>(by, rows, stride, heads, headSize, rotary, seq, table);
        Assert.Equal(Dot(fx, 0, y, 0, x.Length), Dot(x, 0, by, 0, x.Length), tolerance: 1e-12);

        // Backward equals the naive rotation by −mθ: the forward with the angles negated,
        // i.e. a table whose sines are negated.
        double[] negated = (double[])table.Clone();
        for (int m = 0; m < seq; m++)
        {
            for (int j = rotary / 2; j < rotary; j++)
            {
                negated[(m * rotary) + j] = -negated[(m * rotary) + j];
            }
        }

        double[] viaForward = (double[])y.Clone();
        Rope.Forward<double>(viaForward, rows, stride, heads, headSize, rotary, seq, negated);
        GradientCheck.AssertClose(viaForward, by, 1e-15, "backward as rotation by −mθ");

        float[] yF = AttentionProblem.ToFloat(y);
        float[] tableF = new float[table.Length];
        Rope.BuildTable<float>(tableF, seq, rotary);
        Rope.Backward<float>(yF, rows, stride, heads, headSize, rotary, seq, tableF);
        GradientCheck.AssertClose(by, AttentionProblem.ToDouble(yF), 1e-6, "float backward");
    }

    [Fact]
    public void Invalid_arguments_are_rejected_with_messages_that_name_the_values()
    {
        double[] x = new double[64];
        double[] table = Table(4, 8);
        var e = Assert.Throws<ArgumentException>(() => Rope.Forward<double>(x, 4, 16, 2, 8, 7, 4, table));
        Assert.Contains("rotaryDim 7 must be even and at most headSize 8", e.Message);
        e = Assert.Throws<ArgumentException>(() => Rope.Forward<double>(x, 4, 16, 2, 8, 10, 4, table));
        Assert.Contains("rotaryDim 10 must be even and at most headSize 8", e.Message);
        e = Assert.Throws<ArgumentException>(() => Rope.Backward<double>(x, 4, 16, 2, 8, 8, 5, table));
        Assert.Contains("table is too short: length 32, needs at least 40", e.Message);
        e = Assert.Throws<ArgumentException>(() => Rope.Forward<double>(x, 5, 16, 2, 8, 8, 4, table));
        Assert.Contains("x is too short: length 64, needs at least 80", e.Message);
        e = Assert.Throws<ArgumentException>(() => Rope.Forward<double>(x, 4, 15, 2, 8, 8, 4, table));
        Assert.Contains("stride 15 is smaller than the row width 16", e.Message);
        e = Assert.Throws<ArgumentException>(() => Rope.BuildTable<double>(new double[32], 4, 8, theta: 0));
        Assert.Contains("theta must be positive and finite, was 0", e.Message);
        e = Assert.Throws<ArgumentException>(() => Rope.TableLength(4, 3));
        Assert.Contains("rotaryDim 3 must be even", e.Message);
    }
}
