using System;
using System.Numerics;

namespace Dsl.Kernels;

/// <summary>
/// Inverted dropout with a counter-based mask: element i is kept iff
/// <c>SeededRandom.Uniform(seed, stream, i) ≥ rate</c>, and kept elements are scaled by 1/(1 − rate).
/// No mask is stored: the backward recomputes it from (seed, stream), so the same (seed, stream)
/// gives the same mask in forward, backward and in both sides of a finite difference.
/// </summary>
public static class Dropout
{
    /// <summary>y = mask ⊙ x / (1 − rate). rate in [0, 1).</summary>
    public static void Forward<T>(ReadOnlySpan<T> x, Span<T> y, double rate, ulong seed, ulong stream) where T : unmanaged, IFloatingPointIeee754<T> => throw new NotImplementedException();
    /// <summary>dx = mask ⊙ dy / (1 − rate), same mask as <see cref="Forward{T}"/>.</summary>
    public static void Backward<T>(ReadOnlySpan<T> dy, Span<T> dx, double rate, ulong seed, ulong stream) where T : unmanaged, IFloatingPointIeee754<T> => throw new NotImplementedException();
}
