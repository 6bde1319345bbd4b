using System.Numerics;
using System.Runtime.Intrinsics;

namespace Dsl.Kernels;

/// <summary>
/// GELU, exact: f(x) = ½x(1 + erf(x/√2)) = x·Φ(x), with Φ the standard normal distribution
/// function; f'(x) = Φ(x) + x·φ(x), φ(x) = e^{−x²/2}/√(2π). The derivative needs x.
/// Φ is evaluated as ½erfc(−x/√2) so that negative x, where 1 + erf cancels, keeps its digits
/// (Cody's rational approximations, see <see cref="ErrorFunction"/>): about 1e-16 relative in
/// double; float lanes run the same algorithm in float, within about 1e-7 relative near the centre
/// and 4e-7 in the tails. The scalar path (also the float tail) computes in double.
/// </summary>
public readonly struct GeluErf<T> : IActivation<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <inheritdoc />
    public bool DerivativeNeedsInput => Contracts.ActivationFacts.GeluErfNeedsInput;

    /// <summary>x·Φ(x) = ½x(1 + erf(x/√2)).</summary>
    public T Forward(T x)
    {
        double xd = double.CreateTruncating(x);
        return T.CreateTruncating(xd * ErrorFunction.NormalCdf(xd));
    }

    /// <summary>x·Φ(x), lane-wise.</summary>
    public Vector256<T> Forward(Vector256<T> x) => x * ErrorFunction.NormalCdf(x);

    /// <summary>f' of f(x) = x·Φ(x): Φ(x) + x·φ(x).</summary>
    public T Derivative(T x, T y)
    {
        double xd = double.CreateTruncating(x);
        return T.CreateTruncating(ErrorFunction.NormalCdf(xd) + (xd * ErrorFunction.NormalPdf(xd)));
    }

    /// <summary>f' of f(x) = x·Φ(x): Φ(x) + x·φ(x), lane-wise.</summary>
    public Vector256<T> Derivative(Vector256<T> x, Vector256<T> y) =>
        SimdMath.Fma(x, ErrorFunction.NormalPdf(x), ErrorFunction.NormalCdf(x));
}
