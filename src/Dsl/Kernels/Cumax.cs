using System;
using System.Numerics;

namespace Dsl.Kernels;

/// <summary>
/// cumax (ON-LSTM's master gates, Shen et al., ICLR 2019): per row, the prefix sum of the softmax over the features,
/// y_j = Σ_{k≤j} p_k with p = softmax(x); y rises monotonically from p_0 to 1. The backward transposes the prefix sum
/// into a suffix sum, s_k = Σ_{j≥k} ∂y_j, then takes the softmax backward: ∂x_k = p_k (s_k − Σ_j p_j s_j).
/// </summary>
/// <remarks>
/// Shapes: x, y, dy, dx [rows, width]. The backward recomputes p from x (one max, one sum of exponentials), which is
/// exact where differences of the saved y would cancel near 1. The row is a scan, so the loops are scalar: ON-LSTM
/// gates have tens of levels, and each pass reads the row once.
/// </remarks>
public static class Cumax
{
    /// <summary>y[r, j] = Σ_{k≤j} softmax(x[r, :])_k.</summary>
    /// <exception cref="ArgumentOutOfRangeException">rows is negative or width is not positive.</exception>
    /// <exception cref="ArgumentException">A span is shorter than rows·width.</exception>
    public static void Forward<T>(ReadOnlySpan<T> x, Span<T> y, int rows, int width)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Check(rows, width, x.Length, nameof(x), y.Length, nameof(y));
        for (int r = 0; r < rows; r++)
        {
            var xr = x.Slice(r * width, width);
            var yr = y.Slice(r * width, width);
            T max = Max(xr);
            T sum = T.Zero;
            for (int j = 0; j < width; j++) sum += T.Exp(xr[j] - max);
            T inverse = T.One / sum, running = T.Zero;
            for (int j = 0; j < width; j++)
            {
                running += T.Exp(xr[j] - max) * inverse;
                yr[j] = running;
            }
        }
    }

    /// <summary>
    /// ∂x[r, k] = p_k (s_k − Σ_j p_j s_j) with p = softmax(x[r, :]) and s_k = Σ_{j≥k} ∂y[r, j] (written, or added when
    /// <paramref name="accumulate"/>). dx may not overlap dy.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">rows is negative or width is not positive.</exception>
    /// <exception cref="ArgumentException">A span is shorter than rows·width.</exception>
    public static void Backward<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> dy, Span<T> dx, int rows, int width, bool accumulate)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Check(rows, width, x.Length, nameof(x), dy.Length, nameof(dy));
        Check(rows, width, dx.Length, nameof(dx), dx.Length, nameof(dx));
        for (int r = 0; r < rows; r++)
        {
            var xr = x.Slice(r * width, width);
            var dyr = dy.Slice(r * width, width);
            var dxr = dx.Slice(r * width, width);
            T max = Max(xr);
            T sum = T.Zero;
            for (int j = 0; j < width; j++) sum += T.Exp(xr[j] - max);
            T inverse = T.One / sum;

            // Σ_k p_k s_k, with the suffix sums built right to left.
            T suffix = T.Zero, dot = T.Zero;
            for (int k = width - 1; k >= 0; k--)
            {
                suffix += dyr[k];
                dot += T.Exp(xr[k] - max) * inverse * suffix;
            }

            suffix = T.Zero;
            for (int k = width - 1; k >= 0; k--)
            {
                suffix += dyr[k];
                T g = T.Exp(xr[k] - max) * inverse * (suffix - dot);
                dxr[k] = accumulate ? dxr[k] + g : g;
            }
        }
    }

    private static T Max<T>(ReadOnlySpan<T> row) where T : unmanaged, IFloatingPointIeee754<T>
    {
        T max = T.NegativeInfinity;
        foreach (T v in row) max = T.Max(max, v);
        return max;
    }

    private static void Check(int rows, int width, int firstLength, string first, int secondLength, string second)
    {
        if (rows < 0) KernelThrowHelper.ThrowNegative(nameof(rows), rows);
        if (width <= 0) KernelThrowHelper.ThrowNotPositive(nameof(width), width);
        int size = rows * width;
        if (firstLength < size) KernelThrowHelper.ThrowDestinationTooShort(first, firstLength, size);
        if (secondLength < size) KernelThrowHelper.ThrowDestinationTooShort(second, secondLength, size);
    }
}
