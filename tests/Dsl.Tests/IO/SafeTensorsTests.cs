using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json;
using Dsl.IO;
using Xunit;
using InvalidDataException = Dsl.IO.InvalidDataException;

namespace Dsl.Tests.IO;

public sealed class SafeTensorsTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    // Produced by a standalone Python script (struct + json + numpy, no code of ours) following the
    // format spec: JSON with ", "/": " separators, keys not in data order, metadata in the middle,
    // a non-ASCII metadata value, space padding to 8 bytes, and F64, F32, F16, BF16 tensors whose
    // data order (dbl, weight, half, bf) differs from the header order.
    private const string PythonFileHex =
        "40010000000000007b22776569676874223a207b226474797065223a2022463332222c20227368617065223a205b322c20335d2c2022646174615f6f6666736574" +
        "73223a205b382c2033325d7d2c20225f5f6d657461646174615f5f223a207b22666f726d6174223a20227074222c20226e6f7465223a2022636166c3a9227d2c20" +
        "2268616c66223a207b226474797065223a2022463136222c20227368617065223a205b325d2c2022646174615f6f666673657473223a205b33322c2033365d7d2c20" +
        "226266223a207b226474797065223a202242463136222c20227368617065223a205b335d2c2022646174615f6f666673657473223a205b33362c2034325d7d2c2022" +
        "64626c223a207b226474797065223a2022463634222c20227368617065223a205b315d2c2022646174615f6f666673657473223a205b302c20385d7d7d2020202020" +
        "9a9999999999b93f0000803f000020c000005040000000006f12833a00000080003e00b4803f00c0003f";

    private static int Bits(float f) => BitConverter.SingleToInt32Bits(f);

    private static void AssertSameBits(float[] expected, float[] actual)
        => Assert.Equal(expected.Select(Bits), actual.Select(Bits));

    /// <summary>A file from a header string (padded with spaces to 8 bytes) and a data section.</summary>
    private static byte[] Compose(string header, byte[] data)
    {
        byte[] json = Encoding.UTF8.GetBytes(header);
        int padded = (json.Length + 7) / 8 * 8;
        byte[] file = new byte[8 + padded + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(file, (ulong)padded);
        json.CopyTo(file, 8);
        file.AsSpan(8 + json.Length, padded - json.Length).Fill((byte)' ');
        data.CopyTo(file, 8 + padded);
        return file;
    }

    private static byte[] Floats(params float[] values)
    {
        byte[] bytes = new byte[4 * values.Length];
        for (int i = 0; i < values.Length; i++)
            BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(4 * i), values[i]);
        return bytes;
    }

    private string Save(string name, byte[] bytes)
    {
        string path = _dir.File(name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private void AssertInvalid(byte[] bytes, string problem)
    {
        string path = Save("bad.safetensors", bytes);
        var ex = Assert.Throws<InvalidDataException>(() => SafeTensors.Read(path));
        Assert.Equal(path, ex.Path);
        Assert.Contains(path, ex.Message);
        Assert.Contains(problem, ex.Problem);
    }

    private string[] TempFiles() => Directory.GetFiles(_dir.Path, "*.tmp-*");

    private static SafeTensor[] Sample() =>
    [
        new("layer0.weight", [2, 3], [1f, -2.5f, 3.25f, 0f, -0f, float.Epsilon]),
        new("layer0.bias", [3], [float.PositiveInfinity, float.NegativeInfinity, BitConverter.Int32BitsToSingle(0x7FC12345)]),
        new("scalar", [], [42f]),
        new("empty", [0, 5], []),
        new("naïve/ünïcode", [1, 1, 2], [float.MaxValue, float.MinValue]),
    ];

    [Fact]
    public void Write_ThenRead_RoundTripsNamesShapesBitsAndMetadata()
    {
        string path = _dir.File("model.safetensors");
        SafeTensor[] tensors = Sample();
        var metadata = new Dictionary<string, string> { ["format"] = "pt", ["epoch"] = "7", ["note"] = "quote \" and ünïcode" };

        SafeTensors.Write(path, tensors, metadata);
        var (read, readMetadata) = SafeTensors.ReadWithMetadata(path);

        Assert.Equal(tensors.Select(t => t.Name), read.Keys);
        foreach (SafeTensor expected in tensors)
        {
            SafeTensor actual = read[expected.Name];
            Assert.Equal(expected.Name, actual.Name);
            Assert.Equal(expected.Shape, actual.Shape);
            AssertSameBits(expected.Data, actual.Data);
        }
        Assert.Equal(metadata.OrderBy(p => p.Key), readMetadata.OrderBy(p => p.Key));
        Assert.Empty(TempFiles());
    }

    [Fact]
    public void Read_WithoutMetadata_MatchesReadWithMetadata()
    {
        string path = _dir.File("plain.safetensors");
        SafeTensors.Write(path, Sample());

        var tensors = SafeTensors.Read(path);
        var (same, metadata) = SafeTensors.ReadWithMetadata(path);

        Assert.Equal(Sample().Select(t => t.Name), tensors.Keys);
        Assert.Equal(same.Keys, tensors.Keys);
        Assert.Empty(metadata);
    }

    [Fact]
    public void Write_ProducesSpecLayout()
    {
        // Checked byte by byte against the format, not through our reader.
        string path = _dir.File("layout.safetensors");
        SafeTensor[] tensors = Sample();
        SafeTensors.Write(path, tensors, new Dictionary<string, string> { ["k"] = "v" });
        byte[] file = File.ReadAllBytes(path);

        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(file);
        Assert.Equal(0UL, n % 8);
        byte[] header = file[8..(8 + (int)n)];
        Assert.Equal((byte)'{', header[0]);
        string text = Encoding.UTF8.GetString(header);
        Assert.Equal(text.TrimEnd(' ').Length, text.TrimEnd().Length);
        Assert.Contains("naïve/ünïcode", text); // raw UTF-8, as the reference writer emits it

        using JsonDocument doc = JsonDocument.Parse(text.TrimEnd(' '));
        Assert.Equal("v", doc.RootElement.GetProperty("__metadata__").GetProperty("k").GetString());
        int dataStart = 8 + (int)n;
        long expectedBegin = 0;
        foreach (SafeTensor t in tensors)
        {
            JsonElement entry = doc.RootElement.GetProperty(t.Name);
            Assert.Equal("F32", entry.GetProperty("dtype").GetString());
            Assert.Equal(t.Shape, entry.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()));
            long begin = entry.GetProperty("data_offsets")[0].GetInt64();
            long end = entry.GetProperty("data_offsets")[1].GetInt64();
            Assert.Equal(expectedBegin, begin); // written in the given order, contiguous
            Assert.Equal(4L * t.Data.Length, end - begin);
            Assert.Equal(Floats(t.Data), file[(dataStart + (int)begin)..(dataStart + (int)end)]);
            expectedBegin = end;
        }
        Assert.Equal(dataStart + expectedBegin, file.Length);
    }

    [Fact]
    public void Read_HandBuiltFileFromSpec()
    {
        byte[] header = Encoding.UTF8.GetBytes("{\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]},\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}    ");
        Assert.Equal(112, header.Length); // 108 bytes of JSON + 4 spaces of padding to a multiple of 8
        byte[] file =
        [
            0x70, 0, 0, 0, 0, 0, 0, 0, // u64 little-endian header length
            .. header,
            0x00, 0x00, 0x80, 0x3F,     // a[0] = 1.0f
            0x00, 0x00, 0x00, 0xC0,     // a[1] = -2.0f
            0xDB, 0x0F, 0x49, 0x40,     // b[0] = 3.14159274f
        ];
        string path = Save("hand.safetensors", file);

        var tensors = SafeTensors.Read(path);

        Assert.Equal(["b", "a"], tensors.Keys);
        Assert.Equal([2], tensors["a"].Shape);
        Assert.Equal([1f, -2f], tensors["a"].Data);
        Assert.Equal([1], tensors["b"].Shape);
        Assert.Equal(MathF.PI, tensors["b"].Data[0]);
    }

    [Fact]
    public void Read_PythonProducedFile_ConvertsAllFloatDtypes()
    {
        string path = Save("py.safetensors", Convert.FromHexString(PythonFileHex));

        var (tensors, metadata) = SafeTensors.ReadWithMetadata(path);

        Assert.Equal(["weight", "half", "bf", "dbl"], tensors.Keys);
        Assert.Equal([2, 3], tensors["weight"].Shape);
        AssertSameBits([1f, -2.5f, 3.25f, 0f, 1e-3f, -0f], tensors["weight"].Data);
        Assert.Equal([1.5f, -0.25f], tensors["half"].Data);
        Assert.Equal([1f, -2f, 0.5f], tensors["bf"].Data);
        Assert.Equal([(float)0.1], tensors["dbl"].Data);
        Assert.Equal("pt", metadata["format"]);
        Assert.Equal("café", metadata["note"]);
    }

    [Fact]
    public void Read_MissingFile_ThrowsFileNotFound()
    {
        string path = _dir.File("absent.safetensors");
        var ex = Assert.Throws<FileNotFoundException>(() => SafeTensors.Read(path));
        Assert.Contains(path, ex.Message);
    }

    private const string A8 = "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}";

    public static TheoryData<string, byte[], string> Malformed => new()
    {
        { "short file", [1, 0, 0, 0, 0], "file is 5 bytes, shorter than the 8-byte header length prefix" },
        { "header beyond file", [.. BitConverter.GetBytes(1000UL), .. "{}      "u8.ToArray()], "header length 1000 is beyond the end of the file (8 bytes follow the prefix)" },
        { "absurd header", [.. BitConverter.GetBytes(1UL << 40), .. "{}      "u8.ToArray()], "header length 1099511627776 is larger than the 100000000-byte limit" },
        { "invalid utf-8", [.. BitConverter.GetBytes(8UL), (byte)'{', (byte)'"', 0xC3, 0x28, (byte)'"', (byte)':', 0, (byte)'}'], "header is not valid UTF-8" },
        { "invalid json", Compose("{\"a\":{\"dtype\":", []), "header is not valid JSON" },
        { "json not an object", Compose("[1, 2]", []), "header is a JSON Array, expected an object" },
        { "entry not an object", Compose("{\"a\":3}", []), "tensor 'a': entry is a JSON Number, expected an object" },
        { "missing dtype", Compose("{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", new byte[8]), "tensor 'a': missing field \"dtype\"" },
        { "missing shape", Compose("{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", new byte[8]), "tensor 'a': missing field \"shape\"" },
        { "missing offsets", Compose("{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", new byte[8]), "tensor 'a': missing field \"data_offsets\"" },
        { "dtype not a string", Compose("{\"a\":{\"dtype\":4,\"shape\":[2],\"data_offsets\":[0,8]}}", new byte[8]), "tensor 'a': field \"dtype\" is a JSON Number, expected String" },
        { "unknown dtype", Compose("{\"a\":{\"dtype\":\"Q7\",\"shape\":[2],\"data_offsets\":[0,8]}}", new byte[8]), "tensor 'a': unknown dtype 'Q7'" },
        { "unsupported dtype", Compose("{\"a\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}", new byte[8]), "tensor 'a': unsupported dtype 'I64'" },
        { "negative shape", Compose("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", new byte[8]), "tensor 'a': shape[0] is negative (-2)" },
        { "fractional shape", Compose("{\"a\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,8]}}", new byte[8]), "tensor 'a': shape[0] is 2.5, expected an integer" },
        { "overflowing shape", Compose("{\"a\":{\"dtype\":\"F32\",\"shape\":[2147483647,2147483647,4],\"data_offsets\":[0,8]}}", new byte[8]), "overflows" },
        { "huge dimension", Compose("{\"a\":{\"dtype\":\"F32\",\"shape\":[99999999999],\"data_offsets\":[0,8]}}", new byte[8]), "tensor 'a': shape[0] = 99999999999 is too large" },
        { "three offsets", Compose("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4,8]}}", new byte[8]), "data_offsets has 3 values, expected [begin, end]" },
        { "negative offset", Compose("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]}}", new byte[8]), "data_offsets begin is negative (-8)" },
        { "end before begin", Compose("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", new byte[8]), "tensor 'a': data_offsets end 0 is before begin 8" },
        { "end beyond data", Compose("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", new byte[8]), "tensor 'a': data_offsets end 12 is beyond the data section (8 bytes)" },
        { "byte count mismatch", Compose("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", new byte[8]), "tensor 'a': data_offsets cover 8 bytes but shape [3] of F32 needs 12" },
        { "overlap", Compose("{" + A8 + ",\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", new byte[12]), "tensor 'b' (bytes 4..12) overlaps tensor 'a' (bytes 0..8)" },
        { "gap between", Compose("{" + A8 + ",\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]}}", new byte[20]), "gap in the data section: bytes 8..12 before tensor 'b'" },
        { "gap at start", Compose("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", new byte[8]), "gap in the data section: bytes 0..4 before tensor 'a'" },
        { "gap at end", Compose("{" + A8 + "}", new byte[12]), "gap in the data section: bytes 8..12 at the end" },
        { "duplicate name", Compose("{" + A8 + "," + A8 + "}", new byte[8]), "duplicate tensor name 'a'" },
        { "repeated dtype", Compose("{\"a\":{\"dtype\":\"F16\",\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", new byte[8]), "tensor 'a': field \"dtype\" appears more than once" },
        { "repeated shape", Compose("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"shape\":[2],\"data_offsets\":[0,8]}}", new byte[8]), "tensor 'a': field \"shape\" appears more than once" },
        { "repeated offsets", Compose("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"data_offsets\":[0,8]}}", new byte[8]), "tensor 'a': field \"data_offsets\" appears more than once" },
        { "metadata not an object", Compose("{\"__metadata__\":[],\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}}", []), "'__metadata__' is a JSON Array" },
        { "metadata value not a string", Compose("{\"__metadata__\":{\"epoch\":3}}", []), "'__metadata__' value for 'epoch' is a JSON Number, expected a string" },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public void Read_Malformed_ThrowsInvalidDataNamingTheProblem(string description, byte[] file, string problem)
    {
        Assert.NotEmpty(description);
        AssertInvalid(file, problem);
    }

    [Fact]
    public void Read_EmptyHeaderObject_IsAnEmptyFile()
    {
        string path = Save("none.safetensors", Compose("{}", []));
        Assert.Empty(SafeTensors.Read(path));
    }

    public static TheoryData<string, SafeTensor[], string> InvalidForWrite => new()
    {
        { "empty name", [new("", [1], [1f])], "empty name" },
        { "duplicate", [new("w", [1], [1f]), new("w", [1], [2f])], "duplicate tensor name 'w'" },
        { "reserved", [new("__metadata__", [1], [1f])], "reserved" },
        { "length mismatch", [new("ok", [1], [1f]), new("w", [2, 2], [1f, 2f, 3f])], "shape [2, 2] holds 4 values but data has 3" },
        { "negative dim", [new("w", [-1, 2], [])], "negative dimension" },
        { "too large", [new("w", [65536, 65536], [])], "too large" },
    };

    [Theory]
    [MemberData(nameof(InvalidForWrite))]
    public void Write_InvalidTensors_ThrowsAndLeavesPreviousFileIntact(string description, SafeTensor[] tensors, string problem)
    {
        Assert.NotEmpty(description);
        string path = _dir.File("keep.safetensors");
        SafeTensors.Write(path, Sample());
        byte[] before = File.ReadAllBytes(path);

        var ex = Assert.Throws<ArgumentException>(() => SafeTensors.Write(path, tensors));

        Assert.Contains(problem, ex.Message);
        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Empty(TempFiles());
    }

    [Fact]
    public void Write_InvalidTensors_CreatesNoFile()
    {
        string path = _dir.File("never.safetensors");
        Assert.Throws<ArgumentException>(() => SafeTensors.Write(path, [new SafeTensor("w", [3], [1f])]));
        Assert.False(File.Exists(path));
        Assert.Empty(Directory.GetFiles(_dir.Path));
    }

    [Fact]
    public void Write_FailureAfterDataWritten_LeavesPreviousFileAndNoTemp()
    {
        string path = _dir.File("ckpt.safetensors");
        SafeTensors.Write(path, Sample(), new Dictionary<string, string> { ["v"] = "1" });
        byte[] before = File.ReadAllBytes(path);
        string? seenTemp = null;

        var ex = Assert.Throws<IOException>(() => SafeTensors.Write(path, [new SafeTensor("other", [2], [5f, 6f])], null,
            beforeCommit: temp =>
            {
                seenTemp = temp;
                // The new content is complete in the temp file, beside the target, when the failure hits.
                Assert.Equal(Path.GetDirectoryName(path), Path.GetDirectoryName(temp));
                Assert.StartsWith(path + ".tmp-", temp);
                Assert.True(File.Exists(temp));
                Assert.Equal("other", Assert.Single(SafeTensors.Read(temp)).Key);
                throw new IOException("simulated disk failure");
            }));

        Assert.Equal("simulated disk failure", ex.Message);
        Assert.NotNull(seenTemp);
        Assert.False(File.Exists(seenTemp));
        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Empty(TempFiles());
    }

    [Fact]
    public void Write_TargetIsADirectory_FailsOnRenameAndRemovesTemp()
    {
        // A real (not injected) failure after the temp file is written: rename onto a directory.
        string path = _dir.File("occupied");
        Directory.CreateDirectory(path);

        Assert.ThrowsAny<Exception>(() => SafeTensors.Write(path, Sample()));

        Assert.True(Directory.Exists(path));
        Assert.Empty(TempFiles());
    }

    [Fact]
    public void Write_UnwritableDirectory_ThrowsAndLeavesNothing()
    {
        // The parent "directory" is a regular file, so even root cannot create the temp file.
        string blocker = Save("blocker", [1, 2, 3]);
        string path = Path.Combine(blocker, "model.safetensors");

        Assert.ThrowsAny<IOException>(() => SafeTensors.Write(path, Sample()));

        Assert.Equal([1, 2, 3], File.ReadAllBytes(blocker));
        Assert.Empty(TempFiles());
    }

    [Fact]
    public void Write_OverExistingFile_ReplacesItAtomically()
    {
        string path = _dir.File("replace.safetensors");
        SafeTensors.Write(path, Sample());
        SafeTensors.Write(path, [new SafeTensor("only", [2], [7f, 8f])]);

        var read = SafeTensors.Read(path);

        Assert.Equal("only", Assert.Single(read).Key);
        Assert.Equal([7f, 8f], read["only"].Data);
        Assert.Equal([path], Directory.GetFiles(_dir.Path));
    }
}
