using System;
using System.Collections.Generic;
using Dsl.Kernels;
using Xunit;

namespace Dsl.Tests.Kernels;

/// <summary>
/// A packed attention problem as the generator lays it out: one [rows, 2·H·dk + H·dv] buffer
/// holding q, k and v side by side, an output with a padded stride, and an upstream gradient.
/// </summary>
internal sealed class AttentionProblem
{
    public AttentionProblem(AttentionOptions options, int batch, int seed, double range = 1.0, int outPadding = 3)
    {
        Options = options;
        Batch = batch;
        Rows = batch * options.Sequence;
        Stride = (2 * options.Heads * options.KeySize) + (options.Heads * options.ValueSize);
        OutStride = (options.Heads * options.ValueSize) + outPadding;
        var random = new Random(seed);
        Packed = Draw(random, Rows * Stride, range);
        DOutput = Draw(random, Rows * OutStride, 1.0);
    }

    public AttentionOptions Options { get; }

    public int Batch { get; }

    public int Rows { get; }

    public int Stride { get; }

    public int OutStride { get; }

    /// <summary>q, k and v, packed.</summary>
    public double[] Packed { get; }

    /// <summary>dL/dO: the loss is L = Σ dOutput ⊙ O (padding entries are never read).</summary>
    public double[] DOutput { get; }

    public int QWidth => Options.Heads * Options.KeySize;

    public int VWidth => Options.Heads * Options.ValueSize;

    public int StatsLength => Batch * Options.Heads * Options.Sequence;

    public int OutputLength => Rows * OutStride;

    public static AttentionOptions Make(int heads, int dk, int dv, int seq, bool causal, int window, AttentionScaleMode mode, double scale = double.NaN)
        => new(heads, dk, dv, seq, causal, window, mode, double.IsNaN(scale) ? 1 / Math.Sqrt(dk) : scale);

    /// <summary>Values uniform in ±range but at least 1e-3 away from 0 (elu + 1 has a kink in its second derivative there).</summary>
    public static double[] Draw(Random random, int count, double range)
    {
        var values = new double[count];
        for (int i = 0; i < count; i++)
        {
            double x = ((random.NextDouble() * 2) - 1) * range;
            values[i] = Math.Abs(x) < 1e-3 ? x + (x < 0 ? -2e-3 : 2e-3) : x;
        }

        return values;
    }

    public static float[] ToFloat(double[] x) => Array.ConvertAll(x, v => (float)v);

    public static double[] ToDouble(float[] x) => Array.ConvertAll(x, v => (double)v);

    /// <summary>Rounds every value to float, so float and double runs see the same inputs.</summary>
    public void RoundToFloat()
    {
        for (int i = 0; i < Packed.Length; i++)
        {
            Packed[i] = (float)Packed[i];
        }

        for (int i = 0; i < DOutput.Length; i++)
        {
            DOutput[i] = (float)DOutput[i];
        }
    }

    public ReadOnlySpan<T> Q<T>(T[] packed) => packed.AsSpan(0, ((Rows - 1) * Stride) + QWidth);

    public ReadOnlySpan<T> K<T>(T[] packed) => packed.AsSpan(QWidth, ((Rows - 1) * Stride) + QWidth);

    public ReadOnlySpan<T> V<T>(T[] packed) => packed.AsSpan(2 * QWidth, ((Rows - 1) * Stride) + VWidth);

    public Span<T> DQ<T>(T[] grad) => grad.AsSpan(0, ((Rows - 1) * Stride) + QWidth);

    public Span<T> DK<T>(T[] grad) => grad.AsSpan(QWidth, ((Rows - 1) * Stride) + QWidth);

    public Span<T> DV<T>(T[] grad) => grad.AsSpan(2 * QWidth, ((Rows - 1) * Stride) + VWidth);

    /// <summary>Σ_r Σ_{c &lt; H·dv} w[r, c] · (a[r, c] − b[r, c]): differences first, so rows a
    /// perturbation did not touch contribute exact zeros instead of rounding noise.</summary>
    public double WeightedDifference(double[] a, double[] b)
    {
        double sum = 0;
        for (int r = 0; r < Rows; r++)
        {
            for (int c = 0; c < VWidth; c++)
            {
                int i = (r * OutStride) + c;
                double d = a[i] - b[i];
                if (d != 0)
                {
                    sum += DOutput[i] * d;
                }
            }
        }

        return sum;
    }
}

/// <summary>Central-difference gradient checks, following SEEDS §3: h = 6e-6·max(1, |x|),
/// metric |a − n| / max(|a|, |n|, 1e-4).</summary>
internal static class GradientCheck
{
    public const double Tolerance = 1e-6;

    public const double Floor = 1e-4;

    public static double Metric(double analytic, double numeric)
        => Math.Abs(analytic - numeric) / Math.Max(Math.Max(Math.Abs(analytic), Math.Abs(numeric)), Floor);

    /// <summary>
    /// Worst metric over <paramref name="indices"/> of <paramref name="parameters"/> between
    /// <paramref name="analytic"/>[index] and the central difference of <paramref name="loss"/>,
    /// which takes the perturbed parameters and returns L(x + δ) − L(x − δ) pieces via
    /// <paramref name="difference"/>. Parameters are restored afterwards.
    /// </summary>
    public static (double Worst, int Index, double Analytic, double Numeric) Run(
        double[] parameters, double[] analytic, IEnumerable<int> indices, Func<double[]> evaluate, Func<double[], double[], double> difference)
    {
        double worst = 0, worstA = 0, worstN = 0;
        int worstIndex = -1;
        foreach (int i in indices)
        {
            double x = parameters[i];
            double h = 6e-6 * Math.Max(1, Math.Abs(x));
            parameters[i] = x + h;
            double[] plus = evaluate();
            parameters[i] = x - h;
            double[] minus = evaluate();
            parameters[i] = x;
            double numeric = difference(plus, minus) / (2 * h);
            double metric = Metric(analytic[i], numeric);
            if (metric > worst || worstIndex < 0)
            {
                worst = metric;
                worstIndex = i;
                worstA = analytic[i];
                worstN = numeric;
            }
        }

        return (worst, worstIndex, worstA, worstN);
    }

    /// <summary>Every index of a packed q/k/v buffer that holds a q, k or v element (all of them: the buffer has no padding).</summary>
    public static IEnumerable<int> All(int length)
    {
        for (int i = 0; i < length; i++)
        {
            yield return i;
        }
    }

    /// <summary><paramref name="count"/> distinct indices below <paramref name="length"/>, fixed seed.</summary>
    public static IEnumerable<int> Sample(int length, int count, int seed)
    {
        var random = new Random(seed);
        var seen = new HashSet<int>();
        while (seen.Count < Math.Min(count, length))
        {
            seen.Add(random.Next(length));
        }

        return seen;
    }

    public static void AssertPasses((double Worst, int Index, double Analytic, double Numeric) result, string what)
        => Assert.True(
            result.Worst <= Tolerance,
            $"{what}: worst metric {result.Worst:E3} at index {result.Index} (analytic {result.Analytic:R}, numeric {result.Numeric:R})");

    /// <summary>Float vs double comparison: |f − d| ≤ tolerance · max(|d|, 1e-2 · max|d|).</summary>
    public static void AssertClose(double[] expected, float[] actual, double tolerance, string what)
    {
        double scale = 0;
        foreach (double e in expected)
        {
            scale = Math.Max(scale, Math.Abs(e));
        }

        for (int i = 0; i < expected.Length; i++)
        {
            double allowed = tolerance * Math.Max(Math.Abs(expected[i]), 1e-2 * scale);
            Assert.True(Math.Abs(actual[i] - expected[i]) <= allowed, $"{what}[{i}]: float {actual[i]:R} vs double {expected[i]:R} (allowed {allowed:E2})");
        }
    }

    /// <summary>|a − e| ≤ tolerance · max(1, max|e|) for every element.</summary>
    public static void AssertClose(double[] expected, double[] actual, double tolerance, string what)
    {
        double scale = 1;
        foreach (double e in expected)
        {
            scale = Math.Max(scale, Math.Abs(e));
        }

        for (int i = 0; i < expected.Length; i++)
        {
            Assert.True(Math.Abs(actual[i] - expected[i]) <= tolerance * scale, $"{what}[{i}]: {actual[i]:R} vs {expected[i]:R}");
        }
    }
}
