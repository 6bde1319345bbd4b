using System;
using Dsl.Kernels;
using Xunit;

namespace Dsl.Tests.Kernels;

public sealed class RmsNormTests
{
    private const double Epsilon = 1e-6;

    public static TheoryData<int, int, bool> Shapes()
    {
        var data = new TheoryData<int, int, bool>();
        foreach (int width in new[] { 1, 3, 4, 7, 8, 13, 16, 33, 128 })
        {
            data.Add(3, width, true);
            data.Add(2, width, false);
        }

        data.Add(0, 5, true);
        return data;
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Forward_matches_a_double_reference_and_float_stays_close(int rows, int width, bool hasGain)
    {
        double[] x = NormTesting.Random(rows * width, (rows * 100) + width);
        double[]? gain = hasGain ? NormTesting.Random(width, 1 + width, 0.5, 1.5) : null;
        double[] expectedRstd = new double[rows];
        double[] expected = NormTesting.ReferenceRmsNorm(x, rows, width, gain, Epsilon, expectedRstd);

        double[] y = new double[rows * width], rstd = new double[rows];
        RmsNorm.Forward<double>(x, rows, width, gain ?? [], Epsilon, y, rstd);
        NormTesting.AssertClose(expected, y, 1e-13, "y");
        NormTesting.AssertClose(expectedRstd, rstd, 1e-13, "rstd");

        float[] xF = NormTesting.ToFloat(x), gainF = NormTesting.ToFloat(gain);
        double[] expectedF = NormTesting.ReferenceRmsNorm(NormTesting.ToDouble(xF), rows, width, hasGain ? NormTesting.ToDouble(gainF) : null, Epsilon);
        float[] yF = new float[rows * width], rstdF = new float[rows];
        RmsNorm.Forward<float>(xF, rows, width, gainF, (float)Epsilon, yF, rstdF);
        NormTesting.AssertClose(expectedF, yF, 2e-6, "float y");
    }

    [Fact]
    public void Without_gain_rows_have_unit_root_mean_square()
    {
        const int rows = 4, width = 24;
        double[] x = NormTesting.Random(rows * width, 3);
        double[] y = new double[rows * width];
        RmsNorm.Forward<double>(x, rows, width, [], 0.0, y, new double[rows]);
        for (int r = 0; r < rows; r++)
        {
            double ms = 0;
            for (int i = 0; i < width; i++)
            {
                ms += y[(r * width) + i] * y[(r * width) + i];
            }

            Assert.Equal(1.0, ms / width, 14);
        }
    }

    public static TheoryData<int, int, bool> GradientShapes() => new()
    {
        { 3, 13, true },
        { 2, 8, false },
        { 3, 17, false },
        { 2, 5, true },
        { 1, 1, true },
        { 2, 1, false },
    };

    [Theory]
    [MemberData(nameof(GradientShapes))]
    public void Backward_matches_central_differences(int rows, int width, bool hasGain)
    {
        double[] x = NormTesting.Random(rows * width, 21 + width);
        double[] gain = hasGain ? NormTesting.Random(width, 22, 0.5, 1.5) : [];
        double[] w = NormTesting.Random(rows * width, 24);
        double[] y = new double[rows * width], rstd = new double[rows];

        double Loss()
        {
            RmsNorm.Forward<double>(x, rows, width, gain, Epsilon, y, rstd);
            return NormTesting.Dot(w, y);
        }

        Loss();
        double[] dx = new double[rows * width], dGain = new double[hasGain ? width : 0];
        RmsNorm.Backward<double>(x, w, rows, width, gain, rstd, dx, false, dGain, false);
        NormTesting.AssertGradient(x, dx, Loss, "dx");
        if (hasGain)
        {
            NormTesting.AssertGradient(gain, dGain, Loss, "dGain");
        }
    }

    [Fact]
    public void Gain_free_backward_is_orthogonal_to_y_when_epsilon_is_zero()
    {
        // SEEDS §3: Σ_i y_i ∂L/∂x_i = 0 when ε = 0 (y is invariant to scaling x).
        const int rows = 5, width = 29;
        double[] x = NormTesting.Random(rows * width, 81);
        double[] dy = NormTesting.Random(rows * width, 82);
        double[] y = new double[rows * width], rstd = new double[rows], dx = new double[rows * width];
        RmsNorm.Forward<double>(x, rows, width, [], 0.0, y, rstd);
        RmsNorm.Backward<double>(x, dy, rows, width, [], rstd, dx, false, [], false);
        for (int r = 0; r < rows; r++)
        {
            double dot = 0, scale = 0;
            for (int i = 0; i < width; i++)
            {
                dot += y[(r * width) + i] * dx[(r * width) + i];
                scale += Math.Abs(y[(r * width) + i] * dx[(r * width) + i]);
            }

            Assert.True(Math.Abs(dot) <= 1e-14 * scale, $"row {r}: Σ y·dx = {dot:R} (scale {scale:R})");

            // RoFormerV2's form: dx = (dy − y·mean(dy ⊙ y))/r with r = 1/rstd.
            double m = 0;
            for (int i = 0; i < width; i++)
            {
                m += dy[(r * width) + i] * y[(r * width) + i];
            }

            m /= width;
            for (int i = 0; i < width; i++)
            {
                double expected = (dy[(r * width) + i] - (y[(r * width) + i] * m)) * rstd[r];
                Assert.Equal(expected, dx[(r * width) + i], 13);
            }
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Backward_overwrites_accumulates_and_runs_in_place(bool hasGain)
    {
        const int rows = 4, width = 19;
        double[] x = NormTesting.Random(rows * width, 41);
        double[] gain = hasGain ? NormTesting.Random(width, 42, 0.5, 1.5) : [];
        double[] dy = NormTesting.Random(rows * width, 44);
        double[] rstd = new double[rows];
        RmsNorm.Forward<double>(x, rows, width, gain, Epsilon, new double[rows * width], rstd);

        double[] dx = new double[rows * width], dGain = new double[width];
        RmsNorm.Backward<double>(x, dy, rows, width, gain, rstd, dx, false, dGain, false);

        double[] dx2 = NormTesting.Random(rows * width, 45), dGain2 = NormTesting.Random(width, 46);
        RmsNorm.Backward<double>(x, dy, rows, width, gain, rstd, dx2, false, dGain2, false);
        Assert.Equal(dx, dx2);
        Assert.Equal(dGain, dGain2);

        double[] priorX = NormTesting.Random(rows * width, 48), priorG = NormTesting.Random(width, 49);
        double[] dx3 = (double[])priorX.Clone(), dGain3 = (double[])priorG.Clone();
        RmsNorm.Backward<double>(x, dy, rows, width, gain, rstd, dx3, true, dGain3, true);
        for (int i = 0; i < dx.Length; i++)
        {
            Assert.Equal(priorX[i] + dx[i], dx3[i], 14);
        }

        for (int i = 0; i < width; i++)
        {
            Assert.Equal(priorG[i] + dGain[i], dGain3[i], 13);
        }

        double[] inPlace = (double[])dy.Clone(), dGain4 = new double[width];
        RmsNorm.Backward<double>(x, inPlace, rows, width, gain, rstd, inPlace, false, dGain4, false);
        Assert.Equal(dx, inPlace);
        Assert.Equal(dGain, dGain4);
    }

    [Fact]
    public void Float_backward_tracks_the_double_gradient()
    {
        const int rows = 5, width = 37;
        float[] xF = NormTesting.ToFloat(NormTesting.Random(rows * width, 61));
        float[] gainF = NormTesting.ToFloat(NormTesting.Random(width, 62, 0.5, 1.5));
        float[] dyF = NormTesting.ToFloat(NormTesting.Random(rows * width, 63));
        double[] x = NormTesting.ToDouble(xF), gain = NormTesting.ToDouble(gainF), dy = NormTesting.ToDouble(dyF);

        double[] rstd = new double[rows], dx = new double[rows * width], dGain = new double[width];
        RmsNorm.Forward<double>(x, rows, width, gain, Epsilon, new double[rows * width], rstd);
        RmsNorm.Backward<double>(x, dy, rows, width, gain, rstd, dx, false, dGain, false);

        float[] rstdF = new float[rows], dxF = new float[rows * width], dGainF = new float[width];
        RmsNorm.Forward<float>(xF, rows, width, gainF, (float)Epsilon, new float[rows * width], rstdF);
        RmsNorm.Backward<float>(xF, dyF, rows, width, gainF, rstdF, dxF, false, dGainF, false);
        NormTesting.AssertClose(dx, dxF, 1e-5, "float dx");
        NormTesting.AssertClose(dGain, dGainF, 1e-5, "float dGain");
    }

    [Fact]
    public void Forward_and_backward_allocate_nothing()
    {
        const int rows = 8, width = 128;
        double[] x = NormTesting.Random(rows * width, 71), dy = NormTesting.Random(rows * width, 72);
        double[] gain = new double[width], y = new double[rows * width], rstd = new double[rows], dx = new double[rows * width], dGain = new double[width];
        gain.AsSpan().Fill(1);

        void Run()
        {
            RmsNorm.Forward<double>(x, rows, width, gain, 1e-6, y, rstd);
            RmsNorm.Backward<double>(x, dy, rows, width, gain, rstd, dx, false, dGain, false);
            RmsNorm.Forward<double>(x, rows, width, [], 1e-6, y, rstd);
            RmsNorm.Backward<double>(x, dy, rows, width, [], rstd, dx, true, [], true);
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
        float[] x = new float[6], y = new float[6], rstd = new float[2];
        var e = Assert.Throws<ArgumentException>(() => RmsNorm.Forward<float>(x, 2, 3, new float[4], 1e-6f, y, rstd));
        Assert.Equal("gain", e.ParamName);
        Assert.StartsWith("gain has length 4 but width is 3; it must be empty or of length width.", e.Message);

        e = Assert.Throws<ArgumentException>(() => RmsNorm.Forward<float>(new float[5], 2, 3, [], 1e-6f, y, rstd));
        Assert.StartsWith("x is too short: length 5, needs at least 6.", e.Message);

        var range = Assert.Throws<ArgumentOutOfRangeException>(() => RmsNorm.Forward<float>(x, 2, 3, [], float.PositiveInfinity, y, rstd));
        Assert.StartsWith("epsilon must be non-negative and finite, was ∞.", range.Message.Replace("Infinity", "∞"));

        e = Assert.Throws<ArgumentException>(() => RmsNorm.Backward<float>(x, x, 2, 3, [], new float[1], y, false, [], false));
        Assert.StartsWith("rstd is too short: length 1, needs at least 2.", e.Message);

        e = Assert.Throws<ArgumentException>(() => RmsNorm.Backward<float>(x, x, 2, 3, [], rstd, y, false, new float[2], false));
        Assert.Equal("dGain", e.ParamName);
    }
}
