using System.Numerics;
using System.Runtime.Intrinsics;

namespace Dsl.Kernels;

/// <summary>
/// Logistic sigmoid: f(x) = σ(x) = 1/(1 + e⁻ˣ), computed from e^{−|x|} (1/(1 + e) for x ≥ 0,
/// e/(1 + e) for x &lt; 0) so it neither overflows nor loses relative accuracy for large |x|.
/// f'(x) = σ(x)(1 − σ(x)) = y(1 − y), so the input need not be kept.
/// </summary>
public readonly struct Sigmoid<T> : IActivation<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <inheritdoc />
    public bool DerivativeNeedsInput => Contracts.ActivationFacts.SigmoidNeedsInput;

    /// <summary>σ(x).</summary>
    public T Forward(T x) => SimdMath.Sigmoid(x);

    /// <summary>σ(x), lane-wise.</summary>
    public Vector256<T> Forward(Vector256<T> x) => SimdMath.Sigmoid(x);

    /// <summary>f' of f(x) = σ(x): y(1 − y).</summary>
    public T Derivative(T x, T y) => y * (T.One - y);

    /// <summary>f' of f(x) = σ(x): y(1 − y), lane-wise.</summary>
    public Vector256<T> Derivative(Vector256<T> x, Vector256<T> y) => y * (Vector256<T>.One - y);
}
