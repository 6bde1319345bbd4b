using System;
using System.Numerics;
using System.Runtime.Intrinsics;

namespace Dsl.Kernels;

/// <summary>
/// An elementwise activation y = f(x) as an operator struct: scalar and Vector256 forms of the
/// function and of its derivative. Instances carry parameters (SquarePlus's b).
/// </summary>
public interface IActivation<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>True when <see cref="Derivative(T, T)"/> needs the input x; false when y suffices
    /// (then the planner need not keep the pre-activation).</summary>
    bool DerivativeNeedsInput { get; }
    /// <summary>f(x).</summary>
    T Forward(T x);
    /// <summary>f(x), lane-wise.</summary>
    Vector256<T> Forward(Vector256<T> x);
    /// <summary>f'(x), given x and y = f(x) (x may be unused when <see cref="DerivativeNeedsInput"/> is false).</summary>
    T Derivative(T x, T y);
    /// <summary>f'(x), lane-wise.</summary>
    Vector256<T> Derivative(Vector256<T> x, Vector256<T> y);
}

/// <summary>Span drivers for <see cref="IActivation{T}"/>: widest vector first, scalar tail.</summary>
public static class Activation
{
    /// <summary>y[i] = f(x[i]). x and y may be the same span.</summary>
    public static void Forward<T, TAct>(TAct act, ReadOnlySpan<T> x, Span<T> y)
        where T : unmanaged, IFloatingPointIeee754<T> where TAct : struct, IActivation<T>
        => throw new NotImplementedException();

    /// <summary>dx[i] = dy[i] · f'(x[i]) given y = f(x); dx may alias dy. x is ignored (may be empty)
    /// when the derivative needs only y.</summary>
    public static void Backward<T, TAct>(TAct act, ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> dy, Span<T> dx)
        where T : unmanaged, IFloatingPointIeee754<T> where TAct : struct, IActivation<T>
        => throw new NotImplementedException();
}
