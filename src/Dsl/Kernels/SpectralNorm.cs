using System;
using System.Numerics;

namespace Dsl.Kernels;

/// <summary>
/// Spectral normalisation of a [rows, cols] row-major weight W (Miyato et al. 2018; Su,
/// kexue.fm 6051): σ(W) by power iteration with persistent u ∈ ℝ^rows and v ∈ ℝ^cols, the forward
/// weight W̄ = W/σ, and the backward through σ = uᵀWv with u and v held constant, as PyTorch's
/// <c>spectral_norm</c> differentiates it. Dot products and norms are accumulated in double.
/// Allocates nothing.
/// </summary>
public static class SpectralNorm
{
    /// <summary>Floor under a norm before dividing by it (PyTorch's eps).</summary>
    public const double NormFloor = 1e-12;

    /// <summary>One power iteration: v ← Wᵀu/‖Wᵀu‖, then u ← Wv/‖Wv‖ (norms floored at <see cref="NormFloor"/>).</summary>
    /// <exception cref="ArgumentException">A span is shorter than its dimension requires.</exception>
    public static void PowerIteration<T>(ReadOnlySpan<T> w, int rows, int cols, Span<T> u, Span<T> v) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Check(w, rows, cols, u, v);
        v = v.Slice(0, cols);
        v.Clear();
        for (int i = 0; i < rows; i++)
        {
            Elementwise.ScaleAdd(w.Slice(i * cols, cols), u[i], v);
        }

        Normalize(v);
        for (int i = 0; i < rows; i++)
        {
            u[i] = T.CreateTruncating(Dot(w.Slice(i * cols, cols), v));
        }

        Normalize(u.Slice(0, rows));
    }

    /// <summary>σ = uᵀWv (in double), stored in <paramref name="sigma"/>[0]; W̄ = W·(1/σ) written to <paramref name="normalized"/>. Returns σ.</summary>
    /// <exception cref="ArgumentException">A span is shorter than its dimension requires.</exception>
    public static double Forward<T>(ReadOnlySpan<T> w, int rows, int cols, ReadOnlySpan<T> u, ReadOnlySpan<T> v, Span<T> normalized, Span<T> sigma)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Check(w, rows, cols, u, v);
        if (normalized.Length < rows * cols)
        {
            KernelThrowHelper.ThrowDestinationTooShort(nameof(normalized), normalized.Length, rows * cols);
        }

        if (sigma.Length < 1)
        {
            KernelThrowHelper.ThrowDestinationTooShort(nameof(sigma), sigma.Length, 1);
        }

        double s = 0;
        for (int i = 0; i < rows; i++)
        {
            s += double.CreateTruncating(u[i]) * Dot(w.Slice(i * cols, cols), v.Slice(0, cols));
        }

        sigma[0] = T.CreateTruncating(s);
        Elementwise.Scale(w.Slice(0, rows * cols), T.CreateTruncating(1.0 / s), normalized);
        return s;
    }

    /// <summary>
    /// In place: G ← (G − ⟨G, W̄⟩_F·u·vᵀ)/σ, turning G = ∂L/∂W̄ into ∂L/∂W for W̄ = W/(uᵀWv) with u, v constant.
    /// </summary>
    /// <exception cref="ArgumentException">A span is shorter than its dimension requires.</exception>
    public static void Backward<T>(Span<T> gradient, ReadOnlySpan<T> normalized, int rows, int cols, ReadOnlySpan<T> u, ReadOnlySpan<T> v, T sigma)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Check(normalized, rows, cols, u, v);
        if (gradient.Length < rows * cols)
        {
            KernelThrowHelper.ThrowDestinationTooShort(nameof(gradient), gradient.Length, rows * cols);
        }

        double inner = Dot(gradient.Slice(0, rows * cols), normalized.Slice(0, rows * cols));
        T inverse = T.One / sigma;
        for (int i = 0; i < rows; i++)
        {
            Span<T> g = gradient.Slice(i * cols, cols);
            T coefficient = -T.CreateTruncating(inner * double.CreateTruncating(u[i]));
            Elementwise.ScaleAdd(v.Slice(0, cols), coefficient, g);
            Elementwise.Scale(g, inverse, g);
        }
    }

    private static void Check<T>(ReadOnlySpan<T> w, int rows, int cols, ReadOnlySpan<T> u, ReadOnlySpan<T> v)
    {
        if (rows <= 0)
        {
            KernelThrowHelper.ThrowNotPositive(nameof(rows), rows);
        }

        if (cols <= 0)
        {
            KernelThrowHelper.ThrowNotPositive(nameof(cols), cols);
        }

        if (w.Length < rows * cols)
        {
            KernelThrowHelper.ThrowDestinationTooShort(nameof(w), w.Length, rows * cols);
        }

        if (u.Length < rows)
        {
            KernelThrowHelper.ThrowDestinationTooShort(nameof(u), u.Length, rows);
        }

        if (v.Length < cols)
        {
            KernelThrowHelper.ThrowDestinationTooShort(nameof(v), v.Length, cols);
        }
    }

    private static double Dot<T>(ReadOnlySpan<T> a, ReadOnlySpan<T> b) where T : unmanaged, IFloatingPointIeee754<T>
    {
        double sum = 0;
        for (int i = 0; i < a.Length; i++)
        {
            sum += double.CreateTruncating(a[i]) * double.CreateTruncating(b[i]);
        }

        return sum;
    }

    private static void Normalize<T>(Span<T> x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        double norm = Math.Sqrt(Dot<T>(x, x));
        Elementwise.Scale<T>(x, T.CreateTruncating(1.0 / Math.Max(norm, NormFloor)), x);
    }
}
