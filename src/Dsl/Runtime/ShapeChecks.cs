using System;
using System.Collections.Generic;
using System.Globalization;
using Dsl.IO;

namespace Dsl.Runtime;

/// <summary>Run-time shape validation for generated code: every message names the expected and
/// the actual shape.</summary>
public static class ShapeChecks
{
    /// <summary>Checks a training batch: <paramref name="inputLength"/> = batch × inputFeatures where batch =
    /// targetLength / targetWidth, and 1 ≤ batch ≤ maxBatch.</summary>
    public static void Batch(int inputLength, int targetLength, int inputFeatures, int targetWidth, int maxBatch, string targetName)
    {
        if (targetLength % targetWidth != 0)
            throw new ArgumentException(Invariant($"{targetName}: expected shape [batch, {targetWidth}], got {targetLength} values, not a multiple of {targetWidth}"), targetName);
        int batch = targetLength / targetWidth;
        if (batch < 1 || batch > maxBatch)
            throw new ArgumentException(Invariant($"{targetName}: {batch} rows is outside [1, {maxBatch}] (the most rows a step holds is {maxBatch})"), targetName);
        if (inputLength != batch * inputFeatures)
            throw new ArgumentException(Invariant($"inputs: expected shape [{batch}, {inputFeatures}] ({batch * inputFeatures} values) to match {batch} rows of {targetName}, got {inputLength} values"), "inputs");
    }

    /// <summary>Number of rows of a buffer of <paramref name="length"/> values, <paramref name="width"/> per row.</summary>
    public static int Rows(int length, int width, string name)
    {
        if (length % width != 0)
            throw new ArgumentException(Invariant($"{name}: expected shape [rows, {width}], got {length} values, not a multiple of {width}"), name);
        return length / width;
    }

    /// <summary>Number of examples in <paramref name="rows"/> rows of a model with <paramref name="sequence"/> rows per example.</summary>
    public static int Examples(int rows, int sequence, string name)
    {
        if (rows % sequence != 0)
            throw new ArgumentException(Invariant($"{name}: {rows} rows are not whole examples of {sequence} positions (the model's sequence length)"), name);
        return rows / sequence;
    }

    /// <summary>Checks that a buffer holds exactly rows × width values.</summary>
    public static void Length(int length, int rows, int width, string name)
    {
        if (length != rows * width)
            throw new ArgumentException(Invariant($"{name}: expected shape [{rows}, {width}] ({rows * width} values), got {length} values"), name);
    }

    /// <summary>Checks that a checkpoint holds <paramref name="name"/> with shape <paramref name="shape"/>.</summary>
    public static void Checkpoint(string path, IReadOnlyDictionary<string, SafeTensor> file, string name, int[] shape)
    {
        if (!file.TryGetValue(name, out var tensor))
            throw new Dsl.IO.InvalidDataException(path, Invariant($"tensor '{name}' is missing (the model expects shape [{string.Join(", ", shape)}])"));
        if (!tensor.Shape.AsSpan().SequenceEqual(shape))
            throw new Dsl.IO.InvalidDataException(path, Invariant($"tensor '{name}' has shape [{string.Join(", ", tensor.Shape)}], the model expects [{string.Join(", ", shape)}]"));
    }

    private static string Invariant(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
