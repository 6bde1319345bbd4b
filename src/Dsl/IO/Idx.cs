using System;
using System.Buffers.Binary;
using System.IO;

namespace Dsl.IO;

/// <summary>An IDX array (the MNIST file format): dimensions and raw unsigned-byte data.</summary>
/// <param name="Dimensions">Sizes, outermost first.</param>
/// <param name="Data">Row-major values.</param>
public sealed record IdxArray(int[] Dimensions, byte[] Data);

/// <summary>Reads IDX files (plain or gzip-compressed, detected by content), unsigned-byte type only. A gzip
/// file's trailers (CRC-32 and length) are checked, and nothing may follow its data (<see cref="GzipReader"/>).</summary>
public static class Idx
{
    private const byte UnsignedByteType = 0x08;

    // A gzip-compressed payload can claim a huge size in a tiny file, so the data buffer grows
    // as bytes actually arrive instead of being allocated from the header's word.
    private const int InitialChunk = 1 << 20;

    /// <summary>Reads the file; throws <see cref="InvalidDataException"/> naming the file and the problem
    /// (bad magic, unsupported type, truncated data, trailing bytes; for gzip: a bad header, a CRC-32 or length
    /// mismatch, a missing or cut trailer, data after the last member, undecodable deflate data) and
    /// <see cref="System.IO.FileNotFoundException"/> when it is missing.</summary>
    public static IdxArray Read(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        using FileStream file = OpenExisting(path);
        bool gzip = IsGzip(file);
        file.Position = 0;
        if (!gzip)
            return ReadPayload(path, file, file.Length);

        // The compressed bytes in memory (a gzip IDX file is a fraction of its payload): the trailers are
        // found and checked against them.
        byte[] compressed = new byte[file.Length];
        file.ReadExactly(compressed);
        using var unzipped = new GzipReader(path, compressed);
        return ReadPayload(path, unzipped, knownLength: null);
    }

    private static FileStream OpenExisting(string path)
    {
        try
        {
            return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1 << 16);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new FileNotFoundException($"IDX file not found: {path}", path, e);
        }
    }

    private static bool IsGzip(Stream file)
    {
        Span<byte> magic = stackalloc byte[2];
        return file.ReadAtLeast(magic, 2, throwOnEndOfStream: false) == 2 && magic[0] == 0x1F && magic[1] == 0x8B;
    }

    // knownLength is the stream's total length when known (raw files), so a truncated file is
    // reported without allocating the size the header claims.
    private static IdxArray ReadPayload(string path, Stream stream, long? knownLength)
    {
        Span<byte> magic = stackalloc byte[4];
        int got = stream.ReadAtLeast(magic, 4, throwOnEndOfStream: false);
        if (got < 4)
            throw new InvalidDataException(path, $"truncated header: expected 4 magic bytes, found {got}");
        if (magic[0] != 0 || magic[1] != 0)
            throw new InvalidDataException(path,
                $"bad magic: expected 00 00 <type> <rank>, found {magic[0]:X2} {magic[1]:X2} {magic[2]:X2} {magic[3]:X2}");
        if (magic[2] != UnsignedByteType)
            throw new InvalidDataException(path,
                $"unsupported element type 0x{magic[2]:X2} ({TypeName(magic[2])}); only 0x08 (unsigned byte) is supported");
        int rank = magic[3];
        if (rank == 0)
            throw new InvalidDataException(path, "bad header: dimension count is 0");

        byte[] sizeBytes = new byte[4 * rank];
        got = stream.ReadAtLeast(sizeBytes, sizeBytes.Length, throwOnEndOfStream: false);
        if (got < sizeBytes.Length)
            throw new InvalidDataException(path,
                $"truncated header: expected {sizeBytes.Length} bytes of dimension sizes, found {got}");

        int[] dims = new int[rank];
        long count = 1;
        for (int i = 0; i < rank; i++)
        {
            int size = BinaryPrimitives.ReadInt32BigEndian(sizeBytes.AsSpan(4 * i));
            if (size <= 0)
                throw new InvalidDataException(path, $"bad header: dimension {i} has size {size}, expected a positive size");
            dims[i] = size;
            // Sizes are at most 2^31 each, so the product only needs checking against the array limit
            // after every step to stay far from long overflow.
            count *= size;
            if (count > Array.MaxLength)
                throw new InvalidDataException(path,
                    $"bad header: dimensions [{string.Join(", ", dims[..(i + 1)])}...] hold more than {Array.MaxLength} elements");
        }

        int expected = (int)count;
        long headerLength = 4 + sizeBytes.Length;
        if (knownLength is long total && total - headerLength < expected)
            throw new InvalidDataException(path, $"truncated: expected {expected} data bytes, found {total - headerLength}");

        byte[] data = ReadData(path, stream, expected);

        long trailing = CountRemaining(stream);
        if (trailing > 0)
            throw new InvalidDataException(path, $"trailing bytes: {trailing} bytes after the {expected} data bytes");
        return new IdxArray(dims, data);
    }

    private static byte[] ReadData(string path, Stream stream, int expected)
    {
        byte[] data = new byte[Math.Min(expected, InitialChunk)];
        int filled = 0;
        while (filled < expected)
        {
            if (filled == data.Length)
                Array.Resize(ref data, (int)Math.Min(expected, 2L * data.Length));
            int n = stream.Read(data, filled, data.Length - filled);
            if (n == 0)
                throw new InvalidDataException(path, $"truncated: expected {expected} data bytes, found {filled}");
            filled += n;
        }
        return data;
    }

    private static long CountRemaining(Stream stream)
    {
        Span<byte> scratch = stackalloc byte[4096];
        long total = 0;
        int n;
        while ((n = stream.Read(scratch)) > 0)
            total += n;
        return total;
    }

    private static string TypeName(byte type) => type switch
    {
        0x09 => "signed byte",
        0x0B => "int16",
        0x0C => "int32",
        0x0D => "float32",
        0x0E => "float64",
        _ => "not an IDX type",
    };
}
