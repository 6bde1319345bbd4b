using System.Numerics;
using System.Runtime.Intrinsics;

namespace Dsl.Kernels;

/// <summary>
/// SquarePlus (Barron 2021): f(x) = (x + √(x² + b))/2, b ≥ 0 (b = 0 is ReLU; default b = 4).
/// For x &lt; 0 the algebraically equal f(x) = b/(2(√(x² + b) − x)) is used: the plain form
/// subtracts two nearly equal numbers there (x = −1e4 would keep ~8 digits of ~1e-4).
/// f'(x) = ½(1 + x/√(x² + b)) = f(x)/√(x² + b), in (0, 1); the derivative needs x. At the
/// ReLU kink (b = 0, x = 0) f' is 0, as for <see cref="Relu{T}"/>.
/// <c>default(SquarePlus&lt;T&gt;)</c> means b = 4, not 0, so a forgotten argument cannot turn it into ReLU.
/// </summary>
public readonly struct SquarePlus<T> : IActivation<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>The default b, as JAX's and Keras's squareplus.</summary>
    public const double DefaultB = 4;

    private readonly T _b;
    private readonly bool _hasB;

    /// <summary>SquarePlus with b = <see cref="DefaultB"/>.</summary>
    public SquarePlus() : this(T.CreateTruncating(DefaultB))
    {
    }

    /// <summary>SquarePlus with the given b ≥ 0 (finite); b = 0 is ReLU.</summary>
    /// <exception cref="System.ArgumentOutOfRangeException">b is negative, NaN or infinite.</exception>
    public SquarePlus(T b)
    {
        if (!(b >= T.Zero) || T.IsInfinity(b))
        {
            KernelThrowHelper.ThrowSquarePlusB(double.CreateTruncating(b));
        }

        _b = b;
        _hasB = true;
    }

    /// <summary>The smoothing constant b.</summary>
    public T B => _hasB ? _b : T.CreateTruncating(DefaultB);

    /// <inheritdoc />
    public bool DerivativeNeedsInput => Contracts.ActivationFacts.SquarePlusNeedsInput;

    /// <summary>(x + √(x² + b))/2 for x ≥ 0; b/(2(√(x² + b) − x)) for x &lt; 0.</summary>
    public T Forward(T x)
    {
        T b = B;
        T s = T.Sqrt(T.FusedMultiplyAdd(x, x, b));
        return x < T.Zero ? b / ((s - x) + (s - x)) : (x + s) * T.CreateTruncating(0.5);
    }

    /// <summary>(x + √(x² + b))/2, stable form for x &lt; 0, lane-wise.</summary>
    public Vector256<T> Forward(Vector256<T> x)
    {
        Vector256<T> b = Vector256.Create(B);
        Vector256<T> s = Vector256.Sqrt(SimdMath.Fma(x, x, b));
        Vector256<T> d = s - x;
        Vector256<T> stable = b / (d + d);
        Vector256<T> plain = (x + s) * SimdMath.C<T>(0.5);
        return Vector256.ConditionalSelect(Vector256.LessThan(x, Vector256<T>.Zero), stable, plain);
    }

    /// <summary>f' of f(x) = (x + √(x² + b))/2: y/√(x² + b) (0 where x² + b = 0).</summary>
    public T Derivative(T x, T y)
    {
        T s = T.Sqrt(T.FusedMultiplyAdd(x, x, B));
        return s == T.Zero ? T.Zero : y / s;
    }

    /// <summary>f' of f(x) = (x + √(x² + b))/2: y/√(x² + b), lane-wise.</summary>
    public Vector256<T> Derivative(Vector256<T> x, Vector256<T> y)
    {
        Vector256<T> s = Vector256.Sqrt(SimdMath.Fma(x, x, Vector256.Create(B)));
        return Vector256.AndNot(y / s, Vector256.Equals(s, Vector256<T>.Zero));
    }
}
