using System;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Dsl.Kernels;

/// <summary>Adds the bias <c>arena[biasOffset + col]</c> to every element.</summary>
public readonly struct BiasEpilogue<T>(T[] arena, int biasOffset) : IGemmEpilogue<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>c[offset + j] += arena[biasOffset + col0 + j] for j &lt; length.</summary>
    public void Apply(T[] c, int offset, int row, int col0, int length)
    {
        // AsSpan bounds-checks both ranges once; the loop below then runs without checks.
        Span<T> segment = c.AsSpan(offset, length);
        ReadOnlySpan<T> bias = arena.AsSpan(biasOffset + col0, length);
        Elementwise.AddInPlace<T>(segment, bias);
    }
}

/// <summary>
/// z = c + bias (bias optional: <paramref name="biasOffset"/> &lt; 0 means none); when
/// <paramref name="preActivationOffset"/> ≥ 0 stores z at <c>arena[preActivationOffset + row*ld + col]</c>
/// with ld = <paramref name="preActivationStride"/>; then c = f(z).
/// </summary>
public readonly struct BiasActivationEpilogue<T, TAct>(T[] arena, int biasOffset, TAct activation, int preActivationOffset, int preActivationStride) : IGemmEpilogue<T>
    where T : unmanaged, IFloatingPointIeee754<T>
    where TAct : struct, IActivation<T>
{
    /// <summary>
    /// For j &lt; length: z = c[offset + j] + arena[biasOffset + col0 + j] (no bias when biasOffset &lt; 0);
    /// arena[preActivationOffset + row·preActivationStride + col0 + j] = z (when preActivationOffset ≥ 0);
    /// c[offset + j] = f(z).
    /// </summary>
    public void Apply(T[] c, int offset, int row, int col0, int length)
    {
        Span<T> segment = c.AsSpan(offset, length);
        ReadOnlySpan<T> bias = biasOffset >= 0 ? arena.AsSpan(biasOffset + col0, length) : default;
        Span<T> pre = preActivationOffset >= 0 ? arena.AsSpan(preActivationOffset + (row * preActivationStride) + col0, length) : default;
        EpilogueLoops.BiasActivation(segment, bias, biasOffset >= 0, pre, preActivationOffset >= 0, activation);
    }
}

/// <summary>The loops behind the epilogue structs (kept apart so each struct stays a few fields).</summary>
internal static class EpilogueLoops
{
    public static void BiasActivation<T, TAct>(Span<T> c, ReadOnlySpan<T> bias, bool hasBias, Span<T> pre, bool storePre, TAct act)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TAct : struct, IActivation<T>
    {
        ref T cr = ref MemoryMarshal.GetReference(c);
        // Without a bias, read c again in its place and add zero: one loop body for both cases.
        ref T br = ref hasBias ? ref MemoryMarshal.GetReference(bias) : ref cr;
        ref T pr = ref MemoryMarshal.GetReference(pre);
        nuint n = (nuint)c.Length;
        nuint i = 0;
        if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported)
        {
            nuint width = (nuint)Vector256<T>.Count;
            Vector256<T> biasMask = hasBias ? Vector256<T>.AllBitsSet : Vector256<T>.Zero;
            for (; i + width <= n; i += width)
            {
                Vector256<T> z = Vector256.LoadUnsafe(ref cr, i) + (Vector256.LoadUnsafe(ref br, i) & biasMask);
                if (storePre)
                {
                    z.StoreUnsafe(ref pr, i);
                }

                act.Forward(z).StoreUnsafe(ref cr, i);
            }
        }

        for (; i < n; i++)
        {
            T z = hasBias ? Unsafe.Add(ref cr, i) + Unsafe.Add(ref br, i) : Unsafe.Add(ref cr, i);
            if (storePre)
            {
                Unsafe.Add(ref pr, i) = z;
            }

            Unsafe.Add(ref cr, i) = act.Forward(z);
        }
    }
}
