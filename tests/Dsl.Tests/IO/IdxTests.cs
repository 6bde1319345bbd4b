using System;
using System.Buffers.Binary;
using System.IO;
using System.IO.Compression;
using System.Linq;
using Dsl.IO;
using Xunit;
using InvalidDataException = Dsl.IO.InvalidDataException;

namespace Dsl.Tests.IO;

public sealed class IdxTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>IDX bytes: 00 00 type rank, big-endian sizes, then the data.</summary>
    internal static byte[] Build(int[] dims, byte[] data, byte type = 0x08)
    {
        byte[] bytes = new byte[4 + 4 * dims.Length + data.Length];
        bytes[2] = type;
        bytes[3] = (byte)dims.Length;
        for (int i = 0; i < dims.Length; i++)
            BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(4 + 4 * i), dims[i]);
        data.CopyTo(bytes, 4 + 4 * dims.Length);
        return bytes;
    }

    internal static byte[] Gzip(byte[] bytes)
    {
        using var output = new MemoryStream();
        using (var gz = new GZipStream(output, CompressionLevel.Optimal))
            gz.Write(bytes);
        return output.ToArray();
    }

    private static byte[] Sequence(int n) => Enumerable.Range(0, n).Select(i => (byte)(i * 7 + 3)).ToArray();

    private string Save(string name, byte[] bytes)
    {
        string path = _dir.File(name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private InvalidDataException AssertInvalid(string name, byte[] bytes, string problem)
    {
        string path = Save(name, bytes);
        var ex = Assert.Throws<InvalidDataException>(() => Idx.Read(path));
        Assert.Equal(path, ex.Path);
        Assert.Contains(path, ex.Message);
        Assert.Contains(problem, ex.Message);
        return ex;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Read_RoundTripsThreeDimensionalArray(bool gzip)
    {
        byte[] data = Sequence(2 * 3 * 4);
        byte[] raw = Build([2, 3, 4], data);
        string path = Save("a.idx", gzip ? Gzip(raw) : raw);

        IdxArray array = Idx.Read(path);

        Assert.Equal([2, 3, 4], array.Dimensions);
        Assert.Equal(data, array.Data);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Read_RoundTripsVectorLargerThanOneChunk(bool gzip)
    {
        // Bigger than the reader's first buffer, so the growing path is exercised too.
        byte[] data = Sequence(3_000_001);
        byte[] raw = Build([data.Length], data);
        string path = Save("v.idx", gzip ? Gzip(raw) : raw);

        IdxArray array = Idx.Read(path);

        Assert.Equal([data.Length], array.Dimensions);
        Assert.True(data.AsSpan().SequenceEqual(array.Data));
    }

    [Fact]
    public void Read_MissingFile_ThrowsFileNotFoundNamingPath()
    {
        string path = _dir.File("nope.idx");
        var ex = Assert.Throws<FileNotFoundException>(() => Idx.Read(path));
        Assert.Equal(path, ex.FileName);
        Assert.Contains(path, ex.Message);
    }

    [Fact]
    public void Read_MissingDirectory_ThrowsFileNotFound()
    {
        string path = Path.Combine(_dir.File("no-such-dir"), "x.idx");
        var ex = Assert.Throws<FileNotFoundException>(() => Idx.Read(path));
        Assert.Contains(path, ex.Message);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Read_TruncatedData_ReportsExpectedAndFoundCounts(bool gzip)
    {
        byte[] raw = Build([2, 3, 4], Sequence(19));
        AssertInvalid("t.idx", gzip ? Gzip(raw) : raw, "truncated: expected 24 data bytes, found 19");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Read_TrailingBytes_Rejected(bool gzip)
    {
        byte[] raw = Build([2, 3], Sequence(6 + 5));
        AssertInvalid("tr.idx", gzip ? Gzip(raw) : raw, "trailing bytes: 5 bytes after the 6 data bytes");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Read_BadMagic_Rejected(bool gzip)
    {
        byte[] raw = Build([4], Sequence(4));
        raw[0] = 0x12;
        AssertInvalid("m.idx", gzip ? Gzip(raw) : raw, "bad magic");
    }

    [Theory]
    [InlineData(0x09, "signed byte")]
    [InlineData(0x0B, "int16")]
    [InlineData(0x0C, "int32")]
    [InlineData(0x0D, "float32")]
    [InlineData(0x0E, "float64")]
    [InlineData(0x42, "not an IDX type")]
    public void Read_UnsupportedType_NamesTheType(byte type, string typeName)
    {
        byte[] raw = Build([4], Sequence(4), type);
        var ex = AssertInvalid("ty.idx", raw, $"unsupported element type 0x{type:X2} ({typeName})");
        Assert.Contains("only 0x08", ex.Problem);
    }

    [Fact]
    public void Read_CorruptGzip_WrapsDecoderError()
    {
        // A valid gzip member header followed by a deflate block of the reserved type 3.
        byte[] bytes = [0x1F, 0x8B, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0x03, .. Enumerable.Repeat((byte)0xFF, 32)];
        var ex = AssertInvalid("c.idx.gz", bytes, "corrupt gzip data");
        Assert.IsType<System.IO.InvalidDataException>(ex.InnerException);
    }

    [Fact]
    public void Read_GzipWithFlippedPayloadByte_Rejected()
    {
        byte[] gz = Gzip(Build([64, 64], Sequence(64 * 64)));
        // Damage the compressed body (past the 10-byte member header): either the decoder or the
        // CRC check has to notice; a silent misread is the failure this guards against.
        gz[gz.Length / 2] ^= 0x55;
        string path = Save("f.idx.gz", gz);
        var ex = Assert.Throws<InvalidDataException>(() => Idx.Read(path));
        Assert.Contains(path, ex.Message);
    }

    [Fact]
    public void Read_GzipCutShort_Rejected()
    {
        // A download cut off mid-stream: whether the decoder complains or just stops early,
        // the result must be an error naming the file, never a short array.
        byte[] gz = Gzip(Build([64, 64], Sequence(64 * 64)));
        string path = Save("cut.idx.gz", gz[..(gz.Length / 2)]);
        var ex = Assert.Throws<InvalidDataException>(() => Idx.Read(path));
        Assert.Contains(path, ex.Message);
        Assert.Matches("truncated|corrupt gzip", ex.Problem);
    }

    [Fact]
    public void Read_EmptyFile_ReportsTruncatedHeader()
        => AssertInvalid("e.idx", [], "truncated header: expected 4 magic bytes, found 0");

    [Fact]
    public void Read_TruncatedDimensionSizes_Rejected()
        => AssertInvalid("h.idx", [0, 0, 8, 3, 0, 0, 0, 2, 0, 0], "truncated header: expected 12 bytes of dimension sizes, found 6");

    [Fact]
    public void Read_ZeroRank_Rejected()
        => AssertInvalid("r.idx", [0, 0, 8, 0], "dimension count is 0");

    [Theory]
    [InlineData(0)]
    [InlineData(-5)]
    public void Read_NonPositiveSize_Rejected(int size)
        => AssertInvalid("z.idx", Build([3, size], []), $"dimension 1 has size {size}");

    [Fact]
    public void Read_SizeProductBeyondArrayLimit_Rejected()
        => AssertInvalid("o.idx", Build([65536, 65536, 2], []), "hold more than");

    [Fact]
    public void Read_HugeClaimInTinyGzip_ReportsTruncationWithoutAllocatingClaim()
    {
        byte[] raw = Build([2_000_000_000], Sequence(10));
        AssertInvalid("big.idx.gz", Gzip(raw), "truncated: expected 2000000000 data bytes, found 10");
    }
}
