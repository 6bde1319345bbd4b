using System;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Dsl.Runtime;

namespace Dsl.Kernels;

/// <summary>
/// Inverted dropout with a counter-based mask: element i is kept iff
/// <c>SeededRandom.Uniform(seed, stream, first + i) ≥ rate</c>, and kept elements are scaled by 1/(1 − rate).
/// No mask is stored: the backward recomputes it from (seed, stream), so the same (seed, stream)
/// gives the same mask in forward, backward and in both sides of a finite difference. <c>first</c> is the
/// index of element 0 within the whole batch: a data-parallel rank whose shard starts at row r passes
/// r × width and draws the masks one process would draw for those rows.
/// </summary>
public static class Dropout
{
    /// <summary>y = mask ⊙ x / (1 − rate). rate in [0, 1).</summary>
    /// <remarks>rate = 0 is a plain copy. y may alias x.</remarks>
    /// <exception cref="ArgumentOutOfRangeException">rate is not in [0, 1).</exception>
    /// <exception cref="ArgumentException">y is shorter than x.</exception>
    public static void Forward<T>(ReadOnlySpan<T> x, Span<T> y, double rate, ulong seed, ulong stream, ulong first = 0) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (y.Length < x.Length)
        {
            KernelThrowHelper.ThrowDestinationTooShort(nameof(y), y.Length, x.Length);
        }

        Apply(x, y, rate, seed, stream, first);
    }

    /// <summary>dx = mask ⊙ dy / (1 − rate), same mask as <see cref="Forward{T}"/>.</summary>
    /// <remarks>Backward of y = mask ⊙ x/(1 − rate): the same linear map. dx may alias dy.</remarks>
    /// <exception cref="ArgumentOutOfRangeException">rate is not in [0, 1).</exception>
    /// <exception cref="ArgumentException">dx is shorter than dy.</exception>
    public static void Backward<T>(ReadOnlySpan<T> dy, Span<T> dx, double rate, ulong seed, ulong stream, ulong first = 0) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (dx.Length < dy.Length)
        {
            KernelThrowHelper.ThrowDestinationTooShort(nameof(dx), dx.Length, dy.Length);
        }

        Apply(dy, dx, rate, seed, stream, first);
    }

    private static void Apply<T>(ReadOnlySpan<T> source, Span<T> destination, double rate, ulong seed, ulong stream, ulong first) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!(rate >= 0 && rate < 1))
        {
            KernelThrowHelper.ThrowRate(rate);
        }

        if (rate == 0)
        {
            source.CopyTo(destination);
            return;
        }

        // u = (bits >> 11)·2⁻⁵³ ≥ rate  ⇔  (bits >> 11) ≥ rate·2⁵³  ⇔  (bits >> 11) ≥ ⌈rate·2⁵³⌉, since the
        // left side is an integer and rate·2⁵³ is exact: the same decision as SeededRandom.Uniform, in integers.
        ulong threshold = (ulong)Math.Ceiling(rate * (1UL << 53));
        T scale = T.CreateTruncating(1.0 / (1.0 - rate));
        ulong key = SeededRandom.StreamKey(seed, stream);

        ref T sr = ref MemoryMarshal.GetReference(source);
        ref T dr = ref MemoryMarshal.GetReference(destination);
        nuint n = (nuint)source.Length;
        nuint i = 0;

        // The hashes are scalar (AVX2 has no 64-bit multiply), but the select is a vector AND with a
        // lane mask built from them: no data-dependent branch, which would mispredict half the time.
        if (Vector256.IsHardwareAccelerated && typeof(T) == typeof(float))
        {
            Vector256<float> sv = Vector256.Create(float.CreateTruncating(scale));
            ref float sf = ref Unsafe.As<T, float>(ref sr);
            ref float df = ref Unsafe.As<T, float>(ref dr);
            for (; i + 8 <= n; i += 8)
            {
                nuint c = (nuint)first + i;
                Vector256<int> mask = Vector256.Create(
                    Keep32(key, c, threshold), Keep32(key, c + 1, threshold), Keep32(key, c + 2, threshold), Keep32(key, c + 3, threshold),
                    Keep32(key, c + 4, threshold), Keep32(key, c + 5, threshold), Keep32(key, c + 6, threshold), Keep32(key, c + 7, threshold));
                ((Vector256.LoadUnsafe(ref sf, i) * sv) & mask.AsSingle()).StoreUnsafe(ref df, i);
            }
        }
        else if (Vector256.IsHardwareAccelerated && typeof(T) == typeof(double))
        {
            Vector256<double> sv = Vector256.Create(double.CreateTruncating(scale));
            ref double sd = ref Unsafe.As<T, double>(ref sr);
            ref double dd = ref Unsafe.As<T, double>(ref dr);
            for (; i + 4 <= n; i += 4)
            {
                nuint c = (nuint)first + i;
                Vector256<long> mask = Vector256.Create(
                    Keep64(key, c, threshold), Keep64(key, c + 1, threshold), Keep64(key, c + 2, threshold), Keep64(key, c + 3, threshold));
                ((Vector256.LoadUnsafe(ref sd, i) * sv) & mask.AsDouble()).StoreUnsafe(ref dd, i);
            }
        }

        for (; i < n; i++)
        {
            bool keep = (SeededRandom.CounterBits(key, (nuint)first + i) >> 11) >= threshold;
            Unsafe.Add(ref dr, i) = keep ? Unsafe.Add(ref sr, i) * scale : T.Zero;
        }
    }

    /// <summary>All ones when element <paramref name="index"/> is kept, else 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static long Keep64(ulong key, nuint index, ulong threshold) =>
        // Both sides are below 2⁵³, so the difference's sign bit is the comparison: −1 when kept.
        (long)(threshold - 1 - (SeededRandom.CounterBits(key, index) >> 11)) >> 63;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Keep32(ulong key, nuint index, ulong threshold) => (int)Keep64(key, index, threshold);
}
