using System;
using System.Numerics;

namespace Dsl.Kernels;

/// <summary>Vectorised elementwise helpers used by generated code.</summary>
public static class Elementwise
{
    /// <summary>y = a + b (y may alias a or b).</summary>
    public static void Add<T>(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T> => throw new NotImplementedException();
    /// <summary>y += x.</summary>
    public static void AddInPlace<T>(Span<T> y, ReadOnlySpan<T> x) where T : unmanaged, IFloatingPointIeee754<T> => throw new NotImplementedException();
    /// <summary>y = s · x (y may alias x).</summary>
    public static void Scale<T>(ReadOnlySpan<T> x, T s, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T> => throw new NotImplementedException();
    /// <summary>y += s · x.</summary>
    public static void ScaleAdd<T>(ReadOnlySpan<T> x, T s, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T> => throw new NotImplementedException();
    /// <summary>sums[j] (+)= Σ_i m[i*cols + j] for an m of <paramref name="rows"/> × <paramref name="cols"/> (bias gradients).</summary>
    public static void ColumnSums<T>(ReadOnlySpan<T> m, int rows, int cols, Span<T> sums, bool accumulate) where T : unmanaged, IFloatingPointIeee754<T> => throw new NotImplementedException();
}
