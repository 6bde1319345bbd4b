using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Dsl.Kernels;

/// <summary>
/// Lane-wise building blocks shared by the activation structs, generic over float and double.
/// Each dispatches on <c>typeof(T)</c>, which the JIT folds away per instantiation. Every
/// function here is accurate to a few ulp in double, because double-precision finite-difference
/// gradient checks divide their errors by a step of about 6e-6.
/// </summary>
internal static class SimdMath
{
    /// <summary>Broadcasts a double constant converted to T.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> C<T>(double value) where T : unmanaged, IFloatingPointIeee754<T>
        => Vector256.Create(T.CreateTruncating(value));

    /// <summary>True when some lane of the mask is set.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Any<T>(Vector256<T> mask) where T : unmanaged, IFloatingPointIeee754<T>
        => mask.ExtractMostSignificantBits() != 0;

    /// <summary>True when every lane of the mask is set.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool All<T>(Vector256<T> mask) where T : unmanaged, IFloatingPointIeee754<T>
        => mask.ExtractMostSignificantBits() == (1u << Vector256<T>.Count) - 1;

    /// <summary>a·b + c with one rounding (hardware FMA on this target).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> Fma<T>(Vector256<T> a, Vector256<T> b, Vector256<T> c) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float))
        {
            return Vector256.FusedMultiplyAdd(a.AsSingle(), b.AsSingle(), c.AsSingle()).As<float, T>();
        }

        if (typeof(T) == typeof(double))
        {
            return Vector256.FusedMultiplyAdd(a.AsDouble(), b.AsDouble(), c.AsDouble()).As<double, T>();
        }

        return (a * b) + c;
    }

    /// <summary>eˣ lane-wise (the runtime's vectorised exp, about 1 ulp).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> Exp<T>(Vector256<T> x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float))
        {
            return Vector256.Exp(x.AsSingle()).As<float, T>();
        }

        if (typeof(T) == typeof(double))
        {
            return Vector256.Exp(x.AsDouble()).As<double, T>();
        }

        return KernelThrowHelper.ThrowUnsupportedType<T, Vector256<T>>();
    }

    /// <summary>ln x lane-wise (the runtime's vectorised log, about 1 ulp, also near 1).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> Log<T>(Vector256<T> x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float))
        {
            return Vector256.Log(x.AsSingle()).As<float, T>();
        }

        if (typeof(T) == typeof(double))
        {
            return Vector256.Log(x.AsDouble()).As<double, T>();
        }

        return KernelThrowHelper.ThrowUnsupportedType<T, Vector256<T>>();
    }

    /// <summary>
    /// ln(1 + t) for t ≥ 0 (finite). With u = 1 + t rounded, ln(u)·t/(u − 1) cancels the rounding
    /// error of u to first order (Goldberg's trick), so the result keeps full relative accuracy for
    /// tiny t, where ln(1 + t) would lose everything.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> Log1p<T>(Vector256<T> t) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Vector256<T> u = Vector256<T>.One + t;
        Vector256<T> d = u - Vector256<T>.One;
        Vector256<T> r = Log(u) * (t / d);
        return Vector256.ConditionalSelect(Vector256.Equals(d, Vector256<T>.Zero), t, r);
    }

    /// <summary>Scalar ln(1 + t) for t ≥ 0, by the same trick as the vector form.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T Log1p<T>(T t) where T : unmanaged, IFloatingPointIeee754<T>
    {
        T u = T.One + t;
        T d = u - T.One;
        return d == T.Zero ? t : T.Log(u) * (t / d);
    }

    /// <summary>
    /// Logistic σ(x) = 1/(1 + e⁻ˣ), from e = e^{−|x|} ∈ (0, 1] so nothing overflows:
    /// σ = 1/(1 + e) for x ≥ 0 and e/(1 + e) for x &lt; 0, both with full relative accuracy.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> Sigmoid<T>(Vector256<T> x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Vector256<T> e = Exp(-Vector256.Abs(x));
        Vector256<T> r = Vector256<T>.One / (Vector256<T>.One + e);
        return Vector256.ConditionalSelect(Vector256.GreaterThanOrEqual(x, Vector256<T>.Zero), r, e * r);
    }

    /// <summary>Scalar σ(x), same two-sided form as the vector one.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T Sigmoid<T>(T x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        T e = T.Exp(-T.Abs(x));
        T r = T.One / (T.One + e);
        return x >= T.Zero ? r : e * r;
    }

    /// <summary>
    /// tanh x lane-wise. For |x| ≥ 0.625, tanh|x| = 1 − 2/(e^{2|x|} + 1): the subtraction loses at most
    /// a bit there (the result is ≥ 0.55), and e^{2|x|} = ∞ gives exactly 1. Below 0.625 the same form
    /// would cancel badly, so use the [7/8] Padé approximant, i.e. the 8th convergent of Lambert's
    /// continued fraction tanh x = x/(1 + x²/(3 + x²/(5 + …))), whose relative error is below 7e-18 on
    /// [0, 0.625]. Its integer coefficients are exact in float too.
    /// </summary>
    public static Vector256<T> Tanh<T>(Vector256<T> x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Vector256<T> a = Vector256.Abs(x);
        Vector256<T> small = Vector256.LessThan(a, C<T>(0.625));
        Vector256<T> result = default;
        if (!All(small))
        {
            result = Vector256<T>.One - (C<T>(2) / (Exp(a + a) + Vector256<T>.One));
        }

        if (Any(small))
        {
            Vector256<T> s = a * a;
            Vector256<T> p = Fma(Fma(Fma(C<T>(36), s, C<T>(6930)), s, C<T>(270270)), s, C<T>(2027025));
            Vector256<T> q = Fma(Fma(Fma(s + C<T>(630), s, C<T>(51975)), s, C<T>(945945)), s, C<T>(2027025));
            result = Vector256.ConditionalSelect(small, a * p / q, result);
        }

        return Vector256.CopySign(result, x);
    }
}
