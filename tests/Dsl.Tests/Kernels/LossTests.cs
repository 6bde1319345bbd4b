using System;
using Dsl.Kernels;
using Xunit;

namespace Dsl.Tests.Kernels;

public sealed class LossTests
{
    private static (double[] Logits, int[] Labels) Batch(int rows, int classes, int seed, double range = 5)
    {
        var rng = new System.Random(seed);
        double[] logits = new double[rows * classes];
        int[] labels = new int[rows];
        for (int i = 0; i < logits.Length; i++)
        {
            logits[i] = ((rng.NextDouble() * 2) - 1) * range;
        }

        for (int r = 0; r < rows; r++)
        {
            labels[r] = rng.Next(classes);
        }

        return (logits, labels);
    }

    /// <summary>An independent reference: mean over rows of ln Σ_j e^{z_j − m} + m − z_y.</summary>
    private static double ReferenceCrossEntropy(double[] logits, int[] labels, int rows, int classes)
    {
        double total = 0;
        for (int r = 0; r < rows; r++)
        {
            double m = double.NegativeInfinity;
            for (int j = 0; j < classes; j++)
            {
                m = Math.Max(m, logits[(r * classes) + j]);
            }

            double s = 0;
            for (int j = 0; j < classes; j++)
            {
                s += Math.Exp(logits[(r * classes) + j] - m);
            }

            total += Math.Log(s) + m - logits[(r * classes) + labels[r]];
        }

        return total / rows;
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(3, 2)]
    [InlineData(7, 10)]
    [InlineData(5, 37)]
    [InlineData(4, 1000)]
    public void Cross_entropy_loss_matches_a_double_reference(int rows, int classes)
    {
        (double[] logits, int[] labels) = Batch(rows, classes, rows * 31 + classes);
        double expected = ReferenceCrossEntropy(logits, labels, rows, classes);
        double[] d = new double[logits.Length];
        ActivationTests.AssertRelative(expected, SoftmaxCrossEntropy.ForwardBackward<double>(logits, labels, rows, classes, d, 1.0 / rows), 1e-14, "ForwardBackward");
        ActivationTests.AssertRelative(expected, SoftmaxCrossEntropy.Forward<double>(logits, labels, rows, classes), 1e-14, "Forward");

        float[] logitsF = Array.ConvertAll(logits, v => (float)v);
        double expectedF = ReferenceCrossEntropy(Array.ConvertAll(logitsF, v => (double)v), labels, rows, classes);
        float[] dF = new float[logits.Length];
        double lossF = SoftmaxCrossEntropy.ForwardBackward<float>(logitsF, labels, rows, classes, dF, 1f / rows);
        Assert.True(Math.Abs(lossF - expectedF) <= 1e-6 * Math.Max(1, expectedF), $"float loss {lossF} vs {expectedF}");
    }

    [Theory]
    [InlineData(3, 2)]
    [InlineData(4, 10)]
    [InlineData(2, 13)]
    public void Cross_entropy_gradient_matches_central_differences(int rows, int classes)
    {
        (double[] logits, int[] labels) = Batch(rows, classes, 7 * rows + classes);
        double[] d = new double[logits.Length];
        SoftmaxCrossEntropy.ForwardBackward<double>(logits, labels, rows, classes, d, 1.0 / rows);
        for (int i = 0; i < logits.Length; i++)
        {
            double x = logits[i];
            double h = 6e-6 * Math.Max(1, Math.Abs(x));
            logits[i] = x + h;
            double plus = SoftmaxCrossEntropy.Forward<double>(logits, labels, rows, classes);
            double xp = logits[i];
            logits[i] = x - h;
            double minus = SoftmaxCrossEntropy.Forward<double>(logits, labels, rows, classes);
            double xm = logits[i];
            logits[i] = x;
            double numeric = (plus - minus) / (xp - xm);
            double error = ActivationCases.RelativeError(d[i], numeric);
            Assert.True(error <= 1e-6, $"dz[{i}]: analytic {d[i]:R}, numeric {numeric:R}, error {error:E2}");
        }
    }

    [Fact]
    public void Cross_entropy_gradient_rows_sum_to_zero_and_aliasing_works()
    {
        const int rows = 6, classes = 19;
        (double[] logits, int[] labels) = Batch(rows, classes, 99);
        double[] d = new double[logits.Length];
        double loss = SoftmaxCrossEntropy.ForwardBackward<double>(logits, labels, rows, classes, d, 0.5);
        for (int r = 0; r < rows; r++)
        {
            double sum = 0;
            for (int j = 0; j < classes; j++)
            {
                sum += d[(r * classes) + j];
            }

            Assert.True(Math.Abs(sum) <= 1e-15, $"row {r} sums to {sum:R}");
            Assert.True(d[(r * classes) + labels[r]] < 0);
        }

        double[] inPlace = (double[])logits.Clone();
        Assert.Equal(loss, SoftmaxCrossEntropy.ForwardBackward<double>(inPlace, labels, rows, classes, inPlace, 0.5));
        Assert.Equal(d, inPlace);
    }

    [Fact]
    public void Cross_entropy_saturated_logits_stay_finite()
    {
        // Row 0: the label has +1000, the rest −1000 (confident and right); row 1: confident and wrong.
        double[] logits = [1000, -1000, -1000, -1000, 1000, -1000];
        int[] labels = [0, 2];
        double[] d = new double[6];
        double loss = SoftmaxCrossEntropy.ForwardBackward<double>(logits, labels, 2, 3, d, 1.0);
        Assert.Equal(1000.0, loss, 9); // (0 + 2000)/2
        Assert.All(d, v => Assert.True(double.IsFinite(v)));
        Assert.Equal([0, 0, 0, 0, 1, -1], d);

        float[] logitsF = Array.ConvertAll(logits, v => (float)v);
        float[] dF = new float[6];
        double lossF = SoftmaxCrossEntropy.ForwardBackward<float>(logitsF, labels, 2, 3, dF, 1f);
        Assert.Equal(1000.0, lossF, 3);
        Assert.Equal([0f, 0, 0, 0, 1, -1], dF);
    }

    [Theory]
    [InlineData(10)]
    [InlineData(-1)]
    [InlineData(int.MinValue)]
    public void Cross_entropy_rejects_a_bad_label_naming_row_and_label(int bad)
    {
        double[] logits = new double[5 * 10];
        int[] labels = [0, 1, 2, bad, 4];
        double[] d = new double[50];
        Array.Fill(d, 42.0);
        ArgumentOutOfRangeException e = Assert.Throws<ArgumentOutOfRangeException>(() => SoftmaxCrossEntropy.ForwardBackward<double>(logits, labels, 5, 10, d, 1.0));
        Assert.Equal("labels", e.ParamName);
        Assert.Contains($"labels[3] = {bad}", e.Message);
        Assert.Contains("[0, 10)", e.Message);
        Assert.All(d, v => Assert.Equal(42.0, v)); // checked before anything is written
        Assert.Throws<ArgumentOutOfRangeException>(() => SoftmaxCrossEntropy.Forward<double>(logits, labels, 5, 10));
    }

    [Fact]
    public void Cross_entropy_rejects_short_spans()
    {
        Assert.Throws<ArgumentException>(() => SoftmaxCrossEntropy.Forward<double>(new double[9], new int[2], 2, 5));
        Assert.Throws<ArgumentException>(() => SoftmaxCrossEntropy.Forward<double>(new double[10], new int[1], 2, 5));
        Assert.Throws<ArgumentException>(() => SoftmaxCrossEntropy.ForwardBackward<double>(new double[10], new int[2], 2, 5, new double[9], 1.0));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(8)]
    [InlineData(45)]
    [InlineData(301)]
    public void Mean_squared_error_matches_reference_and_central_differences(int n)
    {
        var rng = new System.Random(n);
        double[] p = new double[n], t = new double[n];
        for (int i = 0; i < n; i++)
        {
            p[i] = (rng.NextDouble() * 4) - 2;
            t[i] = (rng.NextDouble() * 4) - 2;
        }

        double expected = 0;
        for (int i = 0; i < n; i++)
        {
            expected += (p[i] - t[i]) * (p[i] - t[i]);
        }

        expected /= n;
        double[] d = new double[n];
        ActivationTests.AssertRelative(expected, MeanSquaredError.ForwardBackward<double>(p, t, d, 3.0), 1e-14, "ForwardBackward");
        ActivationTests.AssertRelative(expected, MeanSquaredError.Forward<double>(p, t), 1e-14, "Forward");
        for (int i = 0; i < n; i++)
        {
            ActivationTests.AssertRelative(2 * (p[i] - t[i]) / n * 3.0, d[i], 1e-15, $"dp[{i}] closed form");

            // The finite difference of a mean over many elements drowns in the rounding of the mean
            // (ε·L/h against a gradient of order 1/n), so difference only the short cases.
            if (n > 50)
            {
                continue;
            }

            double x = p[i];
            double h = 6e-6 * Math.Max(1, Math.Abs(x));
            p[i] = x + h;
            double plus = MeanSquaredError.Forward<double>(p, t);
            double xp = p[i];
            p[i] = x - h;
            double minus = MeanSquaredError.Forward<double>(p, t);
            double xm = p[i];
            p[i] = x;
            double numeric = 3.0 * (plus - minus) / (xp - xm); // gradScale = 3
            Assert.True(ActivationCases.RelativeError(d[i], numeric) <= 1e-6, $"dp[{i}]: {d[i]:R} vs {numeric:R}");
        }

        double[] alias = (double[])p.Clone();
        MeanSquaredError.ForwardBackward<double>(alias, t, alias, 3.0);
        Assert.Equal(d, alias);
    }

    [Fact]
    public void Mean_squared_error_accumulates_float_in_double()
    {
        // A million float differences of 1e-3 + small noise: a float accumulator drifts by ~1e-4 relative.
        const int n = 1_000_003;
        float[] p = new float[n], t = new float[n];
        double expected = 0;
        for (int i = 0; i < n; i++)
        {
            p[i] = 1f + (1e-3f * (1 + (i % 7)));
            t[i] = 1f;
            double diff = p[i] - t[i];
            expected += diff * diff;
        }

        expected /= n;
        float[] d = new float[n];
        double loss = MeanSquaredError.ForwardBackward<float>(p, t, d, 1f);
        ActivationTests.AssertRelative(expected, loss, 1e-12, "float MSE");
        Assert.Equal((float)(2.0 / n) * (p[5] - t[5]), d[5]);
        Assert.Throws<ArgumentException>(() => MeanSquaredError.Forward<float>(p, t.AsSpan(1)));
        Assert.Equal(0.0, MeanSquaredError.Forward<float>(ReadOnlySpan<float>.Empty, ReadOnlySpan<float>.Empty));
    }
}
