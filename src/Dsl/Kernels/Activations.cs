using System;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
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
    /// <exception cref="ArgumentException">y is shorter than x.</exception>
    public static void Forward<T, TAct>(TAct act, ReadOnlySpan<T> x, Span<T> y)
        where T : unmanaged, IFloatingPointIeee754<T> where TAct : struct, IActivation<T>
    {
        if (y.Length < x.Length)
        {
            KernelThrowHelper.ThrowDestinationTooShort(nameof(y), y.Length, x.Length);
        }

        ref T xr = ref MemoryMarshal.GetReference(x);
        ref T yr = ref MemoryMarshal.GetReference(y);
        nuint n = (nuint)x.Length;
        nuint i = 0;
        if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported)
        {
            nuint width = (nuint)Vector256<T>.Count;
            // Each vector is loaded before it is stored, so y == x (exact aliasing) is safe.
            for (; i + width <= n; i += width)
            {
                act.Forward(Vector256.LoadUnsafe(ref xr, i)).StoreUnsafe(ref yr, i);
            }
        }

        // Scalar tail rather than an overlapping last vector: with y == x the overlap would apply f twice.
        for (; i < n; i++)
        {
            Unsafe.Add(ref yr, i) = act.Forward(Unsafe.Add(ref xr, i));
        }
    }

    /// <summary>dx[i] = dy[i] · f'(x[i]) given y = f(x); dx may alias dy. x is ignored (may be empty)
    /// when the derivative needs only y.</summary>
    /// <exception cref="ArgumentException">dx or y (or x, when the derivative needs it) is shorter than dy.</exception>
    public static void Backward<T, TAct>(TAct act, ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> dy, Span<T> dx)
        where T : unmanaged, IFloatingPointIeee754<T> where TAct : struct, IActivation<T>
    {
        int length = dy.Length;
        if (dx.Length < length)
        {
            KernelThrowHelper.ThrowDestinationTooShort(nameof(dx), dx.Length, length);
        }

        if (y.Length < length)
        {
            KernelThrowHelper.ThrowDestinationTooShort(nameof(y), y.Length, length);
        }

        bool needsInput = act.DerivativeNeedsInput;
        if (needsInput && x.Length < length)
        {
            KernelThrowHelper.ThrowDestinationTooShort(nameof(x), x.Length, length);
        }

        // When x is not needed it may be empty: read y in its place so no reference points past an empty span.
        ref T xr = ref needsInput ? ref MemoryMarshal.GetReference(x) : ref MemoryMarshal.GetReference(y);
        ref T yr = ref MemoryMarshal.GetReference(y);
        ref T dyr = ref MemoryMarshal.GetReference(dy);
        ref T dxr = ref MemoryMarshal.GetReference(dx);
        nuint n = (nuint)length;
        nuint i = 0;
        if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported)
        {
            nuint width = (nuint)Vector256<T>.Count;
            for (; i + width <= n; i += width)
            {
                Vector256<T> derivative = act.Derivative(Vector256.LoadUnsafe(ref xr, i), Vector256.LoadUnsafe(ref yr, i));
                (derivative * Vector256.LoadUnsafe(ref dyr, i)).StoreUnsafe(ref dxr, i);
            }
        }

        for (; i < n; i++)
        {
            Unsafe.Add(ref dxr, i) = act.Derivative(Unsafe.Add(ref xr, i), Unsafe.Add(ref yr, i)) * Unsafe.Add(ref dyr, i);
        }
    }
}
