using System;
using System.Numerics;

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
    public static double ForwardBackward<T>(ReadOnlySpan<T> logits, ReadOnlySpan<int> labels, int rows, int classes, Span<T> dLogits, T gradScale)
        where T : unmanaged, IFloatingPointIeee754<T> => throw new NotImplementedException();

    /// <summary>Mean loss only, no gradient.</summary>
    public static double Forward<T>(ReadOnlySpan<T> logits, ReadOnlySpan<int> labels, int rows, int classes)
        where T : unmanaged, IFloatingPointIeee754<T> => throw new NotImplementedException();
}

/// <summary>Mean squared error, fused with its backward.</summary>
public static class MeanSquaredError
{
    /// <summary>loss = mean over all rows·cols elements of (p − t)²; dPred = 2(p − t)/(rows·cols) · <paramref name="gradScale"/>. Returns the loss (double accumulation).</summary>
    public static double ForwardBackward<T>(ReadOnlySpan<T> predictions, ReadOnlySpan<T> targets, Span<T> dPredictions, T gradScale)
        where T : unmanaged, IFloatingPointIeee754<T> => throw new NotImplementedException();

    /// <summary>Loss only.</summary>
    public static double Forward<T>(ReadOnlySpan<T> predictions, ReadOnlySpan<T> targets)
        where T : unmanaged, IFloatingPointIeee754<T> => throw new NotImplementedException();
}
