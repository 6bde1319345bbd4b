using System;
using Dsl.Runtime;
using Xunit;

// Not "Dsl.Tests.Random": a namespace of that name would shadow System.Random in every Dsl.Tests.* file.
namespace Dsl.Tests.Randomness;

public sealed class SeededRandomTests
{
    [Fact]
    public void Sequence_matches_known_values()
    {
        // xoshiro256** seeded by SplitMix64, computed by an independent Python implementation.
        var r0 = new SeededRandom(0);
        Assert.Equal(0x99ec5f36cb75f2b4UL, r0.NextUInt64());
        Assert.Equal(0xbf6e1f784956452aUL, r0.NextUInt64());
        Assert.Equal(0x1a5f849d4933e6e0UL, r0.NextUInt64());
        var r42 = new SeededRandom(42);
        Assert.Equal(0x15780b2e0c2ec716UL, r42.NextUInt64());
        Assert.Equal(0x6104d9866d113a7eUL, r42.NextUInt64());
        Assert.Equal(0xae17533239e499a1UL, r42.NextUInt64());
    }

    [Fact]
    public void Counter_draws_match_known_values_and_are_stateless()
    {
        Assert.Equal(0.05008197282971483, SeededRandom.Uniform(0, 0, 0));
        Assert.Equal(0.6450128201719876, SeededRandom.Uniform(1234, 5, 67));
        Assert.Equal(0.0922700131368247, SeededRandom.Uniform(ulong.MaxValue, ulong.MaxValue, ulong.MaxValue));
        Assert.Equal(SeededRandom.Uniform(9, 8, 7), SeededRandom.Uniform(9, 8, 7));
    }

    [Fact]
    public void Same_seed_same_sequence_different_seed_different_sequence()
    {
        var a = new SeededRandom(123);
        var b = new SeededRandom(123);
        var c = new SeededRandom(124);
        int equalToC = 0;
        for (int i = 0; i < 1000; i++)
        {
            ulong va = a.NextUInt64();
            Assert.Equal(va, b.NextUInt64());
            if (va == c.NextUInt64())
            {
                equalToC++;
            }
        }

        Assert.Equal(0, equalToC);
    }

    [Fact]
    public void NextDouble_is_uniform_on_the_unit_interval()
    {
        var r = new SeededRandom(5);
        const int n = 1_000_000;
        double sum = 0, sumSq = 0;
        int[] bins = new int[10];
        for (int i = 0; i < n; i++)
        {
            double u = r.NextDouble();
            Assert.InRange(u, 0.0, Math.BitDecrement(1.0));
            sum += u;
            sumSq += u * u;
            bins[(int)(u * 10)]++;
        }

        double mean = sum / n;
        Assert.InRange(mean, 0.499, 0.501);
        Assert.InRange((sumSq / n) - (mean * mean), (1.0 / 12) - 0.001, (1.0 / 12) + 0.001);
        Assert.True(ChiSquare(bins, n) < 27.9, "chi-square over 10 bins above the 0.1% critical value"); // 9 d.o.f.
    }

    [Fact]
    public void NextGaussian_has_standard_normal_moments()
    {
        var r = new SeededRandom(6);
        const int n = 1_000_000;
        double sum = 0, sumSq = 0, sum4 = 0;
        int withinOne = 0;
        for (int i = 0; i < n; i++)
        {
            double z = r.NextGaussian();
            Assert.True(double.IsFinite(z));
            sum += z;
            sumSq += z * z;
            sum4 += z * z * z * z;
            if (Math.Abs(z) < 1)
            {
                withinOne++;
            }
        }

        Assert.InRange(sum / n, -0.005, 0.005);
        Assert.InRange(sumSq / n, 0.99, 1.01);
        Assert.InRange(sum4 / n, 2.95, 3.05); // kurtosis 3
        Assert.InRange(withinOne / (double)n, 0.6827 - 0.002, 0.6827 + 0.002);
    }

    [Fact]
    public void NextInt_is_unbiased_and_in_range()
    {
        var r = new SeededRandom(7);
        const int n = 700_000;
        int[] counts = new int[7];
        for (int i = 0; i < n; i++)
        {
            counts[r.NextInt(7)]++;
        }

        Assert.True(ChiSquare(counts, n) < 22.5, "chi-square over 7 values above the 0.1% critical value"); // 6 d.o.f.
        Assert.Equal(0, r.NextInt(1));
        for (int i = 0; i < 1000; i++)
        {
            Assert.InRange(r.NextInt(int.MaxValue), 0, int.MaxValue - 1);
        }

        ArgumentOutOfRangeException e = Assert.Throws<ArgumentOutOfRangeException>(() => r.NextInt(0));
        Assert.Contains("was 0", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => r.NextInt(-3));
    }

    [Fact]
    public void Shuffle_is_a_deterministic_permutation()
    {
        int[] a = new int[100], b = new int[100], c = new int[100];
        for (int i = 0; i < 100; i++)
        {
            a[i] = b[i] = c[i] = i;
        }

        new SeededRandom(8).Shuffle(a);
        new SeededRandom(8).Shuffle(b);
        new SeededRandom(9).Shuffle(c);
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
        int[] sorted = (int[])a.Clone();
        Array.Sort(sorted);
        for (int i = 0; i < 100; i++)
        {
            Assert.Equal(i, sorted[i]);
        }

        int fixedPoints = 0;
        for (int i = 0; i < 100; i++)
        {
            fixedPoints += a[i] == i ? 1 : 0;
        }

        Assert.True(fixedPoints < 10, $"{fixedPoints} fixed points: hardly shuffled");
        new SeededRandom(1).Shuffle(Span<int>.Empty);
    }

    [Fact]
    public void Shuffle_puts_each_value_in_each_position_equally_often()
    {
        const int size = 5, trials = 100_000;
        int[,] counts = new int[size, size];
        var r = new SeededRandom(10);
        int[] values = new int[size];
        for (int t = 0; t < trials; t++)
        {
            for (int i = 0; i < size; i++)
            {
                values[i] = i;
            }

            r.Shuffle(values);
            for (int i = 0; i < size; i++)
            {
                counts[i, values[i]]++;
            }
        }

        foreach (int count in counts)
        {
            Assert.InRange(count, (trials / size) - 600, (trials / size) + 600); // ±~4.7σ
        }
    }

    [Fact]
    public void Counter_draws_are_uniform_and_uncorrelated_across_indices_and_streams()
    {
        const int n = 500_000;
        double sum = 0, lag = 0, cross = 0, previous = 0;
        int[] bins = new int[16];
        for (int i = 0; i < n; i++)
        {
            double u = SeededRandom.Uniform(31, 2, (ulong)i);
            double v = SeededRandom.Uniform(31, 3, (ulong)i);
            Assert.InRange(u, 0.0, Math.BitDecrement(1.0));
            sum += u;
            lag += (u - 0.5) * (previous - 0.5);
            cross += (u - 0.5) * (v - 0.5);
            previous = u;
            bins[(int)(u * 16)]++;
        }

        Assert.InRange(sum / n, 0.498, 0.502);
        // Correlations of independent uniforms: (1/12)·ρ with |ρ| ≲ 4/√n.
        Assert.InRange(lag / n / (1.0 / 12), -0.006, 0.006);
        Assert.InRange(cross / n / (1.0 / 12), -0.006, 0.006);
        Assert.True(ChiSquare(bins, n) < 37.7, "chi-square over 16 bins above the 0.1% critical value"); // 15 d.o.f.
    }

    private static double ChiSquare(int[] counts, int total)
    {
        double expected = total / (double)counts.Length, chi = 0;
        foreach (int c in counts)
        {
            chi += (c - expected) * (c - expected) / expected;
        }

        return chi;
    }
}
