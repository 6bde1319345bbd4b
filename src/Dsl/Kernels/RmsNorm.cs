using System;
using System.Numerics;
using System.Runtime.InteropServices;

namespace Dsl.Kernels;

/// <summary>
/// RMS normalisation over the last axis: y = x·rstd ⊙ g with rstd = 1/√(mean(x²) + ε) per row.
/// The gain g is optional: an empty span means none, RoFormerV2's gain-free form
/// y = x/√(mean(x²) + ε). No mean is subtracted and there is no bias. The forward saves rstd per
/// row for the backward.
/// </summary>
/// <remarks>Shapes: x, y, dx, dy [rows, width]; g, dg [width] or empty; rstd [rows].</remarks>
public static class RmsNorm
{
    /// <summary>
    /// y[r, :] = x[r, :]·rstd_r ⊙ g with rstd_r = 1/√(mean(x[r, :]²) + ε); writes
    /// <paramref name="rstd"/>[r] = rstd_r. x and y must not overlap.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">rows is negative, width is not positive, or
    /// epsilon is negative or not finite.</exception>
    /// <exception cref="ArgumentException">A span is too short, or gain is neither empty nor of length width.</exception>
    public static void Forward<T>(ReadOnlySpan<T> x, int rows, int width, ReadOnlySpan<T> gain, T epsilon, Span<T> y, Span<T> rstd)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        NormChecks.Shape(rows, width, epsilon);
        int size = rows * width;
        NormChecks.AtLeast(nameof(x), x.Length, size);
        NormChecks.Optional(nameof(gain), gain.Length, width);
        NormChecks.AtLeast(nameof(y), y.Length, size);
        NormChecks.AtLeast(nameof(rstd), rstd.Length, rows);

        T inverseWidth = T.One / T.CreateTruncating(width);
        for (int r = 0; r < rows; r++)
        {
            ref T xr = ref MemoryMarshal.GetReference(x.Slice(r * width, width));
            T s = NormRow.Rstd(ref xr, (nuint)width, T.Zero, inverseWidth, epsilon);
            rstd[r] = s;
            NormRow.Normalize(ref xr, (nuint)width, T.Zero, s, gain, default, ref MemoryMarshal.GetReference(y.Slice(r * width, width)));
        }
    }

    /// <summary>
    /// Backward of y = x̂ ⊙ g with x̂ = x·rstd: with ĝ = dy ⊙ g,
    /// dx = rstd·(ĝ − x̂·mean(ĝ ⊙ x̂)) (written, or added when <paramref name="accumulateDx"/>);
    /// dg = Σ_rows dy ⊙ x̂ (written, or added when <paramref name="accumulateParams"/>; skipped when empty).
    /// Without a gain this is RoFormerV2's ∂L/∂x = (dy − y·mean(dy ⊙ y))/r with r = 1/rstd.
    /// </summary>
    /// <remarks>
    /// dx may be the same memory as dy (each row is read in full before that row of dx is written).
    /// With ε = 0 and no gain the result is orthogonal to y in every row: Σ_i y_i dx_i = 0.
    /// </remarks>
    /// <exception cref="ArgumentOutOfRangeException">rows is negative or width is not positive.</exception>
    /// <exception cref="ArgumentException">A span is too short, or gain or dGain is neither empty nor of length width.</exception>
    public static void Backward<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> dy, int rows, int width, ReadOnlySpan<T> gain, ReadOnlySpan<T> rstd, Span<T> dx, bool accumulateDx, Span<T> dGain, bool accumulateParams)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        NormChecks.Shape(rows, width, T.Zero);
        int size = rows * width;
        NormChecks.AtLeast(nameof(x), x.Length, size);
        NormChecks.AtLeast(nameof(dy), dy.Length, size);
        NormChecks.Optional(nameof(gain), gain.Length, width);
        NormChecks.AtLeast(nameof(rstd), rstd.Length, rows);
        NormChecks.AtLeast(nameof(dx), dx.Length, size);
        NormChecks.Optional(nameof(dGain), dGain.Length, width);

        if (!accumulateParams)
        {
            dGain.Clear();
        }

        T inverseWidth = T.One / T.CreateTruncating(width);
        for (int r = 0; r < rows; r++)
        {
            ref T xr = ref MemoryMarshal.GetReference(x.Slice(r * width, width));
            ref T dyr = ref MemoryMarshal.GetReference(dy.Slice(r * width, width));
            (_, T sumGx) = NormRow.BackwardSums(ref xr, ref dyr, (nuint)width, T.Zero, rstd[r], gain, dGain, default);
            NormRow.BackwardWrite(
                ref xr, ref dyr, (nuint)width, T.Zero, rstd[r], gain, T.Zero, sumGx * inverseWidth,
                ref MemoryMarshal.GetReference(dx.Slice(r * width, width)), accumulateDx);
        }
    }
}
