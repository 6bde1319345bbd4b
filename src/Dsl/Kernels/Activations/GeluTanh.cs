using System.Numerics;
using System.Runtime.Intrinsics;

namespace Dsl.Kernels;

/// <summary>
/// GELU, tanh approximation: f(x) = ½x(1 + tanh(√(2/π)(x + 0.044715x³))).
/// With u = √(2/π)(x + 0.044715x³), ½(1 + tanh u) = σ(2u), so f(x) = x·σ(2u): one exponential and
/// no cancellation for negative x, where 1 + tanh u would lose all digits.
/// f'(x) = σ(2u) + x·σ(2u)(1 − σ(2u))·2√(2/π)(1 + 3·0.044715x²). The derivative needs x.
/// </summary>
public readonly struct GeluTanh<T> : IActivation<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    // 2√(2/π) and the cubic coefficient; u is only ever used as 2u.
    private const double TwoSqrtTwoOverPi = 1.5957691216057307117597842397375;
    private const double Cubic = 0.044715;

    /// <inheritdoc />
    public bool DerivativeNeedsInput => Contracts.ActivationFacts.GeluTanhNeedsInput;

    /// <summary>½x(1 + tanh(√(2/π)(x + 0.044715x³))) = x·σ(2u).</summary>
    public T Forward(T x)
    {
        // The same operations, fused the same way, as the vector form: the two paths agree to the ulp of exp.
        T twoU = T.CreateTruncating(TwoSqrtTwoOverPi) * x * T.FusedMultiplyAdd(T.CreateTruncating(Cubic) * x, x, T.One);
        return x * SimdMath.Sigmoid(twoU);
    }

    /// <summary>½x(1 + tanh(√(2/π)(x + 0.044715x³))), lane-wise.</summary>
    public Vector256<T> Forward(Vector256<T> x)
    {
        Vector256<T> twoU = SimdMath.C<T>(TwoSqrtTwoOverPi) * x * SimdMath.Fma(SimdMath.C<T>(Cubic) * x, x, Vector256<T>.One);
        return x * SimdMath.Sigmoid(twoU);
    }

    /// <summary>f' of f(x) = x·σ(2u), u = √(2/π)(x + 0.044715x³): σ(2u) + x·σ(2u)(1 − σ(2u))·2√(2/π)(1 + 0.134145x²).</summary>
    public T Derivative(T x, T y)
    {
        T x2 = x * x;
        T k = T.CreateTruncating(TwoSqrtTwoOverPi);
        T c = T.CreateTruncating(Cubic);
        T s = SimdMath.Sigmoid(k * x * T.FusedMultiplyAdd(c, x2, T.One));
        T du = k * T.FusedMultiplyAdd(T.CreateTruncating(3 * Cubic), x2, T.One);
        return s + (x * s * (T.One - s) * du);
    }

    /// <summary>f' of f(x) = x·σ(2u), lane-wise.</summary>
    public Vector256<T> Derivative(Vector256<T> x, Vector256<T> y)
    {
        Vector256<T> x2 = x * x;
        Vector256<T> k = SimdMath.C<T>(TwoSqrtTwoOverPi);
        Vector256<T> s = SimdMath.Sigmoid(k * x * SimdMath.Fma(SimdMath.C<T>(Cubic), x2, Vector256<T>.One));
        Vector256<T> du = k * SimdMath.Fma(SimdMath.C<T>(3 * Cubic), x2, Vector256<T>.One);
        return s + (x * s * (Vector256<T>.One - s) * du);
    }
}
