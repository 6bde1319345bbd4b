using System;
using System.Numerics;
using Dsl.Kernels;
using Xunit;

namespace Dsl.Tests.Kernels;

/// <summary>Naive double references and finite-difference helpers shared by the norm tests.</summary>
internal static class NormTesting
{
    public static double[] Random(int length, int seed, double low = -2, double high = 2)
    {
        var rng = new System.Random(seed);
        double[] values = new double[length];
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = low + ((high - low) * rng.NextDouble());
        }

        return values;
    }

    /// <summary>LayerNorm written out in double, one element at a time.</summary>
    public static double[] ReferenceLayerNorm(double[] x, int rows, int width, double[]? gamma, double[]? beta, double epsilon, double[]? mean = null, double[]? rstd = null)
    {
        double[] y = new double[rows * width];
        for (int r = 0; r < rows; r++)
        {
            double mu = 0;
            for (int i = 0; i < width; i++)
            {
                mu += x[(r * width) + i];
            }

            mu /= width;
            double variance = 0;
            for (int i = 0; i < width; i++)
            {
                double d = x[(r * width) + i] - mu;
                variance += d * d;
            }

            variance /= width;
            double s = 1 / Math.Sqrt(variance + epsilon);
            for (int i = 0; i < width; i++)
            {
                y[(r * width) + i] = ((x[(r * width) + i] - mu) * s * (gamma is null ? 1 : gamma[i])) + (beta is null ? 0 : beta[i]);
            }

            if (mean is not null)
            {
                mean[r] = mu;
            }

            if (rstd is not null)
            {
                rstd[r] = s;
            }
        }

        return y;
    }

    /// <summary>RMSNorm written out in double.</summary>
    public static double[] ReferenceRmsNorm(double[] x, int rows, int width, double[]? gain, double epsilon, double[]? rstd = null)
    {
        double[] y = new double[rows * width];
        for (int r = 0; r < rows; r++)
        {
            double ms = 0;
            for (int i = 0; i < width; i++)
            {
                ms += x[(r * width) + i] * x[(r * width) + i];
            }

            double s = 1 / Math.Sqrt((ms / width) + epsilon);
            for (int i = 0; i < width; i++)
            {
                y[(r * width) + i] = x[(r * width) + i] * s * (gain is null ? 1 : gain[i]);
            }

            if (rstd is not null)
            {
                rstd[r] = s;
            }
        }

        return y;
    }

    public static double Dot(double[] a, double[] b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++)
        {
            s += a[i] * b[i];
        }

        return s;
    }

    /// <summary>
    /// Central differences of loss() with respect to every element of <paramref name="values"/>,
    /// compared with <paramref name="analytic"/>: h = 6e-6·max(1, |v|), error
    /// |a − n|/max(|a|, |n|, 1e-4) ≤ 1e-6.
    /// </summary>
    public static void AssertGradient(double[] values, double[] analytic, Func<double> loss, string what)
    {
        for (int i = 0; i < values.Length; i++)
        {
            double v = values[i];
            double h = 6e-6 * Math.Max(1, Math.Abs(v));
            values[i] = v + h;
            double plus = loss();
            double vp = values[i];
            values[i] = v - h;
            double minus = loss();
            double vm = values[i];
            values[i] = v;
            double numeric = (plus - minus) / (vp - vm);
            double error = Math.Abs(analytic[i] - numeric) / Math.Max(Math.Max(Math.Abs(analytic[i]), Math.Abs(numeric)), 1e-4);
            Assert.True(error <= 1e-6, $"{what}[{i}]: analytic {analytic[i]:R}, numeric {numeric:R}, error {error:E2}");
        }
    }

    public static void AssertClose(double[] expected, ReadOnlySpan<double> actual, double tolerance, string what)
    {
        for (int i = 0; i < expected.Length; i++)
        {
            double error = Math.Abs(expected[i] - actual[i]) / Math.Max(Math.Abs(expected[i]), 1);
            Assert.True(error <= tolerance, $"{what}[{i}]: expected {expected[i]:R}, got {actual[i]:R}, error {error:E2}");
        }
    }

    public static void AssertClose(double[] expected, ReadOnlySpan<float> actual, double tolerance, string what)
    {
        for (int i = 0; i < expected.Length; i++)
        {
            double error = Math.Abs(expected[i] - actual[i]) / Math.Max(Math.Abs(expected[i]), 1);
            Assert.True(error <= tolerance, $"{what}[{i}]: expected {expected[i]:R}, got {actual[i]:R}, error {error:E2}");
        }
    }

    public static float[] ToFloat(double[]? values) => values is null ? [] : Array.ConvertAll(values, v => (float)v);

    public static double[] ToDouble(float[] values) => Array.ConvertAll(values, v => (double)v);
}

public sealed class LayerNormTests
{
    private const double Epsilon = 1e-5;

    public static TheoryData<int, int, bool, bool> Shapes()
    {
        var data = new TheoryData<int, int, bool, bool>();
        foreach (int width in new[] { 1, 3, 4, 7, 8, 13, 16, 33, 128 })
        {
            data.Add(3, width, true, true);
            data.Add(2, width, false, false);
        }

        data.Add(4, 20, true, false);
        data.Add(4, 20, false, true);
        data.Add(0, 5, true, true);
        return data;
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Forward_matches_a_double_reference_and_float_stays_close(int rows, int width, bool hasGamma, bool hasBeta)
    {
        double[] x = NormTesting.Random(rows * width, (rows * 100) + width);
        double[]? gamma = hasGamma ? NormTesting.Random(width, 1 + width, 0.5, 1.5) : null;
        double[]? beta = hasBeta ? NormTesting.Random(width, 2 + width) : null;
        double[] expectedMean = new double[rows], expectedRstd = new double[rows];
        double[] expected = NormTesting.ReferenceLayerNorm(x, rows, width, gamma, beta, Epsilon, expectedMean, expectedRstd);

        double[] y = new double[rows * width], mean = new double[rows], rstd = new double[rows];
        LayerNorm.Forward<double>(x, rows, width, gamma ?? [], beta ?? [], Epsilon, y, mean, rstd);
        NormTesting.AssertClose(expected, y, 1e-13, "y");
        NormTesting.AssertClose(expectedMean, mean, 1e-14, "mean");
        NormTesting.AssertClose(expectedRstd, rstd, 1e-13, "rstd");

        // float against the double reference of the same (rounded) inputs.
        float[] xF = NormTesting.ToFloat(x);
        float[] gammaF = NormTesting.ToFloat(gamma), betaF = NormTesting.ToFloat(beta);
        double[] expectedF = NormTesting.ReferenceLayerNorm(
            NormTesting.ToDouble(xF), rows, width, hasGamma ? NormTesting.ToDouble(gammaF) : null, hasBeta ? NormTesting.ToDouble(betaF) : null, Epsilon);
        float[] yF = new float[rows * width], meanF = new float[rows], rstdF = new float[rows];
        LayerNorm.Forward<float>(xF, rows, width, gammaF, betaF, (float)Epsilon, yF, meanF, rstdF);
        NormTesting.AssertClose(expectedF, yF, 2e-6, "float y");
    }

    [Fact]
    public void Forward_is_accurate_when_the_mean_dwarfs_the_spread()
    {
        // E[x²] − μ² would cancel every digit here; the two-pass variance keeps them.
        const int width = 37;
        double[] x = NormTesting.Random(width, 5);
        for (int i = 0; i < width; i++)
        {
            x[i] = 1e4 + (1e-2 * x[i]);
        }

        double[] expected = NormTesting.ReferenceLayerNorm(x, 1, width, null, null, 0);
        double[] y = new double[width];
        LayerNorm.Forward<double>(x, 1, width, [], [], 0.0, y, new double[1], new double[1]);
        NormTesting.AssertClose(expected, y, 1e-8, "y");

        // float cannot hold μ = 1e4 to better than 5e-4, a tenth of this spread; at μ = 100 with a
        // spread of 0.05 the shifted mean and the two-pass variance keep y to about 1e-4.
        float[] xF = new float[width];
        for (int i = 0; i < width; i++)
        {
            xF[i] = (float)(100 + (0.05 * (x[i] - 1e4) / 1e-2));
        }

        float[] yF = new float[width];
        LayerNorm.Forward<float>(xF, 1, width, [], [], 0f, yF, new float[1], new float[1]);
        NormTesting.AssertClose(NormTesting.ReferenceLayerNorm(NormTesting.ToDouble(xF), 1, width, null, null, 0), yF, 1e-3, "float y");
    }

    [Theory]
    [InlineData(3, 13, true, true)]
    [InlineData(2, 8, false, false)]
    [InlineData(2, 33, true, false)]
    [InlineData(1, 1, false, true)]
    public void AddForward_writes_the_sum_and_normalises_it_as_Forward_does(int rows, int width, bool hasGamma, bool hasBeta)
    {
        double[] a = NormTesting.Random(rows * width, 11 + width);
        double[] b = NormTesting.Random(rows * width, 12 + width);
        double[] gamma = hasGamma ? NormTesting.Random(width, 13, 0.5, 1.5) : [];
        double[] beta = hasBeta ? NormTesting.Random(width, 14) : [];
        double[] sum = new double[rows * width];
        for (int i = 0; i < sum.Length; i++)
        {
            sum[i] = a[i] + b[i];
        }

        double[] expectedY = new double[rows * width], expectedMean = new double[rows], expectedRstd = new double[rows];
        LayerNorm.Forward<double>(sum, rows, width, gamma, beta, Epsilon, expectedY, expectedMean, expectedRstd);

        double[] s = new double[rows * width], y = new double[rows * width], mean = new double[rows], rstd = new double[rows];
        LayerNorm.AddForward<double>(a, b, s, rows, width, gamma, beta, Epsilon, y, mean, rstd);
        Assert.Equal(sum, s);
        Assert.Equal(expectedY, y);
        Assert.Equal(expectedMean, mean);
        Assert.Equal(expectedRstd, rstd);

        // The residual stream updated in place: s is a.
        double[] stream = (double[])a.Clone();
        double[] y2 = new double[rows * width];
        LayerNorm.AddForward<double>(stream, b, stream, rows, width, gamma, beta, Epsilon, y2, mean, rstd);
        Assert.Equal(sum, stream);
        Assert.Equal(expectedY, y2);

        float[] sF = new float[rows * width], yF = new float[rows * width];
        LayerNorm.AddForward<float>(NormTesting.ToFloat(a), NormTesting.ToFloat(b), sF, rows, width, NormTesting.ToFloat(gamma), NormTesting.ToFloat(beta), (float)Epsilon, yF, new float[rows], new float[rows]);
        NormTesting.AssertClose(expectedY, yF, 1e-5, "float y");
    }

    public static TheoryData<int, int, bool, bool> GradientShapes() => new()
    {
        { 3, 13, true, true },
        { 2, 8, false, false },
        { 2, 5, true, false },
        { 3, 17, false, true },
        { 1, 1, true, true },
        { 2, 2, false, false },
    };

    [Theory]
    [MemberData(nameof(GradientShapes))]
    public void Backward_matches_central_differences(int rows, int width, bool hasGamma, bool hasBeta)
    {
        double[] x = NormTesting.Random(rows * width, 21 + width);
        double[] gamma = hasGamma ? NormTesting.Random(width, 22, 0.5, 1.5) : [];
        double[] beta = hasBeta ? NormTesting.Random(width, 23) : [];
        double[] w = NormTesting.Random(rows * width, 24); // L = Σ w ⊙ y, so dy = w
        double[] y = new double[rows * width], mean = new double[rows], rstd = new double[rows];

        double Loss()
        {
            LayerNorm.Forward<double>(x, rows, width, gamma, beta, Epsilon, y, mean, rstd);
            return NormTesting.Dot(w, y);
        }

        Loss();
        double[] dx = new double[rows * width];
        double[] dGamma = new double[hasGamma ? width : 0], dBeta = new double[hasBeta ? width : 0];
        LayerNorm.Backward<double>(x, w, rows, width, gamma, mean, rstd, dx, false, dGamma, dBeta, false);

        NormTesting.AssertGradient(x, dx, Loss, "dx");
        if (hasGamma)
        {
            NormTesting.AssertGradient(gamma, dGamma, Loss, "dGamma");
        }

        if (hasBeta)
        {
            NormTesting.AssertGradient(beta, dBeta, Loss, "dBeta");
        }

        // Rows of dx sum to zero: the output does not move when a constant is added to a row.
        for (int r = 0; r < rows; r++)
        {
            double sum = 0;
            for (int i = 0; i < width; i++)
            {
                sum += dx[(r * width) + i];
            }

            Assert.True(Math.Abs(sum) <= 1e-12, $"row {r} of dx sums to {sum:R}");
        }
    }

    [Fact]
    public void Parameter_gradients_are_available_without_gamma_and_beta_in_the_forward()
    {
        // dGamma and dBeta need only x, dy and the saved statistics, not γ itself.
        const int rows = 3, width = 9;
        double[] x = NormTesting.Random(rows * width, 31);
        double[] dy = NormTesting.Random(rows * width, 32);
        double[] mean = new double[rows], rstd = new double[rows];
        LayerNorm.Forward<double>(x, rows, width, [], [], Epsilon, new double[rows * width], mean, rstd);
        double[] dGamma = new double[width], dBeta = new double[width];
        LayerNorm.Backward<double>(x, dy, rows, width, [], mean, rstd, new double[rows * width], false, dGamma, dBeta, false);
        for (int i = 0; i < width; i++)
        {
            double g = 0, b = 0;
            for (int r = 0; r < rows; r++)
            {
                g += dy[(r * width) + i] * (x[(r * width) + i] - mean[r]) * rstd[r];
                b += dy[(r * width) + i];
            }

            Assert.Equal(g, dGamma[i], 13);
            Assert.Equal(b, dBeta[i], 13);
        }
    }

    [Theory]
    [InlineData(true, true)]
    [InlineData(false, false)]
    [InlineData(true, false)]
    public void Backward_overwrites_accumulates_and_runs_in_place(bool hasGamma, bool hasBeta)
    {
        const int rows = 4, width = 19;
        double[] x = NormTesting.Random(rows * width, 41);
        double[] gamma = hasGamma ? NormTesting.Random(width, 42, 0.5, 1.5) : [];
        double[] beta = hasBeta ? NormTesting.Random(width, 43) : [];
        double[] dy = NormTesting.Random(rows * width, 44);
        double[] mean = new double[rows], rstd = new double[rows];
        LayerNorm.Forward<double>(x, rows, width, gamma, beta, Epsilon, new double[rows * width], mean, rstd);

        double[] dx = new double[rows * width], dGamma = new double[width], dBeta = new double[width];
        LayerNorm.Backward<double>(x, dy, rows, width, gamma, mean, rstd, dx, false, dGamma, dBeta, false);

        // Overwrite ignores whatever was there.
        double[] dx2 = NormTesting.Random(rows * width, 45), dGamma2 = NormTesting.Random(width, 46), dBeta2 = NormTesting.Random(width, 47);
        LayerNorm.Backward<double>(x, dy, rows, width, gamma, mean, rstd, dx2, false, dGamma2, dBeta2, false);
        Assert.Equal(dx, dx2);
        Assert.Equal(dGamma, dGamma2);
        Assert.Equal(dBeta, dBeta2);

        // Accumulate adds to it.
        double[] priorX = NormTesting.Random(rows * width, 48), priorG = NormTesting.Random(width, 49), priorB = NormTesting.Random(width, 50);
        double[] dx3 = (double[])priorX.Clone(), dGamma3 = (double[])priorG.Clone(), dBeta3 = (double[])priorB.Clone();
        LayerNorm.Backward<double>(x, dy, rows, width, gamma, mean, rstd, dx3, true, dGamma3, dBeta3, true);
        for (int i = 0; i < dx.Length; i++)
        {
            Assert.Equal(priorX[i] + dx[i], dx3[i], 14);
        }

        for (int i = 0; i < width; i++)
        {
            Assert.Equal(priorG[i] + dGamma[i], dGamma3[i], 13);
            Assert.Equal(priorB[i] + dBeta[i], dBeta3[i], 13);
        }

        // Accumulating parameters while overwriting dx, and the reverse.
        double[] dx4 = NormTesting.Random(rows * width, 51), dGamma4 = (double[])priorG.Clone();
        LayerNorm.Backward<double>(x, dy, rows, width, gamma, mean, rstd, dx4, false, dGamma4, [], true);
        Assert.Equal(dx, dx4);
        Assert.Equal(dGamma3, dGamma4);

        // In place: dx is dy.
        double[] inPlace = (double[])dy.Clone();
        double[] dGamma5 = new double[width], dBeta5 = new double[width];
        LayerNorm.Backward<double>(x, inPlace, rows, width, gamma, mean, rstd, inPlace, false, dGamma5, dBeta5, false);
        Assert.Equal(dx, inPlace);
        Assert.Equal(dGamma, dGamma5);
        Assert.Equal(dBeta, dBeta5);
    }

    [Fact]
    public void Float_backward_tracks_the_double_gradient()
    {
        const int rows = 5, width = 37;
        double[] x = NormTesting.Random(rows * width, 61);
        double[] gamma = NormTesting.Random(width, 62, 0.5, 1.5);
        double[] dy = NormTesting.Random(rows * width, 63);
        float[] xF = NormTesting.ToFloat(x), gammaF = NormTesting.ToFloat(gamma), dyF = NormTesting.ToFloat(dy);
        double[] xD = NormTesting.ToDouble(xF), gammaD = NormTesting.ToDouble(gammaF), dyD = NormTesting.ToDouble(dyF);

        double[] mean = new double[rows], rstd = new double[rows], dx = new double[rows * width], dGamma = new double[width], dBeta = new double[width];
        LayerNorm.Forward<double>(xD, rows, width, gammaD, [], Epsilon, new double[rows * width], mean, rstd);
        LayerNorm.Backward<double>(xD, dyD, rows, width, gammaD, mean, rstd, dx, false, dGamma, dBeta, false);

        float[] meanF = new float[rows], rstdF = new float[rows], dxF = new float[rows * width], dGammaF = new float[width], dBetaF = new float[width];
        LayerNorm.Forward<float>(xF, rows, width, gammaF, [], (float)Epsilon, new float[rows * width], meanF, rstdF);
        LayerNorm.Backward<float>(xF, dyF, rows, width, gammaF, meanF, rstdF, dxF, false, dGammaF, dBetaF, false);
        NormTesting.AssertClose(dx, dxF, 1e-5, "float dx");
        NormTesting.AssertClose(dGamma, dGammaF, 1e-5, "float dGamma");
        NormTesting.AssertClose(dBeta, dBetaF, 1e-5, "float dBeta");
    }

    [Fact]
    public void Forward_and_backward_allocate_nothing()
    {
        const int rows = 8, width = 128;
        float[] x = NormTesting.ToFloat(NormTesting.Random(rows * width, 71)), dy = NormTesting.ToFloat(NormTesting.Random(rows * width, 72));
        float[] gamma = new float[width], beta = new float[width], y = new float[rows * width], s = new float[rows * width];
        float[] mean = new float[rows], rstd = new float[rows], dx = new float[rows * width], dGamma = new float[width], dBeta = new float[width];
        gamma.AsSpan().Fill(1);

        void Run()
        {
            LayerNorm.Forward<float>(x, rows, width, gamma, beta, 1e-5f, y, mean, rstd);
            LayerNorm.AddForward<float>(x, dy, s, rows, width, gamma, [], 1e-5f, y, mean, rstd);
            LayerNorm.Backward<float>(x, dy, rows, width, gamma, mean, rstd, dx, false, dGamma, dBeta, false);
            LayerNorm.Backward<float>(x, dy, rows, width, [], mean, rstd, dx, true, [], [], true);
        }

        Run();
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 10; i++)
        {
            Run();
        }

        Assert.Equal(before, GC.GetAllocatedBytesForCurrentThread());
    }

    [Fact]
    public void Bad_arguments_are_rejected_naming_the_values()
    {
        double[] x = new double[12], y = new double[12], stats = new double[3];
        var e = Assert.Throws<ArgumentException>(() => LayerNorm.Forward<double>(x, 3, 4, new double[3], [], 1e-5, y, stats, stats));
        Assert.Equal("gamma", e.ParamName);
        Assert.StartsWith("gamma has length 3 but width is 4; it must be empty or of length width.", e.Message);

        e = Assert.Throws<ArgumentException>(() => LayerNorm.Forward<double>(x, 3, 4, [], [], 1e-5, new double[11], stats, stats));
        Assert.StartsWith("y is too short: length 11, needs at least 12.", e.Message);

        e = Assert.Throws<ArgumentException>(() => LayerNorm.Forward<double>(x, 3, 4, [], [], 1e-5, y, new double[2], stats));
        Assert.StartsWith("mean is too short: length 2, needs at least 3.", e.Message);

        var range = Assert.Throws<ArgumentOutOfRangeException>(() => LayerNorm.Forward<double>(x, 3, 0, [], [], 1e-5, y, stats, stats));
        Assert.StartsWith("width must be positive, was 0.", range.Message);

        range = Assert.Throws<ArgumentOutOfRangeException>(() => LayerNorm.Forward<double>(x, -1, 4, [], [], 1e-5, y, stats, stats));
        Assert.StartsWith("rows must be non-negative, was -1.", range.Message);

        range = Assert.Throws<ArgumentOutOfRangeException>(() => LayerNorm.Forward<double>(x, 3, 4, [], [], -1e-5, y, stats, stats));
        Assert.StartsWith("epsilon must be non-negative and finite, was -1E-05.", range.Message);

        range = Assert.Throws<ArgumentOutOfRangeException>(() => LayerNorm.Forward<double>(x, 3, 4, [], [], double.NaN, y, stats, stats));
        Assert.StartsWith("epsilon must be non-negative and finite, was NaN.", range.Message);

        e = Assert.Throws<ArgumentException>(() => LayerNorm.AddForward<double>(x, new double[5], y, 3, 4, [], [], 1e-5, y, stats, stats));
        Assert.StartsWith("b is too short: length 5, needs at least 12.", e.Message);

        e = Assert.Throws<ArgumentException>(() => LayerNorm.Backward<double>(x, x, 3, 4, [], stats, stats, y, false, [], new double[5], false));
        Assert.Equal("dBeta", e.ParamName);
        Assert.StartsWith("dBeta has length 5 but width is 4", e.Message);
    }
}
