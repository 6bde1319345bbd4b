using System;
using System.Numerics;

namespace Dsl.Kernels;

/// <summary>Shared pieces of the softmax-family losses: argument checks and accurate scalar helpers.</summary>
internal static class LossMath
{
    /// <summary>eˣ − 1 without cancellation near 0: 2t/(1 − t) with t = tanh(x/2).</summary>
    public static double ExpM1(double x)
    {
        if (x > 1 || x < -1)
        {
            return Math.Exp(x) - 1;
        }

        double t = Math.Tanh(x / 2);
        return 2 * t / (1 - t);
    }

    /// <summary>Max-shifted log-sum-exp of one row of logits plus an optional per-class offset (double accumulation).</summary>
    public static double LogSumExp<T>(ReadOnlySpan<T> z, ReadOnlySpan<T> offset) where T : unmanaged, IFloatingPointIeee754<T>
    {
        bool shifted = !offset.IsEmpty;
        double max = double.NegativeInfinity;
        for (int j = 0; j < z.Length; j++)
        {
            max = Math.Max(max, double.CreateTruncating(z[j]) + (shifted ? double.CreateTruncating(offset[j]) : 0));
        }

        double sum = 0;
        for (int j = 0; j < z.Length; j++)
        {
            sum += Math.Exp(double.CreateTruncating(z[j]) + (shifted ? double.CreateTruncating(offset[j]) : 0) - max);
        }

        return max + Math.Log(sum);
    }

    /// <summary>Checks the common arguments of a labelled softmax loss, labels included, before anything is written.</summary>
    public static void ValidateRows(int logitsLength, ReadOnlySpan<int> labels, int rows, int classes, int gradientLength, bool writeGradient)
    {
        if (rows < 0)
        {
            KernelThrowHelper.ThrowNegative(nameof(rows), rows);
        }

        if (classes <= 0)
        {
            KernelThrowHelper.ThrowNotPositive(nameof(classes), classes);
        }

        long needed = (long)rows * classes;
        if (needed > logitsLength)
        {
            KernelThrowHelper.ThrowDestinationTooShort("logits", logitsLength, (int)Math.Min(needed, int.MaxValue));
        }

        if (writeGradient && needed > gradientLength)
        {
            KernelThrowHelper.ThrowDestinationTooShort("dLogits", gradientLength, (int)Math.Min(needed, int.MaxValue));
        }

        if (labels.Length < rows)
        {
            KernelThrowHelper.ThrowDestinationTooShort(nameof(labels), labels.Length, rows);
        }

        for (int r = 0; r < rows; r++)
        {
            if ((uint)labels[r] >= (uint)classes)
            {
                KernelThrowHelper.ThrowLabelOutOfRange(r, labels[r], classes);
            }
        }
    }

    /// <summary>Throws when <paramref name="value"/> is not in [<paramref name="low"/>, <paramref name="high"/>] (NaN included), naming it.</summary>
    public static void RequireRange(string name, double value, double low, double high)
    {
        if (!(value >= low && value <= high))
        {
            throw new ArgumentOutOfRangeException(name, value, FormattableString.Invariant($"{name} is {value}; it must lie in [{low}, {high}]"));
        }
    }
}
