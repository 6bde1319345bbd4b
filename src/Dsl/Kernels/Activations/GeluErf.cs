using System.Numerics;
using System.Runtime.Intrinsics;

namespace Dsl.Kernels;

/// <summary>
/// GELU, exact: f(x) = ½x(1 + erf(x/√2)) = x·Φ(x), with Φ the standard normal distribution
/// function; f'(x) = Φ(x) + x·φ(x), φ(x) = e^{−x²/2}/√(2π). The derivative needs x.
/// Φ is evaluated as ½erfc(−x/√2) so that negative x, where 1 + erf cancels, keeps its digits
/// (Cody's rational approximations, see <see cref="ErrorFunction"/>; about 1e-16 relative in
/// double). Float lanes are widened to double and rounded once at the end, which keeps them
/// within half an ulp of the exact value.
/// </summary>
public readonly struct GeluErf<T> : IActivation<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <inheritdoc />
    public bool DerivativeNeedsInput => true;

    /// <summary>x·Φ(x) = ½x(1 + erf(x/√2)).</summary>
    public T Forward(T x)
    {
        double xd = double.CreateTruncating(x);
        return T.CreateTruncating(xd * ErrorFunction.NormalCdf(xd));
    }

    /// <summary>x·Φ(x), lane-wise.</summary>
    public Vector256<T> Forward(Vector256<T> x)
    {
        if (typeof(T) == typeof(double))
        {
            Vector256<double> xd = x.AsDouble();
            return (xd * ErrorFunction.NormalCdf(xd)).As<double, T>();
        }

        if (typeof(T) == typeof(float))
        {
            (Vector256<double> lo, Vector256<double> hi) = Vector256.Widen(x.AsSingle());
            return Vector256.Narrow(lo * ErrorFunction.NormalCdf(lo), hi * ErrorFunction.NormalCdf(hi)).As<float, T>();
        }

        return KernelThrowHelper.ThrowUnsupportedType<T, Vector256<T>>();
    }

    /// <summary>f' of f(x) = x·Φ(x): Φ(x) + x·φ(x).</summary>
    public T Derivative(T x, T y)
    {
        double xd = double.CreateTruncating(x);
        return T.CreateTruncating(ErrorFunction.NormalCdf(xd) + (xd * ErrorFunction.NormalPdf(xd)));
    }

    /// <summary>f' of f(x) = x·Φ(x): Φ(x) + x·φ(x), lane-wise.</summary>
    public Vector256<T> Derivative(Vector256<T> x, Vector256<T> y)
    {
        if (typeof(T) == typeof(double))
        {
            return Derivative(x.AsDouble()).As<double, T>();
        }

        if (typeof(T) == typeof(float))
        {
            (Vector256<double> lo, Vector256<double> hi) = Vector256.Widen(x.AsSingle());
            return Vector256.Narrow(Derivative(lo), Derivative(hi)).As<float, T>();
        }

        return KernelThrowHelper.ThrowUnsupportedType<T, Vector256<T>>();
    }

    private static Vector256<double> Derivative(Vector256<double> x) =>
        Vector256.FusedMultiplyAdd(x, ErrorFunction.NormalPdf(x), ErrorFunction.NormalCdf(x));
}
