using System;
using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.IO;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Unicode;

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
    /// <summary>The reserved header key holding string-to-string metadata.</summary>
    public const string MetadataKey = "__metadata__";

    /// <summary>Largest header accepted on read; bigger claims are treated as corruption rather than
    /// allocated (the reference implementation uses the same 100 MB bound).</summary>
    public const long MaxHeaderLength = 100_000_000;

    private const int LengthPrefix = 8;

    // The reference writer pads the JSON with spaces so the data section starts 8-byte aligned.
    private const int HeaderAlignment = 8;

    // Chunk for byte-order conversion and non-F32 decoding, so no second full copy of a tensor is made.
    private const int ChunkBytes = 1 << 16;

    private static readonly JsonWriterOptions s_writerOptions = new()
    {
        // serde_json (the reference writer) emits non-ASCII names as raw UTF-8, not \u escapes.
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    private static readonly JsonDocumentOptions s_documentOptions = new()
    {
        AllowTrailingCommas = false,
        CommentHandling = JsonCommentHandling.Disallow,
        MaxDepth = 8,
    };

    /// <summary>Writes tensors in the given order with optional string metadata.</summary>
    public static void Write(string path, IReadOnlyList<SafeTensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
        => Write(path, tensors, metadata, beforeCommit: null);

    /// <summary>As the public overload; <paramref name="beforeCommit"/> runs with the temporary file's
    /// path after the data is on disk and before the rename, so tests can inject a failure there.</summary>
    internal static void Write(string path, IReadOnlyList<SafeTensor> tensors, IReadOnlyDictionary<string, string>? metadata,
        Action<string>? beforeCommit)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(tensors);

        // Everything that can be wrong with the arguments is found before any file is created.
        ValidateForWrite(tensors, metadata);
        byte[] header = BuildHeader(tensors, metadata);

        RemoveStaleTemporaries(path);
        string temp = $"{path}{TempMarker}{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8))}";
        try
        {
            // FileShare.Delete lets the rename below happen while the stream is open (Windows) and,
            // not being FileShare.None, takes a shared lock on Unix: the lock lives exactly as long as
            // this process keeps the file open, which is how the next save tells a live temporary
            // file from one a killed process left behind.
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.Delete, bufferSize: 1 << 16))
            {
                Span<byte> prefix = stackalloc byte[LengthPrefix];
                BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)header.Length);
                stream.Write(prefix);
                stream.Write(header);
                foreach (SafeTensor tensor in tensors)
                    WriteFloats(stream, tensor.Data);
                // Without fsync the rename could reach the disk before the data, and a crash would
                // leave a complete-looking but empty file in place of the old one.
                stream.Flush(flushToDisk: true);
                beforeCommit?.Invoke(temp);
                // rename(2) within one directory: readers see either the old file or the new one.
                File.Move(temp, path, overwrite: true);
            }
        }
        catch
        {
            TryDelete(temp);
            throw;
        }
    }

    /// <summary>The part of a temporary file's name between the target's name and its random suffix.</summary>
    internal const string TempMarker = ".tmp-";

    /// <summary>
    /// Deletes the temporary files a save of <paramref name="path"/> left behind when its process died
    /// before the rename: "NAME.tmp-*" beside it that no process holds open. A live writer's file is
    /// locked (see <see cref="Write(string, IReadOnlyList{SafeTensor}, IReadOnlyDictionary{string, string}?, Action{string}?)"/>), so opening it
    /// exclusively fails and it is left alone; a stale one opens, and is deleted when closed.
    /// </summary>
    private static void RemoveStaleTemporaries(string path)
    {
        string full = Path.GetFullPath(path);
        string? directory = Path.GetDirectoryName(full);
        if (directory is null || !Directory.Exists(directory)) return;
        foreach (string candidate in Directory.EnumerateFiles(directory, Path.GetFileName(full) + TempMarker + "*"))
        {
            try
            {
                using var stale = new FileStream(candidate, FileMode.Open, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.DeleteOnClose);
            }
            catch (IOException)
            {
                // Held by a live writer (or gone already): not ours to remove.
            }
            catch (UnauthorizedAccessException)
            {
                // Not ours to remove either.
            }
        }
    }

    /// <summary>Reads every tensor; throws <see cref="InvalidDataException"/> naming the file and the problem
    /// (short file, header length beyond the file, malformed JSON, unknown dtype, offsets out of range,
    /// overlapping or leaving gaps, shape not matching the byte count).</summary>
    public static IReadOnlyDictionary<string, SafeTensor> Read(string path) => ReadWithMetadata(path).Tensors;

    /// <summary>As <see cref="Read"/>, also returning the header's <c>__metadata__</c> map (empty when absent).
    /// F32 tensors are read exactly; F64, F16 and BF16 are converted to <see cref="float"/>.</summary>
    public static (IReadOnlyDictionary<string, SafeTensor> Tensors, IReadOnlyDictionary<string, string> Metadata) ReadWithMetadata(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using FileStream stream = OpenExisting(path);
        long fileLength = stream.Length;
        if (fileLength < LengthPrefix)
            throw new InvalidDataException(path, $"file is {fileLength} bytes, shorter than the 8-byte header length prefix");

        Span<byte> prefix = stackalloc byte[LengthPrefix];
        stream.ReadExactly(prefix);
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        if (headerLength > MaxHeaderLength)
            throw new InvalidDataException(path, $"header length {headerLength} is larger than the {MaxHeaderLength}-byte limit");
        if ((long)headerLength > fileLength - LengthPrefix)
            throw new InvalidDataException(path,
                $"header length {headerLength} is beyond the end of the file ({fileLength - LengthPrefix} bytes follow the prefix)");

        byte[] header = new byte[headerLength];
        stream.ReadExactly(header);
        long dataLength = fileLength - LengthPrefix - (long)headerLength;

        (List<Entry> entries, Dictionary<string, string> metadata) = ParseHeader(path, header, dataLength);

        // Entries sorted by position let the data be streamed once, front to back.
        var ordered = new List<Entry>(entries);
        ordered.Sort(static (a, b) => a.Begin != b.Begin ? a.Begin.CompareTo(b.Begin) : a.End.CompareTo(b.End));
        CheckLayout(path, ordered, dataLength);

        var values = new Dictionary<string, float[]>(entries.Count, StringComparer.Ordinal);
        foreach (Entry entry in ordered)
            values[entry.Name] = ReadTensor(path, stream, entry);

        // The dictionary keeps the header's order, which is the writer's order for our files.
        var tensors = new Dictionary<string, SafeTensor>(entries.Count, StringComparer.Ordinal);
        foreach (Entry entry in entries)
            tensors[entry.Name] = new SafeTensor(entry.Name, entry.Shape, values[entry.Name]);
        return (tensors, metadata);
    }

    private sealed record Entry(string Name, DType Type, int[] Shape, int Count, long Begin, long End);

    private enum DType { F32, F64, F16, BF16 }

    private static int SizeOf(DType type) => type switch
    {
        DType.F32 => 4,
        DType.F64 => 8,
        _ => 2,
    };

    // ---------------------------------------------------------------- write

    private static void ValidateForWrite(IReadOnlyList<SafeTensor> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < tensors.Count; i++)
        {
            SafeTensor? tensor = tensors[i];
            if (tensor is null)
                throw new ArgumentException($"tensor {i} is null", nameof(tensors));
            if (string.IsNullOrEmpty(tensor.Name))
                throw new ArgumentException($"tensor {i} has an empty name", nameof(tensors));
            if (tensor.Name == MetadataKey)
                throw new ArgumentException($"tensor {i}: the name '{MetadataKey}' is reserved for metadata", nameof(tensors));
            if (!names.Add(tensor.Name))
                throw new ArgumentException($"duplicate tensor name '{tensor.Name}'", nameof(tensors));
            if (tensor.Shape is null)
                throw new ArgumentException($"tensor '{tensor.Name}' has a null shape", nameof(tensors));
            if (tensor.Data is null)
                throw new ArgumentException($"tensor '{tensor.Name}' has null data", nameof(tensors));
            long count = 1;
            foreach (int dim in tensor.Shape)
            {
                if (dim < 0)
                    throw new ArgumentException($"tensor '{tensor.Name}' has a negative dimension in shape [{string.Join(", ", tensor.Shape)}]", nameof(tensors));
                count *= dim;
                if (count > Array.MaxLength)
                    throw new ArgumentException($"tensor '{tensor.Name}': shape [{string.Join(", ", tensor.Shape)}] is too large", nameof(tensors));
            }
            if (count != tensor.Data.Length)
                throw new ArgumentException(
                    $"tensor '{tensor.Name}': shape [{string.Join(", ", tensor.Shape)}] holds {count} values but data has {tensor.Data.Length}",
                    nameof(tensors));
        }
        if (metadata is null)
            return;
        foreach (KeyValuePair<string, string> pair in metadata)
        {
            if (pair.Key is null || pair.Value is null)
                throw new ArgumentException("metadata keys and values must not be null", nameof(metadata));
        }
    }

    private static byte[] BuildHeader(IReadOnlyList<SafeTensor> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var json = new Utf8JsonWriter(buffer, s_writerOptions))
        {
            json.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                json.WriteStartObject(MetadataKey);
                foreach (KeyValuePair<string, string> pair in metadata)
                    json.WriteString(pair.Key, pair.Value);
                json.WriteEndObject();
            }
            long offset = 0;
            foreach (SafeTensor tensor in tensors)
            {
                long end = offset + 4L * tensor.Data.Length;
                json.WriteStartObject(tensor.Name);
                json.WriteString("dtype", "F32");
                json.WriteStartArray("shape");
                foreach (int dim in tensor.Shape)
                    json.WriteNumberValue(dim);
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                json.WriteNumberValue(end);
                json.WriteEndArray();
                json.WriteEndObject();
                offset = end;
            }
            json.WriteEndObject();
        }

        int padded = (buffer.WrittenCount + HeaderAlignment - 1) / HeaderAlignment * HeaderAlignment;
        byte[] header = new byte[padded];
        buffer.WrittenSpan.CopyTo(header);
        header.AsSpan(buffer.WrittenCount).Fill((byte)' ');
        return header;
    }

    private static void WriteFloats(Stream stream, float[] data)
    {
        if (BitConverter.IsLittleEndian)
        {
            stream.Write(MemoryMarshal.AsBytes(data.AsSpan()));
            return;
        }
        byte[] chunk = new byte[ChunkBytes];
        for (int start = 0; start < data.Length; start += ChunkBytes / 4)
        {
            int n = Math.Min(ChunkBytes / 4, data.Length - start);
            for (int i = 0; i < n; i++)
                BinaryPrimitives.WriteSingleLittleEndian(chunk.AsSpan(4 * i), data[start + i]);
            stream.Write(chunk, 0, 4 * n);
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The original failure is the one worth reporting; a leftover temp file is secondary.
        }
    }

    // ---------------------------------------------------------------- read

    private static FileStream OpenExisting(string path)
    {
        try
        {
            return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1 << 16);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new FileNotFoundException($"safetensors file not found: {path}", path, e);
        }
    }

    private static (List<Entry>, Dictionary<string, string>) ParseHeader(string path, byte[] header, long dataLength)
    {
        if (!Utf8.IsValid(header))
            throw new InvalidDataException(path, "header is not valid UTF-8");

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(header, s_documentOptions);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException(path, $"header is not valid JSON ({e.Message})", e);
        }

        using (document)
        {
            JsonElement root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw new InvalidDataException(path, $"header is a JSON {root.ValueKind}, expected an object");

            var entries = new List<Entry>();
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            bool sawMetadata = false;
            // JsonDocument keeps duplicate keys, so duplicates are caught here rather than silently merged.
            var names = new HashSet<string>(StringComparer.Ordinal);
            foreach (JsonProperty property in root.EnumerateObject())
            {
                if (property.Name == MetadataKey)
                {
                    if (sawMetadata)
                        throw new InvalidDataException(path, $"duplicate '{MetadataKey}' entry");
                    sawMetadata = true;
                    ParseMetadata(path, property.Value, metadata);
                    continue;
                }
                if (!names.Add(property.Name))
                    throw new InvalidDataException(path, $"duplicate tensor name '{property.Name}'");
                entries.Add(ParseEntry(path, property.Name, property.Value, dataLength));
            }
            return (entries, metadata);
        }
    }

    private static void ParseMetadata(string path, JsonElement value, Dictionary<string, string> metadata)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw new InvalidDataException(path, $"'{MetadataKey}' is a JSON {value.ValueKind}, expected an object of strings");
        foreach (JsonProperty pair in value.EnumerateObject())
        {
            if (pair.Value.ValueKind != JsonValueKind.String)
                throw new InvalidDataException(path, $"'{MetadataKey}' value for '{pair.Name}' is a JSON {pair.Value.ValueKind}, expected a string");
            if (!metadata.TryAdd(pair.Name, pair.Value.GetString()!))
                throw new InvalidDataException(path, $"duplicate '{MetadataKey}' key '{pair.Name}'");
        }
    }

    private static Entry ParseEntry(string path, string name, JsonElement value, long dataLength)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw new InvalidDataException(path, $"tensor '{name}': entry is a JSON {value.ValueKind}, expected an object");

        // JsonDocument keeps every occurrence of a key and TryGetProperty returns the last one, so
        // {"dtype":"F16","dtype":"F32"} would read as F32: a repeated field is rejected instead.
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (JsonProperty field in value.EnumerateObject())
        {
            if (!seen.Add(field.Name))
                throw new InvalidDataException(path, $"tensor '{name}': field \"{field.Name}\" appears more than once");
        }

        JsonElement dtypeElement = Field(path, name, value, "dtype", JsonValueKind.String);
        JsonElement shapeElement = Field(path, name, value, "shape", JsonValueKind.Array);
        JsonElement offsetsElement = Field(path, name, value, "data_offsets", JsonValueKind.Array);

        string dtypeText = dtypeElement.GetString()!;
        DType dtype = dtypeText switch
        {
            "F32" => DType.F32,
            "F64" => DType.F64,
            "F16" => DType.F16,
            "BF16" => DType.BF16,
            "BOOL" or "U8" or "I8" or "I16" or "U16" or "I32" or "U32" or "I64" or "U64"
                or "F8_E4M3" or "F8_E5M2" or "F8_E8M0" or "F6_E2M3" or "F6_E3M2" or "F4" or "C64" =>
                throw new InvalidDataException(path, $"tensor '{name}': unsupported dtype '{dtypeText}' (supported: F32, F64, F16, BF16)"),
            _ => throw new InvalidDataException(path, $"tensor '{name}': unknown dtype '{dtypeText}'"),
        };

        int rank = shapeElement.GetArrayLength();
        int[] shape = new int[rank];
        long count = 1;
        int d = 0;
        foreach (JsonElement dim in shapeElement.EnumerateArray())
        {
            if (dim.ValueKind != JsonValueKind.Number || !dim.TryGetInt64(out long size))
                throw new InvalidDataException(path, $"tensor '{name}': shape[{d}] is {dim.GetRawText()}, expected an integer");
            if (size < 0)
                throw new InvalidDataException(path, $"tensor '{name}': shape[{d}] is negative ({size})");
            if (size > int.MaxValue)
                throw new InvalidDataException(path, $"tensor '{name}': shape[{d}] = {size} is too large");
            shape[d++] = (int)size;
            // Both factors are below 2^31, so the product cannot wrap before this check fires.
            count *= size;
            if (count > Array.MaxLength)
                throw new InvalidDataException(path, $"tensor '{name}': shape {shapeElement.GetRawText()} overflows (more than {Array.MaxLength} elements)");
        }

        if (offsetsElement.GetArrayLength() != 2)
            throw new InvalidDataException(path, $"tensor '{name}': data_offsets has {offsetsElement.GetArrayLength()} values, expected [begin, end]");
        long begin = Offset(path, name, offsetsElement[0], "begin");
        long end = Offset(path, name, offsetsElement[1], "end");
        if (end < begin)
            throw new InvalidDataException(path, $"tensor '{name}': data_offsets end {end} is before begin {begin}");
        if (end > dataLength)
            throw new InvalidDataException(path, $"tensor '{name}': data_offsets end {end} is beyond the data section ({dataLength} bytes)");
        long expectedBytes = count * SizeOf(dtype);
        if (end - begin != expectedBytes)
            throw new InvalidDataException(path,
                $"tensor '{name}': data_offsets cover {end - begin} bytes but shape {shapeElement.GetRawText()} of {dtypeText} needs {expectedBytes}");

        return new Entry(name, dtype, shape, (int)count, begin, end);
    }

    private static JsonElement Field(string path, string name, JsonElement entry, string field, JsonValueKind kind)
    {
        if (!entry.TryGetProperty(field, out JsonElement value))
            throw new InvalidDataException(path, $"tensor '{name}': missing field \"{field}\"");
        if (value.ValueKind != kind)
            throw new InvalidDataException(path, $"tensor '{name}': field \"{field}\" is a JSON {value.ValueKind}, expected {kind}");
        return value;
    }

    private static long Offset(string path, string name, JsonElement value, string which)
    {
        if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt64(out long offset))
            throw new InvalidDataException(path, $"tensor '{name}': data_offsets {which} is {value.GetRawText()}, expected an integer");
        if (offset < 0)
            throw new InvalidDataException(path, $"tensor '{name}': data_offsets {which} is negative ({offset})");
        return offset;
    }

    private static void CheckLayout(string path, List<Entry> ordered, long dataLength)
    {
        // The format requires tensors to tile the data section exactly: no shared bytes (which would
        // let one buffer alias another) and no unaccounted bytes (which usually mean a bad offset).
        long position = 0;
        Entry? previous = null;
        foreach (Entry entry in ordered)
        {
            if (entry.Begin < position)
                throw new InvalidDataException(path,
                    $"tensor '{entry.Name}' (bytes {entry.Begin}..{entry.End}) overlaps tensor '{previous!.Name}' (bytes {previous.Begin}..{previous.End})");
            if (entry.Begin > position)
                throw new InvalidDataException(path,
                    $"gap in the data section: bytes {position}..{entry.Begin} before tensor '{entry.Name}' belong to no tensor");
            position = entry.End;
            previous = entry;
        }
        if (position != dataLength)
            throw new InvalidDataException(path,
                $"gap in the data section: bytes {position}..{dataLength} at the end belong to no tensor");
    }

    private static float[] ReadTensor(string path, Stream stream, Entry entry)
    {
        float[] values = new float[entry.Count];
        try
        {
            if (entry.Type == DType.F32 && BitConverter.IsLittleEndian)
            {
                stream.ReadExactly(MemoryMarshal.AsBytes(values.AsSpan()));
                return values;
            }
            int size = SizeOf(entry.Type);
            byte[] chunk = new byte[ChunkBytes];
            for (int start = 0; start < values.Length; start += ChunkBytes / size)
            {
                int n = Math.Min(ChunkBytes / size, values.Length - start);
                Span<byte> bytes = chunk.AsSpan(0, n * size);
                stream.ReadExactly(bytes);
                Decode(entry.Type, bytes, values.AsSpan(start, n));
            }
            return values;
        }
        catch (EndOfStreamException e)
        {
            // Lengths were checked against the file size, so this means the file shrank while being read.
            throw new InvalidDataException(path, $"tensor '{entry.Name}': file ended inside its data", e);
        }
    }

    private static void Decode(DType type, ReadOnlySpan<byte> bytes, Span<float> values)
    {
        switch (type)
        {
            case DType.F32:
                for (int i = 0; i < values.Length; i++)
                    values[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes[(4 * i)..]);
                break;
            case DType.F64:
                for (int i = 0; i < values.Length; i++)
                    values[i] = (float)BinaryPrimitives.ReadDoubleLittleEndian(bytes[(8 * i)..]);
                break;
            case DType.F16:
                for (int i = 0; i < values.Length; i++)
                    values[i] = (float)BinaryPrimitives.ReadHalfLittleEndian(bytes[(2 * i)..]);
                break;
            case DType.BF16:
                // bfloat16 is the top half of an IEEE single, so widening is a shift with no rounding.
                for (int i = 0; i < values.Length; i++)
                    values[i] = BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(bytes[(2 * i)..]) << 16);
                break;
        }
    }
}
