using System;

namespace Dsl.IO;

/// <summary>An IDX array (the MNIST file format): dimensions and raw unsigned-byte data.</summary>
/// <param name="Dimensions">Sizes, outermost first.</param>
/// <param name="Data">Row-major values.</param>
public sealed record IdxArray(int[] Dimensions, byte[] Data);

/// <summary>Reads IDX files (plain or gzip-compressed, detected by content), unsigned-byte type only.</summary>
public static class Idx
{
    /// <summary>Reads the file; throws <see cref="InvalidDataException"/> naming the file and the problem
    /// (bad magic, unsupported type, truncated data, trailing bytes, corrupt gzip) and
    /// <see cref="System.IO.FileNotFoundException"/> when it is missing.</summary>
    public static IdxArray Read(string path) => throw new NotImplementedException();
}
