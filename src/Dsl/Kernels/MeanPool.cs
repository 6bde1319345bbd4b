using System;
using System.Numerics;

namespace Dsl.Kernels;

/// <summary>
/// Mean pooling over the non-pad positions of each example, fused forward and backward side by side.
/// x is [batch·T, D] (T positions per example), ids the [batch·T] token ids, n_b = #{t : ids[b,t] ≠ pad}.
/// Forward:  y[b] = (1/n_b) Σ_{t: ids[b,t] ≠ pad} x[b,t]   ([batch, D]; a row of pads only gives y[b] = 0).
/// Backward: ∂x[b,t] = [ids[b,t] ≠ pad] · ∂y[b] / n_b.
/// </summary>
public static class MeanPool
{
    /// <summary>y[b] = mean of x[b, t] over the positions whose id is not <paramref name="pad"/>.</summary>
    public static void Forward<T>(ReadOnlySpan<T> x, ReadOnlySpan<int> ids, int batch, int sequence, int dim, int pad, Span<T> y)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Validate(x.Length, ids.Length, batch, sequence, dim, y.Length);
        for (int b = 0; b < batch; b++)
        {
            Span<T> row = y.Slice(b * dim, dim);
            row.Clear();
            int count = Count(ids, b, sequence, pad);
            if (count == 0)
            {
                continue;
            }

            for (int t = 0; t < sequence; t++)
            {
                if (ids[(b * sequence) + t] != pad)
                {
                    Elementwise.Add<T>(row, x.Slice(((b * sequence) + t) * dim, dim), row);
                }
            }

            Elementwise.Scale<T>(row, T.One / T.CreateTruncating(count), row);
        }
    }

    /// <summary>dx[b, t] (+)= mask · dy[b] / n_b; pad positions get 0 (or are left unchanged when accumulating).</summary>
    public static void Backward<T>(ReadOnlySpan<T> dy, ReadOnlySpan<int> ids, int batch, int sequence, int dim, int pad, Span<T> dx, bool accumulate)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Validate(dx.Length, ids.Length, batch, sequence, dim, dy.Length);
        for (int b = 0; b < batch; b++)
        {
            int count = Count(ids, b, sequence, pad);
            T scale = count == 0 ? T.Zero : T.One / T.CreateTruncating(count);
            ReadOnlySpan<T> g = dy.Slice(b * dim, dim);
            for (int t = 0; t < sequence; t++)
            {
                Span<T> d = dx.Slice(((b * sequence) + t) * dim, dim);
                bool keep = ids[(b * sequence) + t] != pad;
                if (accumulate)
                {
                    if (keep)
                    {
                        Elementwise.ScaleAdd<T>(g, scale, d);
                    }
                }
                else if (keep)
                {
                    Elementwise.Scale<T>(g, scale, d);
                }
                else
                {
                    d.Clear();
                }
            }
        }
    }

    private static int Count(ReadOnlySpan<int> ids, int b, int sequence, int pad)
    {
        int count = 0;
        for (int t = 0; t < sequence; t++)
        {
            count += ids[(b * sequence) + t] != pad ? 1 : 0;
        }

        return count;
    }

    private static void Validate(int xLength, int idsLength, int batch, int sequence, int dim, int yLength)
    {
        if (batch < 0)
        {
            KernelThrowHelper.ThrowNegative(nameof(batch), batch);
        }

        if (sequence <= 0)
        {
            KernelThrowHelper.ThrowNotPositive(nameof(sequence), sequence);
        }

        if (dim <= 0)
        {
            KernelThrowHelper.ThrowNotPositive(nameof(dim), dim);
        }

        long rows = (long)batch * sequence;
        if (rows * dim > xLength)
        {
            KernelThrowHelper.ThrowDestinationTooShort("x", xLength, (int)Math.Min(rows * dim, int.MaxValue));
        }

        if (rows > idsLength)
        {
            KernelThrowHelper.ThrowDestinationTooShort("ids", idsLength, (int)rows);
        }

        if ((long)batch * dim > yLength)
        {
            KernelThrowHelper.ThrowDestinationTooShort("y", yLength, batch * dim);
        }
    }
}
