using System;
using System.Numerics;
using Dsl.Kernels;
using Dsl.Runtime;
using Xunit;

namespace Dsl.Tests.Kernels;

public sealed class DropoutTests
{
    public static TheoryData<int> Lengths()
    {
        var data = new TheoryData<int>();
        foreach (int n in ActivationCases.Lengths())
        {
            data.Add(n);
        }

        data.Add(1000);
        return data;
    }

    [Theory]
    [MemberData(nameof(Lengths))]
    public void Mask_is_uniform_at_least_rate_and_kept_values_are_scaled(int n)
    {
        CheckMask<double>(n, 0.3, seed: 11, stream: 4);
        CheckMask<float>(n, 0.3, seed: 11, stream: 4);
        CheckMask<float>(n, 0.75, seed: 12345, stream: 0);
    }

    private static void CheckMask<T>(int n, double rate, ulong seed, ulong stream) where T : unmanaged, IFloatingPointIeee754<T>
    {
        T[] x = EpilogueTests.Filled(n, T.CreateTruncating(2.0), 3);
        for (int i = 0; i < n; i++)
        {
            x[i] = T.Abs(x[i]) + T.One; // no zeros, so a zero output means "dropped"
        }

        T[] y = new T[n];
        Dropout.Forward<T>(x, y, rate, seed, stream);
        T scale = T.CreateTruncating(1.0 / (1.0 - rate));
        for (int i = 0; i < n; i++)
        {
            bool keep = SeededRandom.Uniform(seed, stream, (ulong)i) >= rate;
            Assert.Equal(keep ? x[i] * scale : T.Zero, y[i]);
        }
    }

    [Theory]
    [MemberData(nameof(Lengths))]
    public void Backward_uses_the_forward_mask(int n)
    {
        double[] ones = new double[n];
        Array.Fill(ones, 1.0);
        double[] y = new double[n], dx = new double[n];
        Dropout.Forward<double>(ones, y, 0.4, 77, 9);
        double[] dy = EpilogueTests.Filled(n, 0.5, 5);
        Dropout.Backward<double>(dy, dx, 0.4, 77, 9);
        for (int i = 0; i < n; i++)
        {
            Assert.Equal(y[i] == 0 ? 0 : dy[i] * (1.0 / 0.6), dx[i]);
        }

        // In place gives the same.
        double[] inPlace = (double[])dy.Clone();
        Dropout.Backward<double>(inPlace, inPlace, 0.4, 77, 9);
        Assert.Equal(dx, inPlace);
    }

    [Theory]
    [InlineData(0.1)]
    [InlineData(0.5)]
    [InlineData(0.9)]
    public void Kept_fraction_is_one_minus_rate_within_half_a_percent(double rate)
    {
        const int n = 1_000_000;
        float[] x = new float[n];
        Array.Fill(x, 1f);
        float[] y = new float[n];
        Dropout.Forward<float>(x, y, rate, seed: 2024, stream: 3);
        int kept = 0;
        float scale = (float)(1.0 / (1.0 - rate));
        foreach (float v in y)
        {
            if (v != 0)
            {
                Assert.Equal(scale, v);
                kept++;
            }
        }

        double fraction = kept / (double)n;
        Assert.True(Math.Abs(fraction - (1 - rate)) <= 0.005 * (1 - rate), $"kept {fraction:F5}, expected {1 - rate}");

        // The expected value is preserved: mean(y) ≈ mean(x) = 1.
        double mean = 0;
        foreach (float v in y)
        {
            mean += v;
        }

        Assert.True(Math.Abs((mean / n) - 1) <= 0.01, $"mean {mean / n}");
    }

    [Fact]
    public void Different_streams_and_seeds_give_different_masks()
    {
        const int n = 100_000;
        double[] x = new double[n];
        Array.Fill(x, 1.0);
        double[] a = new double[n], b = new double[n], c = new double[n], again = new double[n];
        Dropout.Forward<double>(x, a, 0.5, seed: 1, stream: 1);
        Dropout.Forward<double>(x, b, 0.5, seed: 1, stream: 2);
        Dropout.Forward<double>(x, c, 0.5, seed: 2, stream: 1);
        Dropout.Forward<double>(x, again, 0.5, seed: 1, stream: 1);
        Assert.Equal(a, again);

        // Independent masks at rate ½ disagree on half of the positions.
        Assert.InRange(Disagreement(a, b), 0.48, 0.52);
        Assert.InRange(Disagreement(a, c), 0.48, 0.52);
    }

    private static double Disagreement(double[] a, double[] b)
    {
        int differ = 0;
        for (int i = 0; i < a.Length; i++)
        {
            if ((a[i] == 0) != (b[i] == 0))
            {
                differ++;
            }
        }

        return differ / (double)a.Length;
    }

    [Fact]
    public void Rate_zero_is_a_copy()
    {
        double[] x = EpilogueTests.Filled(37, 0.0, 3);
        x[5] = double.NaN;
        double[] y = new double[37];
        Dropout.Forward<double>(x, y, 0, 1, 2);
        Assert.Equal(x, y);
        Dropout.Backward<double>(x, y, 0, 1, 2);
        Assert.Equal(x, y);
    }

    [Theory]
    [InlineData(-0.1)]
    [InlineData(1.0)]
    [InlineData(1.5)]
    [InlineData(double.NaN)]
    public void Invalid_rates_throw(double rate)
    {
        ArgumentOutOfRangeException e = Assert.Throws<ArgumentOutOfRangeException>(() => Dropout.Forward<float>(new float[4], new float[4], rate, 1, 1));
        Assert.Contains("rate", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => Dropout.Backward<float>(new float[4], new float[4], rate, 1, 1));
    }

    [Fact]
    public void Short_destination_throws()
    {
        Assert.Throws<ArgumentException>(() => Dropout.Forward<double>(new double[4], new double[3], 0.5, 1, 1));
        Assert.Throws<ArgumentException>(() => Dropout.Backward<double>(new double[4], new double[3], 0.5, 1, 1));
    }
}
