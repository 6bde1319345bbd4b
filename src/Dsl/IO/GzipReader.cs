using System;
using System.Buffers.Binary;
using System.IO;
using System.IO.Compression;
using System.IO.Hashing;

namespace Dsl.IO;

/// <summary>
/// A read-only stream of a gzip file's decompressed bytes (RFC 1952) that checks what <see cref="GZipStream"/>
/// does not: every member's trailer, its CRC-32 and ISIZE (the length mod 2³²), against the data it decompressed,
/// and that nothing but further gzip members follows. <see cref="GZipStream"/> accepts a file cut inside the
/// trailer, ignores bytes after the data and reports a wrong CRC as "unsupported compression method".
/// The header is parsed here, the deflate data inflated by <see cref="DeflateStream"/> (zlib), and the CRC
/// computed with <see cref="Crc32"/> (System.IO.Hashing) as the bytes are read. Problems throw
/// <see cref="InvalidDataException"/> naming the file.
/// </summary>
internal sealed class GzipReader : Stream
{
    private const byte FlagHeaderCrc = 2, FlagExtra = 4, FlagName = 8, FlagComment = 16; // FTEXT (1) is informational

    private readonly string _path;
    private readonly byte[] _file;
    private readonly Crc32 _crc = new();
    private DeflateStream? _member;
    private int _memberStart;
    private long _memberLength;
    private bool _done;

    /// <summary>Reads the gzip file <paramref name="file"/> (its bytes) for <paramref name="path"/>.</summary>
    public GzipReader(string path, byte[] file)
    {
        _path = path;
        _file = file;
        BeginMember(0);
    }

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        while (!_done && buffer.Length > 0)
        {
            int n;
            try
            {
                n = _member!.Read(buffer);
            }
            catch (System.IO.InvalidDataException e)
            {
                throw new InvalidDataException(_path, $"corrupt gzip data: the deflate stream of the member at byte {_memberStart} does not decode ({e.Message})", e);
            }

            if (n > 0)
            {
                _crc.Append(buffer[..n]);
                _memberLength += n;
                return n;
            }

            EndMember();
        }

        return 0;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) _member?.Dispose();
        base.Dispose(disposing);
    }

    /// <summary>Parses the member header at <paramref name="start"/> and starts inflating its deflate data.</summary>
    private void BeginMember(int start)
    {
        ReadOnlySpan<byte> f = _file;
        int at = start;
        Need(at, 10, "the 10-byte gzip header");
        if (f[at] != 0x1F || f[at + 1] != 0x8B)
            throw new InvalidDataException(_path, $"not a gzip member at byte {start}: expected 1F 8B, found {f[at]:X2} {f[at + 1]:X2}");
        if (f[at + 2] != 8)
            throw new InvalidDataException(_path, $"unsupported gzip compression method {f[at + 2]} at byte {start} (only 8, deflate, exists)");
        byte flags = f[at + 3];
        if ((flags & 0xE0) != 0)
            throw new InvalidDataException(_path, $"bad gzip header at byte {start}: reserved flag bits are set (flags 0x{flags:X2})");
        at += 10;
        if ((flags & FlagExtra) != 0)
        {
            Need(at, 2, "the gzip header's extra-field length");
            int extra = BinaryPrimitives.ReadUInt16LittleEndian(f[at..]);
            Need(at + 2, extra, "the gzip header's extra field");
            at += 2 + extra;
        }

        if ((flags & FlagName) != 0) at = SkipZeroTerminated(at, "file name");
        if ((flags & FlagComment) != 0) at = SkipZeroTerminated(at, "comment");
        if ((flags & FlagHeaderCrc) != 0)
        {
            Need(at, 2, "the gzip header's CRC-16");
            ushort stored = BinaryPrimitives.ReadUInt16LittleEndian(f[at..]);
            ushort actual = (ushort)Crc32.HashToUInt32(f[start..at]);
            if (stored != actual)
                throw new InvalidDataException(_path, $"gzip header CRC-16 mismatch at byte {start}: the header records 0x{stored:X4}, its bytes give 0x{actual:X4}");
            at += 2;
        }

        _member?.Dispose();
        _member = new DeflateStream(new MemoryStream(_file, at, _file.Length - at, writable: false), CompressionMode.Decompress);
        _memberStart = start;
        _memberLength = 0;
        _crc.Reset();
    }

    /// <summary>
    /// The member's deflate data is done: finds its trailer (the CRC-32 and ISIZE of what it decompressed) and
    /// goes on to the next member, or ends. <see cref="DeflateStream"/> does not say how many compressed bytes it
    /// used, so the trailer is found by its value: the first place after the header where those 8 bytes occur
    /// (a false match within the compressed data has probability about 2⁻⁶⁴ per position).
    /// </summary>
    private void EndMember()
    {
        uint crc = _crc.GetCurrentHashAsUInt32();
        uint size = unchecked((uint)_memberLength);
        Span<byte> trailer = stackalloc byte[8];
        BinaryPrimitives.WriteUInt32LittleEndian(trailer, crc);
        BinaryPrimitives.WriteUInt32LittleEndian(trailer[4..], size);
        ReadOnlySpan<byte> rest = _file.AsSpan(_memberStart + 10);
        int found = rest.IndexOf(trailer);
        if (found < 0) throw Diagnose(crc, size, trailer);

        int next = _memberStart + 10 + found + 8;
        if (next == _file.Length)
        {
            _done = true;
            return;
        }

        if (_file.Length - next >= 2 && _file[next] == 0x1F && _file[next + 1] == 0x8B)
        {
            BeginMember(next); // RFC 1952: a gzip file may hold several members, decompressed one after another
            return;
        }

        throw new InvalidDataException(_path, $"trailing data: {_file.Length - next} bytes after the end of the gzip data (at byte {next}), which are not a gzip member");
    }

    /// <summary>The trailer was not found: says what is wrong with the last 8 bytes of the file.</summary>
    private InvalidDataException Diagnose(uint crc, uint size, ReadOnlySpan<byte> trailer)
    {
        int length = _file.Length;
        int dataStart = _memberStart + 10;
        if (length - 8 >= dataStart)
        {
            uint storedCrc = BinaryPrimitives.ReadUInt32LittleEndian(_file.AsSpan(length - 8));
            uint storedSize = BinaryPrimitives.ReadUInt32LittleEndian(_file.AsSpan(length - 4));
            if (storedSize == size && storedCrc != crc)
                return new InvalidDataException(_path, $"gzip CRC-32 mismatch: the trailer records 0x{storedCrc:X8}, the {_memberLength} decompressed bytes give 0x{crc:X8} (the compressed data is corrupt)");
            if (storedCrc == crc && storedSize != size)
                return new InvalidDataException(_path, $"gzip length mismatch: the trailer records {storedSize} bytes (ISIZE), the data decompressed to {_memberLength}");
        }

        for (int kept = 7; kept >= 1; kept--)
        {
            if (length - kept >= dataStart && _file.AsSpan(length - kept).SequenceEqual(trailer[..kept]))
                return new InvalidDataException(_path, $"truncated gzip file: the 8-byte trailer (CRC-32 and length) is cut after {kept} bytes");
        }

        return new InvalidDataException(_path, $"truncated or corrupt gzip file: no trailer with the CRC-32 (0x{crc:X8}) and length ({_memberLength} bytes) of the decompressed data follows it; the file ends early or its data is corrupt");
    }

    private int SkipZeroTerminated(int at, string what)
    {
        int end = Array.IndexOf(_file, (byte)0, at);
        if (end < 0) throw new InvalidDataException(_path, $"truncated gzip header: the {what} has no terminating zero");
        return end + 1;
    }

    private void Need(int at, int count, string what)
    {
        if (at + count > _file.Length)
            throw new InvalidDataException(_path, $"truncated gzip header: the file ends inside {what} (byte {at}, {_file.Length} bytes in all)");
    }
}
