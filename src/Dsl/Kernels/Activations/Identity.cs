using System.Numerics;
using System.Runtime.Intrinsics;

namespace Dsl.Kernels;

/// <summary>Identity: f(x) = x, f'(x) = 1.</summary>
public readonly struct Identity<T> : IActivation<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <inheritdoc />
    public bool DerivativeNeedsInput => Contracts.ActivationFacts.IdentityNeedsInput;

    /// <inheritdoc />
    public T Forward(T x) => x;

    /// <inheritdoc />
    public Vector256<T> Forward(Vector256<T> x) => x;

    /// <summary>f'(x) = 1.</summary>
    public T Derivative(T x, T y) => T.One;

    /// <summary>f'(x) = 1, lane-wise.</summary>
    public Vector256<T> Derivative(Vector256<T> x, Vector256<T> y) => Vector256<T>.One;
}
