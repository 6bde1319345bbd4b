using System;
using System.Numerics;
using System.Runtime.Intrinsics;

namespace Dsl.Kernels;

/// <summary>
/// Rotary position embedding (RoPE), half-split layout: within each head, the pair
/// (x_j, x_{j+R/2}) for j &lt; R/2 is rotated by the angle m·θ_j, θ_j = base^(−2j/R), where
/// R is the rotary dimension (even, ≤ head size) and m = row % T the position. Components ≥ R
/// are left untouched.
/// </summary>
/// <remarks>
/// <para>
/// Forward: y_j = x_j cos mθ_j − x_{j+R/2} sin mθ_j, y_{j+R/2} = x_j sin mθ_j + x_{j+R/2} cos mθ_j.
/// The rotation R_m is orthogonal, so the backward is R_mᵀ = R_{−m}: rotation by −mθ. Scores of
/// rotated queries and keys depend only on the offset: (R_m q)·(R_n k) = q·(R_{n−m} k).
/// </para>
/// <para>
/// Interleaved-pair RoPE (RoFormer's (x_{2j}, x_{2j+1})) differs from this layout by a fixed
/// permutation of the projection weights: equivalent when training from scratch, not for loading
/// another layout's checkpoint.
/// </para>
/// <para>
/// The table holds, for each position m, R/2 cosines then R/2 sines: table[m·R + j] = cos mθ_j and
/// table[m·R + R/2 + j] = sin mθ_j, computed in double from the exact angle and rounded once.
/// </para>
/// </remarks>
public static class Rope
{
    /// <summary>Number of elements of the cos/sin table: <paramref name="sequence"/> · <paramref name="rotaryDim"/>.</summary>
    /// <exception cref="ArgumentException">sequence is negative, or rotaryDim is negative or odd.</exception>
    public static int TableLength(int sequence, int rotaryDim)
    {
        if (sequence < 0)
        {
            KernelThrowHelper.ThrowNegative(nameof(sequence), sequence);
        }

        if (rotaryDim < 0 || (rotaryDim & 1) != 0)
        {
            AttentionChecks.Throw(nameof(rotaryDim), $"rotaryDim {rotaryDim} must be even and non-negative.");
        }

        long length = (long)sequence * rotaryDim;
        if (length > int.MaxValue)
        {
            AttentionChecks.Throw(nameof(sequence), $"A table for sequence {sequence} and rotaryDim {rotaryDim} would hold {length} elements, more than an array can.");
        }

        return (int)length;
    }

    /// <summary>Fills the cos/sin table for positions 0 ≤ m &lt; <paramref name="sequence"/> (done once, at engine construction).</summary>
    /// <param name="table">Destination, at least <see cref="TableLength"/> long.</param>
    /// <param name="sequence">Number of positions T.</param>
    /// <param name="rotaryDim">Rotary dimension R (even).</param>
    /// <param name="theta">The base of θ_j = base^(−2j/R); positive and finite (10000 in RoFormer).</param>
    /// <exception cref="ArgumentException">A size is invalid, theta is not positive and finite, or the table is too short.</exception>
    public static void BuildTable<T>(Span<T> table, int sequence, int rotaryDim, double theta = 10000)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int length = TableLength(sequence, rotaryDim);
        if (!(theta > 0) || !double.IsFinite(theta))
        {
            AttentionChecks.Throw(nameof(theta), $"theta must be positive and finite, was {theta:R}.");
        }

        AttentionChecks.Length(nameof(table), table.Length, length, "sequence · rotaryDim");
        int half = rotaryDim / 2;
        for (int j = 0; j < half; j++)
        {
            double frequency = Math.Pow(theta, -2.0 * j / rotaryDim);
            for (int m = 0; m < sequence; m++)
            {
                (double sin, double cos) = Math.SinCos(m * frequency);
                table[(m * rotaryDim) + j] = T.CreateTruncating(cos);
                table[(m * rotaryDim) + half + j] = T.CreateTruncating(sin);
            }
        }
    }

    /// <summary>Rotates, in place, every head of every row by its position's angles (see <see cref="Rope"/>).</summary>
    /// <param name="x">Rows of <paramref name="heads"/> heads: component c of head h of row r at x[r·stride + h·headSize + c].</param>
    /// <param name="rows">Number of rows (batch · sequence).</param>
    /// <param name="stride">Distance between rows, at least heads · headSize.</param>
    /// <param name="heads">Number of heads.</param>
    /// <param name="headSize">Width of one head.</param>
    /// <param name="rotaryDim">Rotary dimension R, even and at most headSize.</param>
    /// <param name="sequence">Sequence length T: row r is position r % T.</param>
    /// <param name="table">The table from <see cref="BuildTable"/> for this sequence and rotaryDim.</param>
    /// <exception cref="ArgumentException">A size is invalid or a span is too short.</exception>
    public static void Forward<T>(Span<T> x, int rows, int stride, int heads, int headSize, int rotaryDim, int sequence, ReadOnlySpan<T> table)
        where T : unmanaged, IFloatingPointIeee754<T>
        => Rotate(x, rows, stride, heads, headSize, rotaryDim, sequence, table, inverse: false);

    /// <summary>
    /// Backward of <see cref="Forward"/>, in place: dx = R_mᵀ dy, the rotation by −mθ
    /// (dx_j = dy_j cos + dy_{j+R/2} sin, dx_{j+R/2} = −dy_j sin + dy_{j+R/2} cos).
    /// </summary>
    /// <param name="dx">On entry dL/dy, on return dL/dx; same layout as in <see cref="Forward"/>.</param>
    /// <param name="rows">Number of rows.</param>
    /// <param name="stride">Distance between rows.</param>
    /// <param name="heads">Number of heads.</param>
    /// <param name="headSize">Width of one head.</param>
    /// <param name="rotaryDim">Rotary dimension.</param>
    /// <param name="sequence">Sequence length.</param>
    /// <param name="table">The forward's table.</param>
    /// <exception cref="ArgumentException">A size is invalid or a span is too short.</exception>
    public static void Backward<T>(Span<T> dx, int rows, int stride, int heads, int headSize, int rotaryDim, int sequence, ReadOnlySpan<T> table)
        where T : unmanaged, IFloatingPointIeee754<T>
        => Rotate(dx, rows, stride, heads, headSize, rotaryDim, sequence, table, inverse: true);

    private static unsafe void Rotate<T>(Span<T> x, int rows, int stride, int heads, int headSize, int rotaryDim, int sequence, ReadOnlySpan<T> table, bool inverse)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (rows < 0)
        {
            KernelThrowHelper.ThrowNegative(nameof(rows), rows);
        }

        if (heads <= 0)
        {
            KernelThrowHelper.ThrowNotPositive(nameof(heads), heads);
        }

        if (headSize <= 0)
        {
            KernelThrowHelper.ThrowNotPositive(nameof(headSize), headSize);
        }

        if (sequence <= 0)
        {
            KernelThrowHelper.ThrowNotPositive(nameof(sequence), sequence);
        }

        if (rotaryDim < 0 || (rotaryDim & 1) != 0 || rotaryDim > headSize)
        {
            AttentionChecks.Throw(nameof(rotaryDim), $"rotaryDim {rotaryDim} must be even and at most headSize {headSize}.");
        }

        AttentionChecks.Strided(nameof(x), x.Length, rows, stride, heads * headSize, nameof(stride));
        AttentionChecks.Length(nameof(table), table.Length, (long)sequence * rotaryDim, "sequence · rotaryDim");
        if (rotaryDim == 0 || rows == 0)
        {
            return;
        }

        int half = rotaryDim / 2;
        fixed (T* px = x, pt = table)
        {
            for (int r = 0; r < rows; r++)
            {
                T* cos = pt + ((r % sequence) * rotaryDim);
                T* sin = cos + half;
                T* row = px + ((nint)r * stride);
                for (int h = 0; h < heads; h++)
                {
                    T* a = row + (h * headSize);
                    if (inverse)
                    {
                        RotatePairs<T, Inverse>(a, a + half, cos, sin, half);
                    }
                    else
                    {
                        RotatePairs<T, Direct>(a, a + half, cos, sin, half);
                    }
                }
            }
        }
    }

    /// <summary>
    /// Forward RoPE on one row segment <paramref name="segment"/> = columns
    /// [<paramref name="col0"/>, col0 + length) of a row at position <paramref name="position"/>:
    /// every head of <paramref name="headSize"/> columns below <paramref name="rotatedColumns"/> is
    /// rotated. The segment must hold whole heads (it starts at a multiple of headSize, or at or after
    /// rotatedColumns, and its part below rotatedColumns is a whole number of heads).
    /// </summary>
    internal static unsafe void ForwardSegment<T>(Span<T> segment, int col0, int position, int headSize, int rotaryDim, int rotatedColumns, ReadOnlySpan<T> table)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int end = Math.Min(col0 + segment.Length, rotatedColumns);
        if (end <= col0 || rotaryDim == 0)
        {
            return;
        }

        if (col0 % headSize != 0 || (end - col0) % headSize != 0)
        {
            throw new InvalidOperationException($"RoPE epilogue segment [{col0}, {col0 + segment.Length}) cuts a head of {headSize} columns; call Gemm.Multiply with columnGroup = {headSize}.");
        }

        int half = rotaryDim / 2;
        ReadOnlySpan<T> angles = table.Slice(position * rotaryDim, rotaryDim);
        fixed (T* px = segment, pt = angles)
        {
            for (int h = 0; h < end - col0; h += headSize)
            {
                RotatePairs<T, Direct>(px + h, px + h + half, pt, pt + half, half);
            }
        }
    }

    /// <summary>(a, b) ← (a cos − b sin, a sin + b cos), or by −angle when <typeparamref name="TDirection"/> is <see cref="Inverse"/>.</summary>
    private static unsafe void RotatePairs<T, TDirection>(T* a, T* b, T* cos, T* sin, int n)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TDirection : struct
    {
        bool inverse = typeof(TDirection) == typeof(Inverse);
        int j = 0;
        if (Vector256.IsHardwareAccelerated && (typeof(T) == typeof(float) || typeof(T) == typeof(double)))
        {
            int w = Vector256<T>.Count;
            for (; j + w <= n; j += w)
            {
                Vector256<T> x1 = Vector256.Load(a + j);
                Vector256<T> x2 = Vector256.Load(b + j);
                Vector256<T> c = Vector256.Load(cos + j);
                Vector256<T> s = Vector256.Load(sin + j);
                if (inverse)
                {
                    ((x1 * c) + (x2 * s)).Store(a + j);
                    ((x2 * c) - (x1 * s)).Store(b + j);
                }
                else
                {
                    ((x1 * c) - (x2 * s)).Store(a + j);
                    ((x1 * s) + (x2 * c)).Store(b + j);
                }
            }
        }

        for (; j < n; j++)
        {
            T x1 = a[j], x2 = b[j], c = cos[j], s = sin[j];
            if (inverse)
            {
                a[j] = (x1 * c) + (x2 * s);
                b[j] = (x2 * c) - (x1 * s);
            }
            else
            {
                a[j] = (x1 * c) - (x2 * s);
                b[j] = (x1 * s) + (x2 * c);
            }
        }
    }

    private struct Direct;

    private struct Inverse;
}

/// <summary>
/// The epilogue of a q|k|v projection with RoPE: adds the bias (when <paramref name="biasOffset"/> ≥ 0),
/// then rotates the q and k heads, columns below <paramref name="rotatedColumns"/> (2 · heads · key size),
/// of row r by position r % <paramref name="sequence"/>, as <see cref="Rope.Forward"/> does, while the
/// row is still in cache. Pass <c>columnGroup</c> = <paramref name="headSize"/> to
/// <see cref="Gemm.Multiply"/> so that every segment holds whole heads.
/// </summary>
/// <param name="arena">Holds the bias and the table from <see cref="Rope.BuildTable"/>.</param>
/// <param name="biasOffset">Offset of the bias, or −1 for none.</param>
/// <param name="tableOffset">Offset of the cos/sin table (sequence · rotaryDim values).</param>
/// <param name="sequence">Positions per example.</param>
/// <param name="headSize">Width of one q or k head.</param>
/// <param name="rotaryDim">Rotary dimension, even and at most headSize.</param>
/// <param name="rotatedColumns">Columns holding q and k heads; the rest (v) is left alone.</param>
public readonly struct RopeEpilogue<T>(T[] arena, int biasOffset, int tableOffset, int sequence, int headSize, int rotaryDim, int rotatedColumns) : IGemmEpilogue<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>c[offset + j] += bias[col0 + j]; then RoPE on the whole q and k heads of the segment.</summary>
    public void Apply(T[] c, int offset, int row, int col0, int length)
    {
        Span<T> segment = c.AsSpan(offset, length);
        if (biasOffset >= 0)
        {
            Elementwise.AddInPlace<T>(segment, arena.AsSpan(biasOffset + col0, length));
        }

        Rope.ForwardSegment<T>(segment, col0, row % sequence, headSize, rotaryDim, rotatedColumns, arena.AsSpan(tableOffset, sequence * rotaryDim));
    }
}
