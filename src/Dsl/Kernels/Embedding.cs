using System;
using System.Diagnostics.CodeAnalysis;
using System.Numerics;

namespace Dsl.Kernels;

/// <summary>
/// Token embedding lookup: y[r, :] = table[ids[r], :] for a table of <c>vocabulary</c> rows of
/// <c>width</c> values. The backward scatters rows of dy back into the table gradient.
/// </summary>
/// <remarks>Shapes: ids [rows]; table, dTable [vocabulary, width]; y, dy [rows, width], rows = ids.Length.
/// Ids are all checked before anything is written.</remarks>
public static class Embedding
{
    /// <summary>y[r, :] = table[ids[r], :] for r in [0, ids.Length).</summary>
    /// <exception cref="ArgumentOutOfRangeException">vocabulary or width is not positive, or an id
    /// is outside [0, vocabulary) (the message names the row and the id).</exception>
    /// <exception cref="ArgumentException">table or y is too short.</exception>
    public static void Forward<T>(ReadOnlySpan<int> ids, ReadOnlySpan<T> table, int vocabulary, int width, Span<T> y)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int rows = ids.Length;
        Validate(ids, vocabulary, width);
        EmbeddingChecks.AtLeast(nameof(table), table.Length, (long)vocabulary * width);
        EmbeddingChecks.AtLeast(nameof(y), y.Length, (long)rows * width);

        for (int r = 0; r < rows; r++)
        {
            table.Slice(ids[r] * width, width).CopyTo(y.Slice(r * width, width));
        }
    }

    /// <summary>
    /// Backward of y[r, :] = table[ids[r], :]: dTable[ids[r], :] += dy[r, :] for every row (a
    /// repeated id sums its rows). Unless <paramref name="accumulate"/>, the whole
    /// [vocabulary, width] gradient is cleared first.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">vocabulary or width is not positive, or an id
    /// is outside [0, vocabulary) (the message names the row and the id).</exception>
    /// <exception cref="ArgumentException">dy or dTable is too short.</exception>
    public static void Backward<T>(ReadOnlySpan<int> ids, ReadOnlySpan<T> dy, int width, Span<T> dTable, int vocabulary, bool accumulate)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int rows = ids.Length;
        Validate(ids, vocabulary, width);
        EmbeddingChecks.AtLeast(nameof(dy), dy.Length, (long)rows * width);
        EmbeddingChecks.AtLeast(nameof(dTable), dTable.Length, (long)vocabulary * width);

        if (!accumulate)
        {
            dTable.Slice(0, vocabulary * width).Clear();
        }

        for (int r = 0; r < rows; r++)
        {
            Span<T> target = dTable.Slice(ids[r] * width, width);
            Elementwise.Add<T>(target, dy.Slice(r * width, width), target);
        }
    }

    private static void Validate(ReadOnlySpan<int> ids, int vocabulary, int width)
    {
        if (vocabulary <= 0)
        {
            KernelThrowHelper.ThrowNotPositive(nameof(vocabulary), vocabulary);
        }

        if (width <= 0)
        {
            KernelThrowHelper.ThrowNotPositive(nameof(width), width);
        }

        for (int r = 0; r < ids.Length; r++)
        {
            // One unsigned compare catches negative ids too.
            if ((uint)ids[r] >= (uint)vocabulary)
            {
                EmbeddingChecks.ThrowIdOutOfRange(r, ids[r], vocabulary);
            }
        }
    }
}

/// <summary>
/// Learned absolute positions added to a batch of sequences: rows = batch·sequence, and row r is
/// at position r mod sequence, so y[r, :] = x[r, :] + table[r mod sequence, :].
/// </summary>
/// <remarks>Shapes: x, y, dy [rows, width]; table, dTable [sequence, width]. rows need not be a
/// multiple of sequence (a shorter last sequence uses the first positions only).</remarks>
public static class PositionEmbedding
{
    /// <summary>y[r, :] = x[r, :] + table[r mod sequence, :]. y may be the same memory as x.</summary>
    /// <exception cref="ArgumentOutOfRangeException">rows is negative, or sequence or width is not positive.</exception>
    /// <exception cref="ArgumentException">x, table or y is too short.</exception>
    public static void Forward<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> table, int rows, int sequence, int width, Span<T> y)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Validate(rows, sequence, width);
        long size = (long)rows * width;
        EmbeddingChecks.AtLeast(nameof(x), x.Length, size);
        EmbeddingChecks.AtLeast(nameof(table), table.Length, (long)sequence * width);
        EmbeddingChecks.AtLeast(nameof(y), y.Length, size);

        // One sequence at a time: the table rows [0, length) line up with a contiguous block of x.
        for (int start = 0; start < rows; start += sequence)
        {
            int count = Math.Min(sequence, rows - start) * width;
            Elementwise.Add<T>(x.Slice(start * width, count), table.Slice(0, count), y.Slice(start * width, count));
        }
    }

    /// <summary>
    /// Backward of y[r, :] = x[r, :] + table[r mod sequence, :]: dTable[t, :] (+)= Σ_{r mod sequence = t} dy[r, :]
    /// (added when <paramref name="accumulate"/>, otherwise the whole [sequence, width] gradient is
    /// overwritten). The gradient with respect to x is dy itself, so nothing is written for it.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">rows is negative, or sequence or width is not positive.</exception>
    /// <exception cref="ArgumentException">dy or dTable is too short.</exception>
    public static void Backward<T>(ReadOnlySpan<T> dy, int rows, int sequence, int width, Span<T> dTable, bool accumulate)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Validate(rows, sequence, width);
        EmbeddingChecks.AtLeast(nameof(dy), dy.Length, (long)rows * width);
        EmbeddingChecks.AtLeast(nameof(dTable), dTable.Length, (long)sequence * width);

        Span<T> table = dTable.Slice(0, sequence * width);
        int start = 0;
        if (!accumulate)
        {
            // The first sequence is copied rather than added to a cleared table; only positions no
            // row reaches (rows < sequence) need clearing.
            int count = Math.Min(sequence, rows) * width;
            dy.Slice(0, count).CopyTo(table);
            table.Slice(count).Clear();
            start = sequence;
        }

        for (; start < rows; start += sequence)
        {
            int count = Math.Min(sequence, rows - start) * width;
            Span<T> target = table.Slice(0, count);
            Elementwise.Add<T>(target, dy.Slice(start * width, count), target);
        }
    }

    private static void Validate(int rows, int sequence, int width)
    {
        if (rows < 0)
        {
            KernelThrowHelper.ThrowNegative(nameof(rows), rows);
        }

        if (sequence <= 0)
        {
            KernelThrowHelper.ThrowNotPositive(nameof(sequence), sequence);
        }

        if (width <= 0)
        {
            KernelThrowHelper.ThrowNotPositive(nameof(width), width);
        }
    }
}

/// <summary>Checks and throw helpers shared by the embedding kernels.</summary>
internal static class EmbeddingChecks
{
    public static void AtLeast(string name, int length, long required)
    {
        if (length < required)
        {
            KernelThrowHelper.ThrowDestinationTooShort(name, length, (int)Math.Min(required, int.MaxValue));
        }
    }

    [DoesNotReturn]
    public static void ThrowIdOutOfRange(int row, int id, int vocabulary) =>
        throw new ArgumentOutOfRangeException("ids", id, $"ids[{row}] = {id} is outside [0, {vocabulary}) (row {row}, id {id}).");
}
