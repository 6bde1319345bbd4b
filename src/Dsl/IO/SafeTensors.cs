using System;
using System.Collections.Generic;

namespace Dsl.IO;

/// <summary>One tensor of a safetensors file.</summary>
/// <param name="Name">Tensor name.</param>
/// <param name="Shape">Dimensions.</param>
/// <param name="Data">Values (F32 in the file).</param>
public sealed record SafeTensor(string Name, int[] Shape, float[] Data);

/// <summary>
/// The safetensors format: 8-byte little-endian header length N, N bytes of UTF-8 JSON
/// <c>{"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}}</c>,
/// then the data. Writes are atomic (temporary file, then rename): a failed save leaves the old file intact.
/// </summary>
public static class SafeTensors
{
    /// <summary>Writes tensors in the given order with optional string metadata.</summary>
    public static void Write(string path, IReadOnlyList<SafeTensor> tensors, IReadOnlyDictionary<string, string>? metadata = null) => throw new NotImplementedException();

    /// <summary>Reads every tensor; throws <see cref="InvalidDataException"/> naming the file and the problem
    /// (short file, header length beyond the file, malformed JSON, unknown dtype, offsets out of range,
    /// overlapping or leaving gaps, shape not matching the byte count).</summary>
    public static IReadOnlyDictionary<string, SafeTensor> Read(string path) => throw new NotImplementedException();
}
