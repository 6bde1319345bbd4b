using System;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Dsl.Kernels;

/// <summary>
/// erf, erfc and the standard normal Φ, φ in double precision (scalar and Vector256), after
/// W. J. Cody, "Rational Chebyshev approximations for the error function", Math. Comp. 23 (1969),
/// using the coefficients he published (as in his SPECFUN routine CALERF):
/// <list type="bullet">
/// <item>|x| ≤ 0.46875: erf x = x·A(x²)/B(x²), A and B of degree 4;</item>
/// <item>0.46875 &lt; |x| ≤ 4: erfc x = e^{−x²}·C(x)/D(x), degree 8;</item>
/// <item>|x| &gt; 4: erfc x = e^{−x²}/x·(1/√π − x⁻²·P(x⁻²)/Q(x⁻²)), degree 5.</item>
/// </list>
/// The rational parts are good to about 3 ulp. e^{−x²} is where accuracy is usually lost: x² is
/// rounded, and the exponential multiplies that rounding error by x² (up to ~700). Cody splits x
/// at a multiple of 1/16 and takes two exponentials; here x² = hi + lo exactly with one FMA, and
/// e^{−x²} = e^{−hi}·(1 − lo) costs one exponential.
/// </summary>
internal static class ErrorFunction
{
    private const double Threshold = 0.46875;
    private const double InvSqrtPi = 0.56418958354775628695;
    private const double InvSqrt2 = 0.70710678118654752440;
    private const double InvSqrt2Pi = 0.39894228040143267794;

    // Past this |x| every e^{−x²/2} underflows to 0; clamping keeps x² finite, so hi/lo never hold ∞.
    private const double ExpArgumentLimit = 40.0;

    // erf, |x| ≤ 0.46875.
    private const double A0 = 3.1611237438705656, A1 = 113.864154151050156, A2 = 377.485237685302021,
        A3 = 3209.37758913846947, A4 = 0.185777706184603153;
    private const double B0 = 23.6012909523441209, B1 = 244.024637934444173, B2 = 1282.61652607737228,
        B3 = 2844.23683343917062;

    // erfc, 0.46875 < x ≤ 4.
    private const double C0 = 0.564188496988670089, C1 = 8.88314979438837594, C2 = 66.1191906371416295,
        C3 = 298.635138197400131, C4 = 881.95222124176909, C5 = 1712.04761263407058,
        C6 = 2051.07837782607147, C7 = 1230.33935479799725, C8 = 2.15311535474403846e-8;
    private const double D0 = 15.7449261107098347, D1 = 117.693950891312499, D2 = 537.181101862009858,
        D3 = 1621.38957456669019, D4 = 3290.79923573345963, D5 = 4362.61909014324716,
        D6 = 3439.36767414372164, D7 = 1230.33935480374942;

    // erfc, x > 4.
    private const double P0 = 0.305326634961232344, P1 = 0.360344899949804439, P2 = 0.125781726111229246,
        P3 = 0.0160837851487422766, P4 = 6.58749161529837803e-4, P5 = 0.0163153871373020978;
    private const double Q0 = 2.56852019228982242, Q1 = 1.87295284992346047, Q2 = 0.527905102951428412,
        Q3 = 0.0605183413124413191, Q4 = 0.00233520497626869185;

    // ---- scalar -------------------------------------------------------------------------------

    /// <summary>erf x.</summary>
    public static double Erf(double x)
    {
        double y = Math.Abs(x);
        if (y <= Threshold)
        {
            return ErfSmall(x);
        }

        double r = ExpNegSquare(y) * ErfcRational(y); // erfc |x|
        return x > 0 ? 1 - r : r - 1;
    }

    /// <summary>erfc x = 1 − erf x, with full relative accuracy for large positive x.</summary>
    public static double Erfc(double x)
    {
        double y = Math.Abs(x);
        if (y <= Threshold)
        {
            return 1 - ErfSmall(x);
        }

        double r = ExpNegSquare(y) * ErfcRational(y);
        return x > 0 ? r : 2 - r;
    }

    /// <summary>Φ(x) = ½ erfc(−x/√2), the standard normal distribution function.</summary>
    public static double NormalCdf(double x)
    {
        double z = -x * InvSqrt2;
        double y = Math.Abs(z);
        if (y <= Threshold)
        {
            return 0.5 - (0.5 * ErfSmall(z));
        }

        // e^{−z²} = e^{−x²/2}, taken from x itself so the rounding of z does not enter the exponent.
        double r = 0.5 * ExpNegHalfSquare(x) * ErfcRational(y); // ½ erfc |z|
        return z > 0 ? r : 1 - r;
    }

    /// <summary>φ(x) = e^{−x²/2}/√(2π).</summary>
    public static double NormalPdf(double x) => ExpNegHalfSquare(x) * InvSqrt2Pi;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static double ErfSmall(double x)
    {
        double s = x * x;
        double num = Math.FusedMultiplyAdd(Math.FusedMultiplyAdd(Math.FusedMultiplyAdd(Math.FusedMultiplyAdd(A4, s, A0), s, A1), s, A2), s, A3);
        double den = Math.FusedMultiplyAdd(Math.FusedMultiplyAdd(Math.FusedMultiplyAdd(s + B0, s, B1), s, B2), s, B3);
        return x * num / den;
    }

    /// <summary>erfc(y)·e^{y²} for y &gt; 0.46875.</summary>
    private static double ErfcRational(double y) => y <= 4 ? MidRational(y) : LargeRational(y);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static double MidRational(double y)
    {
        double num = C8;
        num = Math.FusedMultiplyAdd(num, y, C0);
        num = Math.FusedMultiplyAdd(num, y, C1);
        num = Math.FusedMultiplyAdd(num, y, C2);
        num = Math.FusedMultiplyAdd(num, y, C3);
        num = Math.FusedMultiplyAdd(num, y, C4);
        num = Math.FusedMultiplyAdd(num, y, C5);
        num = Math.FusedMultiplyAdd(num, y, C6);
        num = Math.FusedMultiplyAdd(num, y, C7);
        double den = y + D0;
        den = Math.FusedMultiplyAdd(den, y, D1);
        den = Math.FusedMultiplyAdd(den, y, D2);
        den = Math.FusedMultiplyAdd(den, y, D3);
        den = Math.FusedMultiplyAdd(den, y, D4);
        den = Math.FusedMultiplyAdd(den, y, D5);
        den = Math.FusedMultiplyAdd(den, y, D6);
        den = Math.FusedMultiplyAdd(den, y, D7);
        return num / den;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static double LargeRational(double y)
    {
        double s = 1 / (y * y);
        double num = Math.FusedMultiplyAdd(Math.FusedMultiplyAdd(Math.FusedMultiplyAdd(Math.FusedMultiplyAdd(Math.FusedMultiplyAdd(P5, s, P0), s, P1), s, P2), s, P3), s, P4);
        double den = Math.FusedMultiplyAdd(Math.FusedMultiplyAdd(Math.FusedMultiplyAdd(Math.FusedMultiplyAdd(s + Q0, s, Q1), s, Q2), s, Q3), s, Q4);
        return (InvSqrtPi - (s * num / den)) / y;
    }

    /// <summary>e^{−y²}, with y² split exactly into hi + lo.</summary>
    private static double ExpNegSquare(double y)
    {
        y = Math.Min(y, ExpArgumentLimit);
        double hi = y * y;
        double lo = Math.FusedMultiplyAdd(y, y, -hi);
        double e = Math.Exp(-hi);
        return Math.FusedMultiplyAdd(-e, lo, e);
    }

    /// <summary>e^{−x²/2}, with x² split exactly into hi + lo (halving is exact).</summary>
    private static double ExpNegHalfSquare(double x)
    {
        x = Math.Clamp(x, -ExpArgumentLimit, ExpArgumentLimit);
        double hi = x * x;
        double lo = Math.FusedMultiplyAdd(x, x, -hi);
        double e = Math.Exp(-0.5 * hi);
        return Math.FusedMultiplyAdd(-e, 0.5 * lo, e);
    }

    // ---- Vector256<T>, T = float or double -----------------------------------------------------------
    // The same algorithm lane-wise, each range evaluated only when some lane needs it. For float lanes
    // the coefficients are rounded to float and everything runs in float: the result is within about
    // 3 ulp (relative 4e-7) in the tails and 1–2 ulp near the centre, at 8 lanes a vector.

    /// <summary>Φ(x) lane-wise; the same algorithm as <see cref="NormalCdf(double)"/>.</summary>
    public static Vector256<T> NormalCdf<T>(Vector256<T> x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Vector256<T> z = x * SimdMath.C<T>(-InvSqrt2);
        Vector256<T> y = Vector256.Abs(z);
        Vector256<T> small = Vector256.LessThanOrEqual(y, SimdMath.C<T>(Threshold));
        Vector256<T> half = SimdMath.C<T>(0.5);
        if (SimdMath.All(small))
        {
            return half - (half * ErfSmall(z));
        }

        // r = ½ erfc|z| = ½ e^{−x²/2}·R(|z|), then Φ = r for z > 0 (x < 0) and 1 − r otherwise.
        Vector256<T> r = half * ExpNegHalfSquare(x) * ErfcRational(y);
        Vector256<T> result = Vector256.ConditionalSelect(Vector256.GreaterThan(z, Vector256<T>.Zero), r, Vector256<T>.One - r);
        if (SimdMath.Any(small))
        {
            result = Vector256.ConditionalSelect(small, half - (half * ErfSmall(z)), result);
        }

        return result;
    }

    /// <summary>φ(x) lane-wise.</summary>
    public static Vector256<T> NormalPdf<T>(Vector256<T> x) where T : unmanaged, IFloatingPointIeee754<T> =>
        ExpNegHalfSquare(x) * SimdMath.C<T>(InvSqrt2Pi);

    /// <summary>erf x lane-wise (used by tests; the activations go through Φ).</summary>
    public static Vector256<T> Erf<T>(Vector256<T> x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Vector256<T> y = Vector256.Abs(x);
        Vector256<T> small = Vector256.LessThanOrEqual(y, SimdMath.C<T>(Threshold));
        if (SimdMath.All(small))
        {
            return ErfSmall(x);
        }

        Vector256<T> r = ExpNegSquare(y) * ErfcRational(y);
        Vector256<T> result = Vector256.CopySign(Vector256<T>.One - r, x);
        return SimdMath.Any(small) ? Vector256.ConditionalSelect(small, ErfSmall(x), result) : result;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<T> Fma<T>(Vector256<T> a, Vector256<T> b, double c) where T : unmanaged, IFloatingPointIeee754<T> =>
        SimdMath.Fma(a, b, SimdMath.C<T>(c));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<T> ErfSmall<T>(Vector256<T> x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Vector256<T> s = x * x;
        Vector256<T> num = Fma(Fma(Fma(Fma(SimdMath.C<T>(A4), s, A0), s, A1), s, A2), s, A3);
        Vector256<T> den = Fma(Fma(Fma(s + SimdMath.C<T>(B0), s, B1), s, B2), s, B3);
        return x * num / den;
    }

    /// <summary>erfc(y)·e^{y²} for y &gt; 0.46875, lane-wise.</summary>
    private static Vector256<T> ErfcRational<T>(Vector256<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Vector256<T> large = Vector256.GreaterThan(y, SimdMath.C<T>(4.0));
        Vector256<T> result = default;
        if (!SimdMath.All(large))
        {
            Vector256<T> num = SimdMath.C<T>(C8);
            num = Fma(num, y, C0);
            num = Fma(num, y, C1);
            num = Fma(num, y, C2);
            num = Fma(num, y, C3);
            num = Fma(num, y, C4);
            num = Fma(num, y, C5);
            num = Fma(num, y, C6);
            num = Fma(num, y, C7);
            Vector256<T> den = y + SimdMath.C<T>(D0);
            den = Fma(den, y, D1);
            den = Fma(den, y, D2);
            den = Fma(den, y, D3);
            den = Fma(den, y, D4);
            den = Fma(den, y, D5);
            den = Fma(den, y, D6);
            den = Fma(den, y, D7);
            result = num / den;
        }

        if (SimdMath.Any(large))
        {
            Vector256<T> s = Vector256<T>.One / (y * y);
            Vector256<T> num = Fma(Fma(Fma(Fma(Fma(SimdMath.C<T>(P5), s, P0), s, P1), s, P2), s, P3), s, P4);
            Vector256<T> den = Fma(Fma(Fma(Fma(s + SimdMath.C<T>(Q0), s, Q1), s, Q2), s, Q3), s, Q4);
            Vector256<T> r = (SimdMath.C<T>(InvSqrtPi) - (s * num / den)) / y;
            result = Vector256.ConditionalSelect(large, r, result);
        }

        return result;
    }

    private static Vector256<T> ExpNegSquare<T>(Vector256<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        y = Vector256.Min(y, SimdMath.C<T>(ExpArgumentLimit));
        Vector256<T> hi = y * y;
        Vector256<T> lo = SimdMath.Fma(y, y, -hi);
        Vector256<T> e = SimdMath.Exp(-hi);
        return SimdMath.Fma(-e, lo, e);
    }

    private static Vector256<T> ExpNegHalfSquare<T>(Vector256<T> x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Vector256<T> limit = SimdMath.C<T>(ExpArgumentLimit);
        x = Vector256.Clamp(x, -limit, limit);
        Vector256<T> hi = x * x;
        Vector256<T> lo = SimdMath.Fma(x, x, -hi);
        Vector256<T> half = SimdMath.C<T>(0.5);
        Vector256<T> e = SimdMath.Exp(-(half * hi));
        return SimdMath.Fma(-e, half * lo, e);
    }
}
