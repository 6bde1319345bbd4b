using System;
using System.Globalization;

namespace Dsl.Runtime;

public static partial class Eager
{
    /// <summary>The generated body of a [MeanPool] member. Binding: <see cref="Contracts.MeanPoolSlots"/>.</summary>
    public static Tensor MeanPool<T>(Tensor x, Tensor ids, T[] arena, LayerBinding binding) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        _ = arena;
        var (pad, sequence) = Contracts.MeanPoolSlots.Read(binding.Ints);
        return MeanPool(x, ids, pad, sequence);
    }

    /// <summary>y[b] = mean of x[b·T + t] over the positions t whose id is not <paramref name="pad"/>
    /// (0 for an example of pads only): [batch·T, D] → [batch, D].</summary>
    public static Tensor MeanPool(Tensor x, Tensor ids, int pad, int sequence)
    {
        if (ids.Rows != x.Rows || ids.Columns != 1)
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"MeanPool: {ids.Rows}×{ids.Columns} ids for {x.Rows} rows (expected one id per row)"), nameof(ids));
        RequireSequence("MeanPool", x, sequence);
        int batch = x.Rows / sequence;
        var y = new Tensor(batch, x.Columns);
        for (int b = 0; b < batch; b++)
        {
            int count = 0;
            for (int t = 0; t < sequence; t++)
            {
                if (ids[b * sequence + t, 0] == pad) continue;
                count++;
                for (int c = 0; c < x.Columns; c++) y[b, c] += x[b * sequence + t, c];
            }

            for (int c = 0; c < x.Columns && count > 0; c++) y[b, c] /= count;
        }

        return y;
    }
}
