using System.Numerics;
using System.Runtime.Intrinsics;

namespace Dsl.Kernels;

/// <summary>
/// ReLU: f(x) = max(x, 0); f'(x) = 1 for x &gt; 0, else 0 (0 at the kink, as PyTorch), read from
/// y alone: f'(x) = [y &gt; 0]. NaN propagates (IEEE maximum) in both the scalar and vector paths.
/// </summary>
public readonly struct Relu<T> : IActivation<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <inheritdoc />
    public bool DerivativeNeedsInput => Contracts.ActivationFacts.ReluNeedsInput;

    /// <summary>max(x, 0).</summary>
    public T Forward(T x) => T.Max(x, T.Zero);

    /// <summary>max(x, 0), lane-wise.</summary>
    public Vector256<T> Forward(Vector256<T> x) => Vector256.Max(x, Vector256<T>.Zero);

    /// <summary>f' of f(x) = max(x, 0): [y &gt; 0].</summary>
    public T Derivative(T x, T y) => y > T.Zero ? T.One : T.Zero;

    /// <summary>f' of f(x) = max(x, 0): [y &gt; 0], lane-wise.</summary>
    public Vector256<T> Derivative(Vector256<T> x, Vector256<T> y) =>
        Vector256.GreaterThan(y, Vector256<T>.Zero) & Vector256<T>.One;
}
