using System;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Dsl.Kernels;

/// <summary>Vectorised elementwise helpers used by generated code.</summary>
public static class Elementwise
{
    /// <summary>y = a + b (y may alias a or b).</summary>
    /// <exception cref="ArgumentException">a and b differ in length, or y is shorter.</exception>
    public static void Add<T>(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (a.Length != b.Length)
        {
            KernelThrowHelper.ThrowLengthMismatch(nameof(a), a.Length, nameof(b), b.Length);
        }

        if (y.Length < a.Length)
        {
            KernelThrowHelper.ThrowDestinationTooShort(nameof(y), y.Length, a.Length);
        }

        ref T ar = ref MemoryMarshal.GetReference(a);
        ref T br = ref MemoryMarshal.GetReference(b);
        ref T yr = ref MemoryMarshal.GetReference(y);
        nuint n = (nuint)a.Length;
        nuint i = 0;
        if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported)
        {
            nuint width = (nuint)Vector256<T>.Count;
            for (; i + width <= n; i += width)
            {
                (Vector256.LoadUnsafe(ref ar, i) + Vector256.LoadUnsafe(ref br, i)).StoreUnsafe(ref yr, i);
            }
        }

        for (; i < n; i++)
        {
            Unsafe.Add(ref yr, i) = Unsafe.Add(ref ar, i) + Unsafe.Add(ref br, i);
        }
    }

    /// <summary>y += x.</summary>
    /// <exception cref="ArgumentException">x and y differ in length.</exception>
    public static void AddInPlace<T>(Span<T> y, ReadOnlySpan<T> x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (x.Length != y.Length)
        {
            KernelThrowHelper.ThrowLengthMismatch(nameof(x), x.Length, nameof(y), y.Length);
        }

        Add<T>(y, x, y);
    }

    /// <summary>y = s · x (y may alias x).</summary>
    /// <exception cref="ArgumentException">y is shorter than x.</exception>
    public static void Scale<T>(ReadOnlySpan<T> x, T s, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (y.Length < x.Length)
        {
            KernelThrowHelper.ThrowDestinationTooShort(nameof(y), y.Length, x.Length);
        }

        ref T xr = ref MemoryMarshal.GetReference(x);
        ref T yr = ref MemoryMarshal.GetReference(y);
        nuint n = (nuint)x.Length;
        nuint i = 0;
        if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported)
        {
            nuint width = (nuint)Vector256<T>.Count;
            Vector256<T> sv = Vector256.Create(s);
            for (; i + width <= n; i += width)
            {
                (Vector256.LoadUnsafe(ref xr, i) * sv).StoreUnsafe(ref yr, i);
            }
        }

        for (; i < n; i++)
        {
            Unsafe.Add(ref yr, i) = Unsafe.Add(ref xr, i) * s;
        }
    }

    /// <summary>y += s · x.</summary>
    /// <exception cref="ArgumentException">x and y differ in length.</exception>
    public static void ScaleAdd<T>(ReadOnlySpan<T> x, T s, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (x.Length != y.Length)
        {
            KernelThrowHelper.ThrowLengthMismatch(nameof(x), x.Length, nameof(y), y.Length);
        }

        ref T xr = ref MemoryMarshal.GetReference(x);
        ref T yr = ref MemoryMarshal.GetReference(y);
        nuint n = (nuint)x.Length;
        nuint i = 0;
        if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported)
        {
            nuint width = (nuint)Vector256<T>.Count;
            Vector256<T> sv = Vector256.Create(s);
            for (; i + width <= n; i += width)
            {
                SimdMath.Fma(Vector256.LoadUnsafe(ref xr, i), sv, Vector256.LoadUnsafe(ref yr, i)).StoreUnsafe(ref yr, i);
            }
        }

        // The tail fuses too, so an element's result does not depend on where the vector loop ended.
        for (; i < n; i++)
        {
            Unsafe.Add(ref yr, i) = T.FusedMultiplyAdd(Unsafe.Add(ref xr, i), s, Unsafe.Add(ref yr, i));
        }
    }

    /// <summary>sums[j] (+)= Σ_i m[i*cols + j] for an m of <paramref name="rows"/> × <paramref name="cols"/> (bias gradients).</summary>
    /// <exception cref="ArgumentOutOfRangeException">rows or cols is negative.</exception>
    /// <exception cref="ArgumentException">m is shorter than rows·cols, or sums shorter than cols.</exception>
    public static void ColumnSums<T>(ReadOnlySpan<T> m, int rows, int cols, Span<T> sums, bool accumulate) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (rows < 0)
        {
            KernelThrowHelper.ThrowNegative(nameof(rows), rows);
        }

        if (cols < 0)
        {
            KernelThrowHelper.ThrowNegative(nameof(cols), cols);
        }

        long size = (long)rows * cols;
        if (m.Length < size)
        {
            KernelThrowHelper.ThrowDestinationTooShort(nameof(m), m.Length, (int)Math.Min(size, int.MaxValue));
        }

        if (sums.Length < cols)
        {
            KernelThrowHelper.ThrowDestinationTooShort(nameof(sums), sums.Length, cols);
        }

        ref T mr = ref MemoryMarshal.GetReference(m);
        ref T sr = ref MemoryMarshal.GetReference(sums);
        nuint stride = (nuint)cols;
        nuint nRows = (nuint)rows;
        nuint j = 0;
        if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported)
        {
            nuint width = (nuint)Vector256<T>.Count;

            // A strip of four vectors of columns is summed down all rows in registers, then stored
            // once: one load per element of m, and sums is touched once per strip rather than per row.
            for (; j + (4 * width) <= stride; j += 4 * width)
            {
                Vector256<T> s0 = accumulate ? Vector256.LoadUnsafe(ref sr, j) : Vector256<T>.Zero;
                Vector256<T> s1 = accumulate ? Vector256.LoadUnsafe(ref sr, j + width) : Vector256<T>.Zero;
                Vector256<T> s2 = accumulate ? Vector256.LoadUnsafe(ref sr, j + (2 * width)) : Vector256<T>.Zero;
                Vector256<T> s3 = accumulate ? Vector256.LoadUnsafe(ref sr, j + (3 * width)) : Vector256<T>.Zero;
                ref T column = ref Unsafe.Add(ref mr, j);
                for (nuint r = 0; r < nRows; r++)
                {
                    ref T rowStart = ref Unsafe.Add(ref column, r * stride);
                    s0 += Vector256.LoadUnsafe(ref rowStart);
                    s1 += Vector256.LoadUnsafe(ref rowStart, width);
                    s2 += Vector256.LoadUnsafe(ref rowStart, 2 * width);
                    s3 += Vector256.LoadUnsafe(ref rowStart, 3 * width);
                }

                s0.StoreUnsafe(ref sr, j);
                s1.StoreUnsafe(ref sr, j + width);
                s2.StoreUnsafe(ref sr, j + (2 * width));
                s3.StoreUnsafe(ref sr, j + (3 * width));
            }

            for (; j + width <= stride; j += width)
            {
                Vector256<T> s0 = accumulate ? Vector256.LoadUnsafe(ref sr, j) : Vector256<T>.Zero;
                ref T column = ref Unsafe.Add(ref mr, j);
                for (nuint r = 0; r < nRows; r++)
                {
                    s0 += Vector256.LoadUnsafe(ref Unsafe.Add(ref column, r * stride));
                }

                s0.StoreUnsafe(ref sr, j);
            }
        }

        for (; j < stride; j++)
        {
            T s = accumulate ? Unsafe.Add(ref sr, j) : T.Zero;
            for (nuint r = 0; r < nRows; r++)
            {
                s += Unsafe.Add(ref mr, (r * stride) + j);
            }

            Unsafe.Add(ref sr, j) = s;
        }
    }
}
