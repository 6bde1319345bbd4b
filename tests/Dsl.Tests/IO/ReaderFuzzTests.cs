using System;
using System.Buffers.Binary;
using System.IO;
using System.IO.Compression;
using System.Linq;
using System.Text;
using Dsl.IO;
using Xunit;
using InvalidDataException = Dsl.IO.InvalidDataException;

namespace Dsl.Tests.IO;

/// <summary>
/// The IDX gzip path and the safetensors header under damage: each kind of damage the readers know gets its own
/// message, and any mutation at all either reads back exactly the original or throws <see cref="InvalidDataException"/>
/// (never another exception type, never different data).
/// </summary>
public sealed class ReaderFuzzTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private static readonly int[] s_dims = { 3, 40, 50 };
    private static readonly byte[] s_data = Payload();

    public void Dispose() => _dir.Dispose();

    private static byte[] Payload()
    {
        var random = new Random(7);
        var data = new byte[3 * 40 * 50];
        for (int i = 0; i < data.Length; i++) data[i] = (byte)(i % 5 == 0 ? random.Next(256) : i % 17);
        return data;
    }

    private static byte[] Good() => IdxTests.Gzip(IdxTests.Build(s_dims, s_data));

    private string Save(byte[] bytes)
    {
        string path = _dir.File(Guid.NewGuid().ToString("N") + ".gz");
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private string Problem(byte[] bytes)
    {
        string path = Save(bytes);
        var e = Assert.Throws<InvalidDataException>(() => Idx.Read(path));
        Assert.Equal(path, e.Path);
        return e.Problem;
    }

    [Fact]
    public void The_intact_file_reads()
    {
        var read = Idx.Read(Save(Good()));
        Assert.Equal(s_dims, read.Dimensions);
        Assert.Equal(s_data, read.Data);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(4)]
    [InlineData(7)]
    public void A_trailer_cut_short_is_reported_with_what_is_left(int cut)
    {
        byte[] good = Good();
        Assert.Equal($"truncated gzip file: the 8-byte trailer (CRC-32 and length) is cut after {8 - cut} bytes", Problem(good[..^cut]));
    }

    [Fact]
    public void A_missing_trailer_is_reported()
    {
        byte[] good = Good();
        Assert.StartsWith("truncated or corrupt gzip file: no trailer with the CRC-32", Problem(good[..^8]));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(10)]
    [InlineData(3000)]
    public void Bytes_after_the_gzip_data_are_reported(int junk)
    {
        byte[] good = Good();
        byte[] bytes = good.Concat(Enumerable.Repeat((byte)0x41, junk)).ToArray();
        Assert.Equal($"trailing data: {junk} bytes after the end of the gzip data (at byte {good.Length}), which are not a gzip member", Problem(bytes));
    }

    [Fact]
    public void A_wrong_crc_is_a_crc_mismatch()
    {
        byte[] bytes = Good();
        uint stored = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(bytes.Length - 8));
        bytes[^8] ^= 0x01;
        Assert.Equal($"gzip CRC-32 mismatch: the trailer records 0x{stored ^ 1:X8}, the {4 + 4 * 3 + s_data.Length} decompressed bytes give 0x{stored:X8} (the compressed data is corrupt)", Problem(bytes));
    }

    [Fact]
    public void A_wrong_length_is_a_length_mismatch()
    {
        byte[] bytes = Good();
        bytes[^1] ^= 0x10;
        Assert.StartsWith("gzip length mismatch: the trailer records 268441472 bytes (ISIZE), the data decompressed to 6016", Problem(bytes));
    }

    [Fact]
    public void Corrupt_compressed_data_is_caught_by_the_crc_or_the_decoder()
    {
        byte[] bytes = Good();
        bytes[bytes.Length / 2] ^= 0x40;
        string problem = Problem(bytes);
        Assert.True(problem.StartsWith("gzip CRC-32 mismatch", StringComparison.Ordinal) || problem.StartsWith("corrupt gzip data", StringComparison.Ordinal)
            || problem.StartsWith("truncated or corrupt gzip file", StringComparison.Ordinal) || problem.StartsWith("truncated", StringComparison.Ordinal), problem);
    }

    [Fact]
    public void A_bad_header_names_the_field()
    {
        byte[] method = Good();
        method[2] = 7;
        Assert.Equal("unsupported gzip compression method 7 at byte 0 (only 8, deflate, exists)", Problem(method));
        byte[] flags = Good();
        flags[3] = 0x80;
        Assert.Equal("bad gzip header at byte 0: reserved flag bits are set (flags 0x80)", Problem(flags));
        Assert.StartsWith("truncated gzip header", Problem(Good()[..6]));
    }

    [Fact]
    public void Concatenated_members_read_as_one_payload()
    {
        // RFC 1952 allows several members; gzip -c a b > ab.gz makes one.
        byte[] idx = IdxTests.Build(s_dims, s_data);
        byte[] bytes = IdxTests.Gzip(idx[..1000]).Concat(IdxTests.Gzip(idx[1000..])).ToArray();
        Assert.Equal(s_data, Idx.Read(Save(bytes)).Data);
    }

    [Fact]
    public void Any_mutation_reads_back_the_original_or_throws_invalid_data()
    {
        byte[] good = Good();
        var random = new Random(12345);
        int failures = 0, intact = 0;
        for (int trial = 0; trial < 400; trial++)
        {
            byte[] bytes = (byte[])good.Clone();
            switch (trial % 4)
            {
                case 0: bytes[random.Next(bytes.Length)] ^= (byte)(1 << random.Next(8)); break;
                case 1: bytes[random.Next(bytes.Length)] = (byte)random.Next(256); break;
                case 2: bytes = bytes[..random.Next(bytes.Length)]; break;
                default:
                {
                    int at = random.Next(bytes.Length + 1);
                    bytes = bytes[..at].Concat(Enumerable.Range(0, 1 + random.Next(12)).Select(_ => (byte)random.Next(256))).Concat(bytes[at..]).ToArray();
                    break;
                }
            }

            string path = Save(bytes);
            try
            {
                var read = Idx.Read(path);
                Assert.Equal(s_dims, read.Dimensions);
                Assert.Equal(s_data, read.Data);
                intact++;
            }
            catch (InvalidDataException)
            {
                failures++;
            }

            File.Delete(path);
        }

        // Most damage is caught; a flip in the header's MTIME, XFL or OS byte changes nothing read.
        Assert.True(failures > 300, $"{failures} of 400 mutations rejected");
        Assert.True(intact > 0, "no mutation was harmless (the header's MTIME bytes are)");
    }

    // ---- safetensors ----------------------------------------------------------------------------------

    private static byte[] SafeTensorsFile(string dir)
    {
        string path = Path.Combine(dir, "fuzz.safetensors");
        SafeTensors.Write(path, new[]
        {
            new SafeTensor("layer.weight", new[] { 2, 3 }, new float[] { 1, 2, 3, 4, 5, 6 }),
            new SafeTensor("layer.bias", new[] { 3 }, new float[] { -1, 0, 1 }),
        });
        return File.ReadAllBytes(path);
    }

    [Theory]
    [InlineData("dtype", "\"F16\"")]
    [InlineData("shape", "[6]")]
    [InlineData("data_offsets", "[0,24]")]
    public void A_repeated_field_of_any_entry_is_rejected(string field, string other)
    {
        byte[] file = SafeTensorsFile(_dir.Path);
        long headerLength = (long)BinaryPrimitives.ReadUInt64LittleEndian(file);
        string header = Encoding.UTF8.GetString(file, 8, (int)headerLength);
        foreach (string tensor in new[] { "layer.weight", "layer.bias" })
        {
            int entry = header.IndexOf($"\"{tensor}\":{{", StringComparison.Ordinal);
            Assert.True(entry >= 0, header);
            int open = header.IndexOf('{', entry + tensor.Length);
            string edited = header.Insert(open + 1, $"\"{field}\":{other},").TrimEnd();
            byte[] json = Encoding.UTF8.GetBytes(edited);
            int padded = (json.Length + 7) / 8 * 8;
            byte[] bytes = new byte[8 + padded + (file.Length - 8 - (int)headerLength)];
            BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)padded);
            json.CopyTo(bytes, 8);
            bytes.AsSpan(8 + json.Length, padded - json.Length).Fill((byte)' ');
            file.AsSpan(8 + (int)headerLength).CopyTo(bytes.AsSpan(8 + padded));
            string path = _dir.File($"repeated-{field}-{tensor}.safetensors");
            File.WriteAllBytes(path, bytes);
            var e = Assert.Throws<InvalidDataException>(() => SafeTensors.Read(path));
            Assert.Equal($"tensor '{tensor}': field \"{field}\" appears more than once", e.Problem);
        }
    }

    [Fact]
    public void Any_header_mutation_reads_or_throws_invalid_data()
    {
        byte[] file = SafeTensorsFile(_dir.Path);
        int headerEnd = 8 + (int)BinaryPrimitives.ReadUInt64LittleEndian(file);
        var random = new Random(54321);
        int rejected = 0;
        for (int trial = 0; trial < 400; trial++)
        {
            byte[] bytes = (byte[])file.Clone();
            switch (trial % 3)
            {
                case 0: bytes[random.Next(headerEnd)] ^= (byte)(1 << random.Next(8)); break;
                case 1: bytes[8 + random.Next(headerEnd - 8)] = (byte)"{}[]\",:0123456789 aF"[random.Next(20)]; break;
                default: bytes = bytes[..random.Next(bytes.Length)]; break;
            }

            string path = _dir.File($"mutated-{trial}.safetensors");
            File.WriteAllBytes(path, bytes);
            try
            {
                var read = SafeTensors.Read(path);
                Assert.All(read.Values, t => Assert.Equal(t.Data.Length, t.Shape.Aggregate(1, (a, b) => a * b)));
            }
            catch (InvalidDataException)
            {
                rejected++;
            }

            File.Delete(path);
        }

        Assert.True(rejected > 200, $"{rejected} of 400 mutations rejected");
    }
}
