using System;
using Dsl.Kernels;
using Dsl.Runtime;
using Xunit;

namespace Dsl.Tests.Kernels;

/// <summary>Dsl.Kernels.Cumax against the eager reference (Dsl.Ops.Cumax) and against finite differences of it.</summary>
public sealed class CumaxTests
{
    private static double[] Random(int n, ulong seed, double scale)
    {
        var random = new SeededRandom(seed);
        var v = new double[n];
        for (int i = 0; i < n; i++) v[i] = scale * random.NextGaussian();
        return v;
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(3, 5)]
    [InlineData(2, 33)]
    public void Forward_matches_the_reference_rises_and_ends_at_one(int rows, int width)
    {
        double[] x = Random(rows * width, 1, 3);
        var y = new double[x.Length];
        Cumax.Forward<double>(x, y, rows, width);
        var reference = Ops.Cumax(Tensor.FromRows(Array.ConvertAll(x, v => (float)v), rows, width));
        var xf = Array.ConvertAll(Array.ConvertAll(x, v => (float)v), v => (double)v);
        var yf = new double[x.Length];
        Cumax.Forward<double>(xf, yf, rows, width);
        for (int r = 0; r < rows; r++)
        {
            Assert.Equal(1.0, y[(r * width) + width - 1], 12);
            for (int j = 1; j < width; j++) Assert.True(y[(r * width) + j] >= y[(r * width) + j - 1]);
        }

        for (int i = 0; i < x.Length; i++) Assert.Equal(reference.Data[i], yf[i], 12);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Backward_matches_finite_differences(bool accumulate)
    {
        const int rows = 3, width = 6;
        double[] x = Random(rows * width, 2, 2);
        double[] dy = Random(rows * width, 3, 1);
        double[] start = Random(rows * width, 4, 1);
        var dx = (double[])start.Clone();
        Cumax.Backward<double>(x, dy, dx, rows, width, accumulate);

        var y = new double[x.Length];
        double Loss()
        {
            Cumax.Forward<double>(x, y, rows, width);
            double s = 0;
            for (int i = 0; i < y.Length; i++) s += y[i] * dy[i];
            return s;
        }

        for (int i = 0; i < x.Length; i++)
        {
            double t = x[i];
            const double h = 1e-6;
            x[i] = t + h;
            double plus = Loss();
            x[i] = t - h;
            double minus = Loss();
            x[i] = t;
            double numeric = (plus - minus) / (2 * h);
            double expected = numeric + (accumulate ? start[i] : 0);
            Assert.True(Math.Abs(expected - dx[i]) <= 1e-8, $"∂x[{i}]: analytic {dx[i]:R}, central difference {expected:R}");
        }
    }

    [Fact]
    public void Float_agrees_with_double_and_extreme_inputs_stay_finite()
    {
        const int rows = 2, width = 9;
        double[] x = Random(rows * width, 5, 40); // far beyond exp's float range without the max shift
        float[] xf = Array.ConvertAll(x, v => (float)v);
        var yd = new double[x.Length];
        var yf = new float[x.Length];
        Cumax.Forward<double>(Array.ConvertAll(xf, v => (double)v), yd, rows, width);
        Cumax.Forward<float>(xf, yf, rows, width);
        for (int i = 0; i < x.Length; i++) Assert.Equal(yd[i], yf[i], 5);
        var dxf = new float[x.Length];
        Cumax.Backward<float>(xf, Array.ConvertAll(Random(rows * width, 6, 1), v => (float)v), dxf, rows, width, false);
        Assert.All(dxf, v => Assert.True(float.IsFinite(v)));
    }

    [Fact]
    public void Bad_shapes_name_the_argument()
    {
        var e = Assert.Throws<ArgumentException>(() => Cumax.Forward<float>(new float[5], new float[6], 2, 3));
        Assert.Equal("x", e.ParamName);
        Assert.Throws<ArgumentOutOfRangeException>(() => Cumax.Forward<float>(new float[6], new float[6], 2, 0));
    }
}
