using System;

namespace Dsl.Runtime;

/// <summary>Spearman's rank correlation, the STS benchmark's usual metric for sentence encoders.</summary>
public static class RankCorrelation
{
    /// <summary>Spearman's ρ: Pearson's correlation of the ranks, ties given their average rank.
    /// NaN when either side is constant.</summary>
    public static double Spearman(ReadOnlySpan<double> x, ReadOnlySpan<double> y)
    {
        if (x.Length != y.Length)
            throw new ArgumentException(FormattableString.Invariant($"{x.Length} values against {y.Length}"), nameof(y));
        if (x.Length < 2)
            throw new ArgumentException(FormattableString.Invariant($"{x.Length} values: a correlation needs at least 2"), nameof(x));
        return Pearson(Ranks(x), Ranks(y));
    }

    /// <summary>Pearson's correlation coefficient; NaN when either side is constant.</summary>
    public static double Pearson(ReadOnlySpan<double> x, ReadOnlySpan<double> y)
    {
        double mx = 0, my = 0;
        for (int i = 0; i < x.Length; i++)
        {
            mx += x[i];
            my += y[i];
        }

        mx /= x.Length;
        my /= y.Length;
        double sxy = 0, sxx = 0, syy = 0;
        for (int i = 0; i < x.Length; i++)
        {
            double a = x[i] - mx, b = y[i] - my;
            sxy += a * b;
            sxx += a * a;
            syy += b * b;
        }

        return sxx > 0 && syy > 0 ? sxy / Math.Sqrt(sxx * syy) : double.NaN;
    }

    /// <summary>1-based ranks, ties averaged.</summary>
    public static double[] Ranks(ReadOnlySpan<double> values)
    {
        int n = values.Length;
        var order = new int[n];
        for (int i = 0; i < n; i++) order[i] = i;
        double[] copy = values.ToArray();
        Array.Sort(order, (a, b) => copy[a].CompareTo(copy[b]) is var c && c != 0 ? c : a.CompareTo(b));
        var ranks = new double[n];
        for (int start = 0; start < n;)
        {
            int end = start + 1;
            while (end < n && copy[order[end]] == copy[order[start]]) end++;
            double average = (start + 1 + end) / 2.0; // ranks start + 1 … end
            for (int k = start; k < end; k++) ranks[order[k]] = average;
            start = end;
        }

        return ranks;
    }
}
