using System;
using System.Diagnostics.CodeAnalysis;

namespace Dsl.Kernels;

/// <summary>
/// Throw helpers for the kernels: the message is built only on the failure path, so the callers
/// stay small enough to inline and allocate nothing when the arguments are valid.
/// </summary>
internal static class KernelThrowHelper
{
    [DoesNotReturn]
    public static void ThrowDestinationTooShort(string name, int length, int required) =>
        throw new ArgumentException($"{name} is too short: length {length}, needs at least {required}.", name);

    [DoesNotReturn]
    public static void ThrowLengthMismatch(string name, int length, string otherName, int otherLength) =>
        throw new ArgumentException($"{name} has length {length} but {otherName} has length {otherLength}; they must be equal.", name);

    [DoesNotReturn]
    public static void ThrowNegative(string name, int value) =>
        throw new ArgumentOutOfRangeException(name, value, $"{name} must be non-negative, was {value}.");

    [DoesNotReturn]
    public static void ThrowNotPositive(string name, int value) =>
        throw new ArgumentOutOfRangeException(name, value, $"{name} must be positive, was {value}.");

    [DoesNotReturn]
    public static void ThrowLabelOutOfRange(int row, int label, int classes) =>
        throw new ArgumentOutOfRangeException("labels", label, $"labels[{row}] = {label} is outside [0, {classes}) (row {row}, label {label}).");

    [DoesNotReturn]
    public static void ThrowRate(double rate) =>
        throw new ArgumentOutOfRangeException(nameof(rate), rate, $"rate must be in [0, 1), was {rate.ToString("R", System.Globalization.CultureInfo.InvariantCulture)}.");

    [DoesNotReturn]
    public static void ThrowSquarePlusB(double b) =>
        throw new ArgumentOutOfRangeException(nameof(b), b, $"b must be non-negative and finite, was {b.ToString("R", System.Globalization.CultureInfo.InvariantCulture)}.");

    /// <summary>For unreachable branches of the typeof(T) dispatch: only float and double have vector paths.</summary>
    [DoesNotReturn]
    public static TResult ThrowUnsupportedType<T, TResult>() =>
        throw new NotSupportedException($"Element type {typeof(T).Name} is not supported by the vector kernels; use float or double.");
}
