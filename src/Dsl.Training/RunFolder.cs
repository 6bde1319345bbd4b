using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Text;
using System.Text.Json;

namespace Dsl.Training;

/// <summary>
/// The run folder: metrics.jsonl (one JSON object per line: "train" records every few steps, one
/// "eval" record per split and evaluation, one "epoch" record per epoch) and loss.svg drawn from it.
/// </summary>
/// <remarks>
/// Each line is written and flushed as it happens, so a crash loses at most the line being written.
/// A resumed run keeps the records up to its checkpoint's step and appends after them, so the file
/// and the plot cover the whole run.
/// </remarks>
public sealed class RunFolder : IDisposable
{
    /// <summary>The metrics file's name.</summary>
    public const string MetricsFile = "metrics.jsonl";
    /// <summary>The plot's file name.</summary>
    public const string PlotFile = "loss.svg";

    private static readonly JsonWriterOptions s_options = new() { Indented = false };
    private readonly StreamWriter _writer;
    private readonly System.Buffers.ArrayBufferWriter<byte> _buffer = new();

    /// <summary>Opens (creates) the folder; with <paramref name="resumeStep"/>, keeps the existing records up to it.</summary>
    public RunFolder(string directory, long? resumeStep)
    {
        Directory = System.IO.Directory.CreateDirectory(directory).FullName;
        string path = Path.Combine(Directory, MetricsFile);
        var kept = new List<string>();
        if (resumeStep is long step && File.Exists(path))
        {
            foreach (string line in File.ReadAllLines(path))
            {
                if (RecordStep(line) is long s && s <= step) kept.Add(line);
            }
        }

        _writer = new StreamWriter(path, append: false, new UTF8Encoding(false)) { NewLine = "\n" };
        foreach (string line in kept) _writer.WriteLine(line);
        _writer.Flush();
    }

    /// <summary>The folder's full path.</summary>
    public string Directory { get; }

    /// <summary>Path of a file in the folder.</summary>
    public string PathOf(string name) => Path.Combine(Directory, name);

    /// <summary>Appends one record: "kind" first, then the fields in order (numbers round-trip exact; NaN and ∞ as null).</summary>
    public void Write(string kind, IEnumerable<KeyValuePair<string, object?>> fields)
    {
        _buffer.Clear();
        using (var json = new Utf8JsonWriter(_buffer, s_options))
        {
            json.WriteStartObject();
            json.WriteString("kind", kind);
            foreach (var (key, value) in fields)
            {
                switch (value)
                {
                    case null: json.WriteNull(key); break;
                    case double d when !double.IsFinite(d): json.WriteNull(key); break;
                    case double d: json.WriteNumber(key, d); break;
                    case float f when !float.IsFinite(f): json.WriteNull(key); break;
                    case float f: json.WriteNumber(key, f); break;
                    case long l: json.WriteNumber(key, l); break;
                    case int i: json.WriteNumber(key, i); break;
                    case bool b: json.WriteBoolean(key, b); break;
                    default: json.WriteString(key, Convert.ToString(value, CultureInfo.InvariantCulture)); break;
                }
            }

            json.WriteEndObject();
        }

        _writer.WriteLine(Encoding.UTF8.GetString(_buffer.WrittenSpan));
        _writer.Flush();
    }

    /// <summary>Draws loss.svg from metrics.jsonl: the training loss and every split's evaluation loss over steps.</summary>
    public void Plot(string title)
    {
        _writer.Flush();
        var train = new List<(double, double)>();
        var splits = new SortedDictionary<string, List<(double, double)>>(StringComparer.Ordinal);
        using (var reader = new StreamReader(new FileStream(PathOf(MetricsFile), FileMode.Open, FileAccess.Read, FileShare.ReadWrite)))
        {
            string? line;
            while ((line = reader.ReadLine()) is not null)
            {
                using var doc = JsonDocument.Parse(line);
                var root = doc.RootElement;
                string? kind = root.GetProperty("kind").GetString();
                if (!root.TryGetProperty("step", out var stepElement) || !root.TryGetProperty("loss", out var lossElement) || lossElement.ValueKind != JsonValueKind.Number) continue;
                double step = stepElement.GetDouble(), loss = lossElement.GetDouble();
                if (kind == "train")
                {
                    train.Add((step, loss));
                }
                else if (kind == "eval" && root.TryGetProperty("split", out var split))
                {
                    string name = split.GetString() ?? "eval";
                    if (!splits.TryGetValue(name, out var list)) splits[name] = list = new();
                    list.Add((step, loss));
                }
            }
        }

        string[] colors = { "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2" };
        var series = new List<PlotSeries> { new("train loss", train, "#1f77b4") };
        int c = 0;
        foreach (var (name, points) in splits) series.Add(new PlotSeries($"{name} loss", points, colors[c++ % colors.Length]));
        SvgPlot.Write(PathOf(PlotFile), title, "step", "loss", series);
    }

    /// <summary>The "step" of a record line, or null for a line that is not one.</summary>
    private static long? RecordStep(string line)
    {
        try
        {
            using var doc = JsonDocument.Parse(line);
            return doc.RootElement.TryGetProperty("step", out var step) && step.TryGetInt64(out long value) ? value : null;
        }
        catch (JsonException)
        {
            return null; // a line cut short by a crash
        }
    }

    /// <inheritdoc />
    public void Dispose() => _writer.Dispose();
}
