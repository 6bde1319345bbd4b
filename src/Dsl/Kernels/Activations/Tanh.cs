using System.Numerics;
using System.Runtime.Intrinsics;

namespace Dsl.Kernels;

/// <summary>
/// Hyperbolic tangent: f(x) = tanh x; f'(x) = 1 − tanh²x = 1 − y², so the input need not be kept.
/// The vector form is accurate to a few ulp (see <see cref="SimdMath.Tanh{T}"/>).
/// </summary>
public readonly struct Tanh<T> : IActivation<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <inheritdoc />
    public bool DerivativeNeedsInput => Contracts.ActivationFacts.TanhNeedsInput;

    /// <summary>tanh x.</summary>
    public T Forward(T x) => T.Tanh(x);

    /// <summary>tanh x, lane-wise.</summary>
    public Vector256<T> Forward(Vector256<T> x) => SimdMath.Tanh(x);

    /// <summary>f' of f(x) = tanh x: 1 − y².</summary>
    public T Derivative(T x, T y) => T.One - (y * y);

    /// <summary>f' of f(x) = tanh x: 1 − y², lane-wise.</summary>
    public Vector256<T> Derivative(Vector256<T> x, Vector256<T> y) => Vector256<T>.One - (y * y);
}
