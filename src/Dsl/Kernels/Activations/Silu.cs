using System.Numerics;
using System.Runtime.Intrinsics;

namespace Dsl.Kernels;

/// <summary>
/// SiLU (swish): f(x) = x·σ(x); f'(x) = σ(x)·(1 + x·(1 − σ(x))). The derivative needs x.
/// σ is the two-sided stable form, so f keeps full relative accuracy for large negative x.
/// </summary>
public readonly struct Silu<T> : IActivation<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <inheritdoc />
    public bool DerivativeNeedsInput => Contracts.ActivationFacts.SiluNeedsInput;

    /// <summary>x·σ(x).</summary>
    public T Forward(T x) => x * SimdMath.Sigmoid(x);

    /// <summary>x·σ(x), lane-wise.</summary>
    public Vector256<T> Forward(Vector256<T> x) => x * SimdMath.Sigmoid(x);

    /// <summary>f' of f(x) = x·σ(x): σ(x)(1 + x(1 − σ(x))).</summary>
    public T Derivative(T x, T y)
    {
        T s = SimdMath.Sigmoid(x);
        return s * (T.One + (x * (T.One - s)));
    }

    /// <summary>f' of f(x) = x·σ(x): σ(x)(1 + x(1 − σ(x))), lane-wise.</summary>
    public Vector256<T> Derivative(Vector256<T> x, Vector256<T> y)
    {
        Vector256<T> s = SimdMath.Sigmoid(x);
        return s * (Vector256<T>.One + (x * (Vector256<T>.One - s)));
    }
}
