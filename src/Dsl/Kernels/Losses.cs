using System;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Dsl.Kernels;

/// <summary>Softmax followed by cross-entropy over integer labels, fused with its backward.</summary>
public static class SoftmaxCrossEntropy
{
    /// <summary>
    /// For each of <paramref name="rows"/> rows of <paramref name="classes"/> logits:
    /// loss_i = logsumexp(z_i) − z_i[y_i] (max-shifted). Returns mean_i loss_i (computed in double).
    /// Writes dLogits = (softmax(z_i) − e_{y_i}) · <paramref name="gradScale"/> (pass 1/rows for the mean).
    /// dLogits may alias logits. Throws <see cref="ArgumentOutOfRangeException"/> naming the row and
    /// the label when a label is outside [0, classes).
    /// </summary>
    /// <remarks>
    /// Backward of loss_i = ln Σ_j e^{z_ij} − z_i[y_i]: ∂loss_i/∂z_ij = softmax(z_i)_j − [j = y_i].
    /// Labels are all checked before anything is written. An empty batch (rows = 0) returns 0.
    /// </remarks>
    public static double ForwardBackward<T>(ReadOnlySpan<T> logits, ReadOnlySpan<int> labels, int rows, int classes, Span<T> dLogits, T gradScale)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Validate(logits.Length, labels, rows, classes);
        if (dLogits.Length < rows * classes)
        {
            KernelThrowHelper.ThrowDestinationTooShort(nameof(dLogits), dLogits.Length, rows * classes);
        }

        double total = 0;
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<T> z = logits.Slice(r * classes, classes);
            Span<T> d = dLogits.Slice(r * classes, classes);
            int label = labels[r];

            // Read everything needed from z before d (which may be the same memory) is written.
            T zLabel = z[label];
            T max = RowMath.Max(z);
            T sum = RowMath.ExpShifted(z, max, d); // d = e^{z − max}
            total += Math.Log(double.CreateTruncating(sum)) + (double.CreateTruncating(max) - double.CreateTruncating(zLabel));

            Elementwise.Scale<T>(d, gradScale / sum, d);
            d[label] -= gradScale;
        }

        return rows == 0 ? 0 : total / rows;
    }

    /// <summary>Mean loss only, no gradient.</summary>
    public static double Forward<T>(ReadOnlySpan<T> logits, ReadOnlySpan<int> labels, int rows, int classes)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Validate(logits.Length, labels, rows, classes);
        double total = 0;
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<T> z = logits.Slice(r * classes, classes);
            T max = RowMath.Max(z);
            T sum = RowMath.ExpShifted(z, max, default);
            total += Math.Log(double.CreateTruncating(sum)) + (double.CreateTruncating(max) - double.CreateTruncating(z[labels[r]]));
        }

        return rows == 0 ? 0 : total / rows;
    }

    private static void Validate(int logitsLength, ReadOnlySpan<int> labels, int rows, int classes)
    {
        if (rows < 0)
        {
            KernelThrowHelper.ThrowNegative(nameof(rows), rows);
        }

        if (classes <= 0)
        {
            KernelThrowHelper.ThrowNotPositive(nameof(classes), classes);
        }

        if ((long)rows * classes > logitsLength)
        {
            KernelThrowHelper.ThrowDestinationTooShort("logits", logitsLength, (int)Math.Min((long)rows * classes, int.MaxValue));
        }

        if (labels.Length < rows)
        {
            KernelThrowHelper.ThrowDestinationTooShort(nameof(labels), labels.Length, rows);
        }

        for (int r = 0; r < rows; r++)
        {
            // One unsigned compare catches negative labels too.
            if ((uint)labels[r] >= (uint)classes)
            {
                KernelThrowHelper.ThrowLabelOutOfRange(r, labels[r], classes);
            }
        }
    }
}

/// <summary>Mean squared error, fused with its backward.</summary>
public static class MeanSquaredError
{
    /// <summary>loss = mean over all rows·cols elements of (p − t)²; dPred = 2(p − t)/(rows·cols) · <paramref name="gradScale"/>. Returns the loss (double accumulation).</summary>
    /// <remarks>Backward of loss = (1/N) Σ (p − t)²: ∂loss/∂p = 2(p − t)/N. dPredictions may alias
    /// predictions. An empty input returns 0.</remarks>
    public static double ForwardBackward<T>(ReadOnlySpan<T> predictions, ReadOnlySpan<T> targets, Span<T> dPredictions, T gradScale)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (dPredictions.Length < predictions.Length)
        {
            KernelThrowHelper.ThrowDestinationTooShort(nameof(dPredictions), dPredictions.Length, predictions.Length);
        }

        return Run(predictions, targets, dPredictions, gradScale, writeGradient: true);
    }

    /// <summary>Loss only.</summary>
    public static double Forward<T>(ReadOnlySpan<T> predictions, ReadOnlySpan<T> targets)
        where T : unmanaged, IFloatingPointIeee754<T>
        => Run(predictions, targets, default, T.Zero, writeGradient: false);

    private static double Run<T>(ReadOnlySpan<T> predictions, ReadOnlySpan<T> targets, Span<T> dPredictions, T gradScale, bool writeGradient)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (targets.Length != predictions.Length)
        {
            KernelThrowHelper.ThrowLengthMismatch(nameof(targets), targets.Length, nameof(predictions), predictions.Length);
        }

        int length = predictions.Length;
        if (length == 0)
        {
            return 0;
        }

        ref T pr = ref MemoryMarshal.GetReference(predictions);
        ref T tr = ref MemoryMarshal.GetReference(targets);
        ref T dr = ref MemoryMarshal.GetReference(dPredictions);
        T coefficient = T.CreateTruncating(2.0 / length) * gradScale;
        nuint n = (nuint)length;
        nuint i = 0;
        double sum = 0;
        if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported && (typeof(T) == typeof(float) || typeof(T) == typeof(double)))
        {
            nuint width = (nuint)Vector256<T>.Count;
            Vector256<T> cv = Vector256.Create(coefficient);
            Vector256<double> acc0 = Vector256<double>.Zero;
            Vector256<double> acc1 = Vector256<double>.Zero;
            for (; i + width <= n; i += width)
            {
                Vector256<T> diff = Vector256.LoadUnsafe(ref pr, i) - Vector256.LoadUnsafe(ref tr, i);
                if (writeGradient)
                {
                    (diff * cv).StoreUnsafe(ref dr, i);
                }

                // The loss is summed in double lanes whatever T is: float differences are widened first.
                if (typeof(T) == typeof(float))
                {
                    (Vector256<double> lo, Vector256<double> hi) = Vector256.Widen(diff.AsSingle());
                    acc0 = Vector256.FusedMultiplyAdd(lo, lo, acc0);
                    acc1 = Vector256.FusedMultiplyAdd(hi, hi, acc1);
                }
                else
                {
                    Vector256<double> dd = diff.AsDouble();
                    acc0 = Vector256.FusedMultiplyAdd(dd, dd, acc0);
                }
            }

            sum = Vector256.Sum(acc0 + acc1);
        }

        for (; i < n; i++)
        {
            T diff = Unsafe.Add(ref pr, i) - Unsafe.Add(ref tr, i);
            if (writeGradient)
            {
                Unsafe.Add(ref dr, i) = diff * coefficient;
            }

            double dd = double.CreateTruncating(diff);
            sum += dd * dd;
        }

        return sum / length;
    }
}

/// <summary>Row reductions for the softmax losses.</summary>
internal static class RowMath
{
    /// <summary>max_j z[j] (NaN if any element is NaN); z must be non-empty.</summary>
    public static T Max<T>(ReadOnlySpan<T> z) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ref T zr = ref MemoryMarshal.GetReference(z);
        nuint n = (nuint)z.Length;
        nuint i = 0;
        T max = T.NegativeInfinity;
        if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported && n >= (nuint)Vector256<T>.Count)
        {
            nuint width = (nuint)Vector256<T>.Count;
            Vector256<T> m = Vector256.Create(T.NegativeInfinity);
            for (; i + width <= n; i += width)
            {
                m = Vector256.Max(m, Vector256.LoadUnsafe(ref zr, i));
            }

            for (int lane = 0; lane < Vector256<T>.Count; lane++)
            {
                max = T.Max(max, m.GetElement(lane));
            }
        }

        for (; i < n; i++)
        {
            max = T.Max(max, Unsafe.Add(ref zr, i));
        }

        return max;
    }

    /// <summary>Σ_j e^{z[j] − shift}; also writes the terms to <paramref name="terms"/> unless it is
    /// empty (it may alias z).</summary>
    public static T ExpShifted<T>(ReadOnlySpan<T> z, T shift, Span<T> terms) where T : unmanaged, IFloatingPointIeee754<T>
    {
        bool store = !terms.IsEmpty;
        ref T zr = ref MemoryMarshal.GetReference(z);
        ref T er = ref MemoryMarshal.GetReference(terms);
        nuint n = (nuint)z.Length;
        nuint i = 0;
        T sum = T.Zero;
        if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported && n >= (nuint)Vector256<T>.Count)
        {
            nuint width = (nuint)Vector256<T>.Count;
            Vector256<T> sv = Vector256.Create(shift);
            Vector256<T> acc = Vector256<T>.Zero;
            for (; i + width <= n; i += width)
            {
                Vector256<T> e = SimdMath.Exp(Vector256.LoadUnsafe(ref zr, i) - sv);
                if (store)
                {
                    e.StoreUnsafe(ref er, i);
                }

                acc += e;
            }

            sum = Vector256.Sum(acc);
        }

        for (; i < n; i++)
        {
            T e = T.Exp(Unsafe.Add(ref zr, i) - shift);
            if (store)
            {
                Unsafe.Add(ref er, i) = e;
            }

            sum += e;
        }

        return sum;
    }
}
