using System.Numerics;
using System.Runtime.Intrinsics;

namespace Dsl.Kernels;

/// <summary>
/// Softplus: f(x) = ln(1 + eˣ), evaluated as max(x, 0) + log1p(e^{−|x|}) so that e^{x} never
/// overflows and small results (x ≪ 0) keep full relative accuracy. f'(x) = σ(x), from x.
/// </summary>
public readonly struct Softplus<T> : IActivation<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <inheritdoc />
    public bool DerivativeNeedsInput => Contracts.ActivationFacts.SoftplusNeedsInput;

    /// <summary>max(x, 0) + log1p(e^{−|x|}).</summary>
    public T Forward(T x) => T.Max(x, T.Zero) + SimdMath.Log1p(T.Exp(-T.Abs(x)));

    /// <summary>max(x, 0) + log1p(e^{−|x|}), lane-wise.</summary>
    public Vector256<T> Forward(Vector256<T> x) =>
        Vector256.Max(x, Vector256<T>.Zero) + SimdMath.Log1p(SimdMath.Exp(-Vector256.Abs(x)));

    /// <summary>f' of f(x) = ln(1 + eˣ): σ(x).</summary>
    public T Derivative(T x, T y) => SimdMath.Sigmoid(x);

    /// <summary>f' of f(x) = ln(1 + eˣ): σ(x), lane-wise.</summary>
    public Vector256<T> Derivative(Vector256<T> x, Vector256<T> y) => SimdMath.Sigmoid(x);
}
