using System;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Dsl.Kernels;

/// <summary>
/// Layer normalisation over the last axis: for each of <c>rows</c> rows of <c>width</c> values,
/// y = (x − μ)/√(σ² + ε) ⊙ γ + β with μ the row mean and σ² the biased row variance (as
/// torch.nn.LayerNorm). γ and β are optional: an empty span means γ = 1 or β = 0 (GPT-2 style
/// "bias = False" models pass an empty β). The forward saves μ and rstd = 1/√(σ² + ε) per row
/// for the backward.
/// </summary>
/// <remarks>
/// Shapes: x, y, dx, dy [rows, width]; γ, β, dγ, dβ [width] or empty; mean, rstd [rows].
/// The mean is summed about the row's first element and the variance is computed in a second
/// pass (Σ(x − μ)² after μ), never as E[x²] − μ², which loses every digit when |μ| ≫ σ.
/// Vector256 loops (rows of a few hundred values are memory-bound; wider vectors do not pay).
/// </remarks>
public static class LayerNorm
{
    /// <summary>
    /// y[r, :] = (x[r, :] − μ_r)·rstd_r ⊙ γ + β, with μ_r = mean(x[r, :]),
    /// rstd_r = 1/√(mean((x[r, :] − μ_r)²) + ε); writes <paramref name="mean"/>[r] = μ_r and
    /// <paramref name="rstd"/>[r] = rstd_r. x and y must not overlap.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">rows is negative, width is not positive, or
    /// epsilon is negative or not finite.</exception>
    /// <exception cref="ArgumentException">A span is too short, or gamma or beta is neither empty nor of length width.</exception>
    public static void Forward<T>(ReadOnlySpan<T> x, int rows, int width, ReadOnlySpan<T> gamma, ReadOnlySpan<T> beta, T epsilon, Span<T> y, Span<T> mean, Span<T> rstd)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        NormChecks.Shape(rows, width, epsilon);
        int size = rows * width;
        NormChecks.AtLeast(nameof(x), x.Length, size);
        NormChecks.Optional(nameof(gamma), gamma.Length, width);
        NormChecks.Optional(nameof(beta), beta.Length, width);
        NormChecks.AtLeast(nameof(y), y.Length, size);
        NormChecks.AtLeast(nameof(mean), mean.Length, rows);
        NormChecks.AtLeast(nameof(rstd), rstd.Length, rows);

        T inverseWidth = T.One / T.CreateTruncating(width);
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<T> row = x.Slice(r * width, width);
            ref T xr = ref MemoryMarshal.GetReference(row);
            // μ = K + mean(x − K) with K = x[0]: the sum then holds only the spread, so a float
            // row whose mean dwarfs its spread keeps its digits (as the two-pass variance does).
            T shift = xr;
            T mu = NormRow.Mean(shift, NormRow.SumShifted(ref xr, (nuint)width, shift), inverseWidth);
            T s = NormRow.Rstd(ref xr, (nuint)width, mu, inverseWidth, epsilon);
            mean[r] = mu;
            rstd[r] = s;
            NormRow.Normalize(ref xr, (nuint)width, mu, s, gamma, beta, ref MemoryMarshal.GetReference(y.Slice(r * width, width)));
        }
    }

    /// <summary>
    /// The residual add fused with the norm that follows it: s = a + b is written (it is the
    /// residual stream the next block adds to), then y = LayerNorm(s) exactly as
    /// <see cref="Forward{T}"/> computes it, in one sweep over each row while it is in cache.
    /// s may alias a or b; y must overlap none of them. The backward is <see cref="Backward{T}"/>
    /// with x = s; the add's own backward is the identity (ds flows to both a and b).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">rows is negative, width is not positive, or
    /// epsilon is negative or not finite.</exception>
    /// <exception cref="ArgumentException">A span is too short, or gamma or beta is neither empty nor of length width.</exception>
    public static void AddForward<T>(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> s, int rows, int width, ReadOnlySpan<T> gamma, ReadOnlySpan<T> beta, T epsilon, Span<T> y, Span<T> mean, Span<T> rstd)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        NormChecks.Shape(rows, width, epsilon);
        int size = rows * width;
        NormChecks.AtLeast(nameof(a), a.Length, size);
        NormChecks.AtLeast(nameof(b), b.Length, size);
        NormChecks.AtLeast(nameof(s), s.Length, size);
        NormChecks.Optional(nameof(gamma), gamma.Length, width);
        NormChecks.Optional(nameof(beta), beta.Length, width);
        NormChecks.AtLeast(nameof(y), y.Length, size);
        NormChecks.AtLeast(nameof(mean), mean.Length, rows);
        NormChecks.AtLeast(nameof(rstd), rstd.Length, rows);

        T inverseWidth = T.One / T.CreateTruncating(width);
        for (int r = 0; r < rows; r++)
        {
            ref T sr = ref MemoryMarshal.GetReference(s.Slice(r * width, width));
            ref T ar = ref MemoryMarshal.GetReference(a.Slice(r * width, width));
            ref T br = ref MemoryMarshal.GetReference(b.Slice(r * width, width));
            T shift = ar + br; // s[0], the same shift Forward would use
            T mu = NormRow.Mean(shift, NormRow.AddAndSumShifted(ref ar, ref br, ref sr, (nuint)width, shift), inverseWidth);
            T rs = NormRow.Rstd(ref sr, (nuint)width, mu, inverseWidth, epsilon);
            mean[r] = mu;
            rstd[r] = rs;
            NormRow.Normalize(ref sr, (nuint)width, mu, rs, gamma, beta, ref MemoryMarshal.GetReference(y.Slice(r * width, width)));
        }
    }

    /// <summary>
    /// Backward of y = x̂ ⊙ γ + β with x̂ = (x − μ)·rstd, from the saved μ and rstd:
    /// with ĝ = dy ⊙ γ, dx = rstd·(ĝ − mean(ĝ) − x̂·mean(ĝ ⊙ x̂)) (written, or added when
    /// <paramref name="accumulateDx"/>); dγ = Σ_rows dy ⊙ x̂ and dβ = Σ_rows dy (written, or added
    /// when <paramref name="accumulateParams"/>; an empty dγ or dβ is skipped).
    /// </summary>
    /// <remarks>
    /// dx may be the same memory as dy (each row is read in full before that row of dx is written).
    /// An empty <paramref name="gamma"/> means γ = 1.
    /// </remarks>
    /// <exception cref="ArgumentOutOfRangeException">rows is negative or width is not positive.</exception>
    /// <exception cref="ArgumentException">A span is too short, or gamma, dGamma or dBeta is neither empty nor of length width.</exception>
    public static void Backward<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> dy, int rows, int width, ReadOnlySpan<T> gamma, ReadOnlySpan<T> mean, ReadOnlySpan<T> rstd, Span<T> dx, bool accumulateDx, Span<T> dGamma, Span<T> dBeta, bool accumulateParams)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        NormChecks.Shape(rows, width, T.Zero);
        int size = rows * width;
        NormChecks.AtLeast(nameof(x), x.Length, size);
        NormChecks.AtLeast(nameof(dy), dy.Length, size);
        NormChecks.Optional(nameof(gamma), gamma.Length, width);
        NormChecks.AtLeast(nameof(mean), mean.Length, rows);
        NormChecks.AtLeast(nameof(rstd), rstd.Length, rows);
        NormChecks.AtLeast(nameof(dx), dx.Length, size);
        NormChecks.Optional(nameof(dGamma), dGamma.Length, width);
        NormChecks.Optional(nameof(dBeta), dBeta.Length, width);

        if (!accumulateParams)
        {
            dGamma.Clear();
            dBeta.Clear();
        }

        T inverseWidth = T.One / T.CreateTruncating(width);
        for (int r = 0; r < rows; r++)
        {
            ref T xr = ref MemoryMarshal.GetReference(x.Slice(r * width, width));
            ref T dyr = ref MemoryMarshal.GetReference(dy.Slice(r * width, width));
            (T sumG, T sumGx) = NormRow.BackwardSums(ref xr, ref dyr, (nuint)width, mean[r], rstd[r], gamma, dGamma, dBeta);
            NormRow.BackwardWrite(
                ref xr, ref dyr, (nuint)width, mean[r], rstd[r], gamma, sumG * inverseWidth, sumGx * inverseWidth,
                ref MemoryMarshal.GetReference(dx.Slice(r * width, width)), accumulateDx);
        }
    }
}

/// <summary>Argument checks shared by the norm kernels, with messages naming the bad values.</summary>
internal static class NormChecks
{
    public static void Shape<T>(int rows, int width, T epsilon) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (rows < 0)
        {
            KernelThrowHelper.ThrowNegative(nameof(rows), rows);
        }

        if (width <= 0)
        {
            KernelThrowHelper.ThrowNotPositive(nameof(width), width);
        }

        if ((long)rows * width > int.MaxValue)
        {
            ThrowTooLarge(rows, width);
        }

        if (!(epsilon >= T.Zero) || T.IsInfinity(epsilon))
        {
            ThrowEpsilon(double.CreateTruncating(epsilon));
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void AtLeast(string name, int length, int required)
    {
        if (length < required)
        {
            KernelThrowHelper.ThrowDestinationTooShort(name, length, required);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Optional(string name, int length, int width)
    {
        if (length != 0 && length != width)
        {
            ThrowOptionalLength(name, length, width);
        }
    }
    // The throw helpers live here rather than in KernelThrowHelper: only the norms need them.
    [DoesNotReturn]
    private static void ThrowTooLarge(int rows, int width) =>
        throw new ArgumentOutOfRangeException(nameof(rows), rows, $"rows × width = {rows} × {width} exceeds {int.MaxValue} elements.");

    [DoesNotReturn]
    private static void ThrowEpsilon(double epsilon) =>
        throw new ArgumentOutOfRangeException(nameof(epsilon), epsilon, $"epsilon must be non-negative and finite, was {epsilon.ToString("R", CultureInfo.InvariantCulture)}.");

    [DoesNotReturn]
    private static void ThrowOptionalLength(string name, int length, int width) =>
        throw new ArgumentException($"{name} has length {length} but width is {width}; it must be empty or of length width.", name);
}

/// <summary>
/// One row of a norm, forward and backward, for LayerNorm (centred) and RMSNorm (center = 0,
/// no mean term): Vector256 loops with a scalar tail. γ, β, dγ and dβ are empty or of the row's length.
/// </summary>
internal static class NormRow
{
    /// <summary>The row mean from a sum about <paramref name="shift"/>: μ = shift + Σ(x − shift)/n (LayerNorm's).</summary>
    public static T Mean<T>(T shift, T sumShifted, T inverseWidth) where T : unmanaged, IFloatingPointIeee754<T> =>
        shift + (sumShifted * inverseWidth);

    /// <summary>
    /// The row statistic both norms keep: rstd = 1/√(Σ(x − center)²/n + ε), the two-pass variance about the mean for
    /// LayerNorm (center = μ), the mean square for RMSNorm (center = 0).
    /// </summary>
    public static T Rstd<T>(ref T x, nuint n, T center, T inverseWidth, T epsilon) where T : unmanaged, IFloatingPointIeee754<T> =>
        T.One / T.Sqrt((SumSquares(ref x, n, center) * inverseWidth) + epsilon);

    /// <summary>Σ (x − shift).</summary>
    public static T SumShifted<T>(ref T x, nuint n, T shift) where T : unmanaged, IFloatingPointIeee754<T>
    {
        nuint i = 0;
        T sum = T.Zero;
        if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported && n >= (nuint)Vector256<T>.Count)
        {
            nuint width = (nuint)Vector256<T>.Count;
            Vector256<T> k = Vector256.Create(shift);
            Vector256<T> acc = Vector256<T>.Zero;
            for (; i + width <= n; i += width)
            {
                acc += Vector256.LoadUnsafe(ref x, i) - k;
            }

            sum = Vector256.Sum(acc);
        }

        for (; i < n; i++)
        {
            sum += Unsafe.Add(ref x, i) - shift;
        }

        return sum;
    }

    /// <summary>s = a + b, returning Σ (s − shift) (s may alias a or b: each vector is loaded before it is stored).</summary>
    public static T AddAndSumShifted<T>(ref T a, ref T b, ref T s, nuint n, T shift) where T : unmanaged, IFloatingPointIeee754<T>
    {
        nuint i = 0;
        T sum = T.Zero;
        if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported && n >= (nuint)Vector256<T>.Count)
        {
            nuint width = (nuint)Vector256<T>.Count;
            Vector256<T> k = Vector256.Create(shift);
            Vector256<T> acc = Vector256<T>.Zero;
            for (; i + width <= n; i += width)
            {
                Vector256<T> v = Vector256.LoadUnsafe(ref a, i) + Vector256.LoadUnsafe(ref b, i);
                v.StoreUnsafe(ref s, i);
                acc += v - k;
            }

            sum = Vector256.Sum(acc);
        }

        for (; i < n; i++)
        {
            T v = Unsafe.Add(ref a, i) + Unsafe.Add(ref b, i);
            Unsafe.Add(ref s, i) = v;
            sum += v - shift;
        }

        return sum;
    }

    /// <summary>Σ (x − center)².</summary>
    public static T SumSquares<T>(ref T x, nuint n, T center) where T : unmanaged, IFloatingPointIeee754<T>
    {
        nuint i = 0;
        T sum = T.Zero;
        if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported && n >= (nuint)Vector256<T>.Count)
        {
            nuint width = (nuint)Vector256<T>.Count;
            Vector256<T> c = Vector256.Create(center);
            Vector256<T> acc = Vector256<T>.Zero;
            for (; i + width <= n; i += width)
            {
                Vector256<T> d = Vector256.LoadUnsafe(ref x, i) - c;
                acc = SimdMath.Fma(d, d, acc);
            }

            sum = Vector256.Sum(acc);
        }

        for (; i < n; i++)
        {
            T d = Unsafe.Add(ref x, i) - center;
            sum = T.FusedMultiplyAdd(d, d, sum);
        }

        return sum;
    }

    /// <summary>y = (x − center)·scale ⊙ γ + β (γ = 1 and β = 0 when empty).</summary>
    public static void Normalize<T>(ref T x, nuint n, T center, T scale, ReadOnlySpan<T> gamma, ReadOnlySpan<T> beta, ref T y)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        bool hasGamma = !gamma.IsEmpty, hasBeta = !beta.IsEmpty;
        ref T gr = ref MemoryMarshal.GetReference(gamma);
        ref T br = ref MemoryMarshal.GetReference(beta);
        nuint i = 0;
        if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported)
        {
            nuint width = (nuint)Vector256<T>.Count;
            Vector256<T> c = Vector256.Create(center);
            Vector256<T> sv = Vector256.Create(scale);
            for (; i + width <= n; i += width)
            {
                Vector256<T> v = (Vector256.LoadUnsafe(ref x, i) - c) * sv;
                if (hasGamma)
                {
                    v *= Vector256.LoadUnsafe(ref gr, i);
                }

                if (hasBeta)
                {
                    v += Vector256.LoadUnsafe(ref br, i);
                }

                v.StoreUnsafe(ref y, i);
            }
        }

        for (; i < n; i++)
        {
            T v = (Unsafe.Add(ref x, i) - center) * scale;
            if (hasGamma)
            {
                v *= Unsafe.Add(ref gr, i);
            }

            if (hasBeta)
            {
                v += Unsafe.Add(ref br, i);
            }

            Unsafe.Add(ref y, i) = v;
        }
    }

    /// <summary>
    /// First backward pass over a row, with x̂ = (x − center)·rstd and ĝ = dy ⊙ γ: returns (Σ ĝ, Σ ĝ ⊙ x̂)
    /// and adds dy ⊙ x̂ to dγ and dy to dβ (each skipped when empty).
    /// </summary>
    public static (T SumG, T SumGx) BackwardSums<T>(ref T x, ref T dy, nuint n, T center, T rstd, ReadOnlySpan<T> gamma, Span<T> dGamma, Span<T> dBeta)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        bool hasGamma = !gamma.IsEmpty, hasDGamma = !dGamma.IsEmpty, hasDBeta = !dBeta.IsEmpty;
        ref T gr = ref MemoryMarshal.GetReference(gamma);
        ref T dgr = ref MemoryMarshal.GetReference(dGamma);
        ref T dbr = ref MemoryMarshal.GetReference(dBeta);
        nuint i = 0;
        T sumG = T.Zero, sumGx = T.Zero;
        if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported && n >= (nuint)Vector256<T>.Count)
        {
            nuint width = (nuint)Vector256<T>.Count;
            Vector256<T> c = Vector256.Create(center);
            Vector256<T> sv = Vector256.Create(rstd);
            Vector256<T> accG = Vector256<T>.Zero, accGx = Vector256<T>.Zero;
            for (; i + width <= n; i += width)
            {
                Vector256<T> xhat = (Vector256.LoadUnsafe(ref x, i) - c) * sv;
                Vector256<T> d = Vector256.LoadUnsafe(ref dy, i);
                if (hasDGamma)
                {
                    SimdMath.Fma(d, xhat, Vector256.LoadUnsafe(ref dgr, i)).StoreUnsafe(ref dgr, i);
                }

                if (hasDBeta)
                {
                    (Vector256.LoadUnsafe(ref dbr, i) + d).StoreUnsafe(ref dbr, i);
                }

                Vector256<T> g = hasGamma ? d * Vector256.LoadUnsafe(ref gr, i) : d;
                accG += g;
                accGx = SimdMath.Fma(g, xhat, accGx);
            }

            sumG = Vector256.Sum(accG);
            sumGx = Vector256.Sum(accGx);
        }

        for (; i < n; i++)
        {
            T xhat = (Unsafe.Add(ref x, i) - center) * rstd;
            T d = Unsafe.Add(ref dy, i);
            if (hasDGamma)
            {
                Unsafe.Add(ref dgr, i) = T.FusedMultiplyAdd(d, xhat, Unsafe.Add(ref dgr, i));
            }

            if (hasDBeta)
            {
                Unsafe.Add(ref dbr, i) += d;
            }

            T g = hasGamma ? d * Unsafe.Add(ref gr, i) : d;
            sumG += g;
            sumGx = T.FusedMultiplyAdd(g, xhat, sumGx);
        }

        return (sumG, sumGx);
    }

    /// <summary>
    /// Second backward pass: dx (=, or += when <paramref name="accumulate"/>) rstd·(ĝ − meanG − x̂·meanGx).
    /// RMSNorm passes center = 0 and meanG = 0. dx may alias dy: each element of dy is read before
    /// the same element of dx is written.
    /// </summary>
    public static void BackwardWrite<T>(ref T x, ref T dy, nuint n, T center, T rstd, ReadOnlySpan<T> gamma, T meanG, T meanGx, ref T dx, bool accumulate)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        bool hasGamma = !gamma.IsEmpty;
        ref T gr = ref MemoryMarshal.GetReference(gamma);
        nuint i = 0;
        if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported)
        {
            nuint width = (nuint)Vector256<T>.Count;
            Vector256<T> c = Vector256.Create(center);
            Vector256<T> sv = Vector256.Create(rstd);
            Vector256<T> mg = Vector256.Create(meanG);
            Vector256<T> mgx = Vector256.Create(meanGx);
            for (; i + width <= n; i += width)
            {
                Vector256<T> xhat = (Vector256.LoadUnsafe(ref x, i) - c) * sv;
                Vector256<T> g = Vector256.LoadUnsafe(ref dy, i);
                if (hasGamma)
                {
                    g *= Vector256.LoadUnsafe(ref gr, i);
                }

                Vector256<T> v = (g - mg - (xhat * mgx)) * sv;
                if (accumulate)
                {
                    v += Vector256.LoadUnsafe(ref dx, i);
                }

                v.StoreUnsafe(ref dx, i);
            }
        }

        for (; i < n; i++)
        {
            T xhat = (Unsafe.Add(ref x, i) - center) * rstd;
            T g = Unsafe.Add(ref dy, i);
            if (hasGamma)
            {
                g *= Unsafe.Add(ref gr, i);
            }

            T v = (g - meanG - (xhat * meanGx)) * rstd;
            if (accumulate)
            {
                v += Unsafe.Add(ref dx, i);
            }

            Unsafe.Add(ref dx, i) = v;
        }
    }
}
