using System;
using System.Text;

namespace Dsl.Generators.Emit;

/// <summary>The one way generated text is written: indentation scopes and '\n' newlines, so output
/// is identical on every OS.</summary>
internal sealed class CodeWriter
{
    private readonly StringBuilder _text = new();
    private int _indent;

    public CodeWriter()
    {
    }

    /// <summary>A writer that starts <paramref name="indent"/> levels in (a body printed apart, then <see cref="Append"/>ed).</summary>
    public CodeWriter(int indent) => _indent = indent;

    /// <summary>The current indentation in columns.</summary>
    public int Column => _indent * 4;

    /// <summary>When positive, C# lines longer than this many columns are wrapped (<see cref="CpuWriter.Wrap"/>);
    /// 0 (the default, and for CUDA C) writes every line as given.</summary>
    public int WrapAt { get; init; }

    /// <summary>Writes one line at the current indentation (an empty line has no trailing spaces).</summary>
    public CodeWriter Line(string line = "")
    {
        if (WrapAt > 0 && line.Length + (_indent * 4) > WrapAt && !line.StartsWith("#", StringComparison.Ordinal))
        {
            foreach (string part in CpuWriter.Wrap(line, WrapAt - (_indent * 4))) Write(part);
            return this;
        }

        Write(line);
        return this;
    }

    private void Write(string line)
    {
        if (line.Length > 0) _text.Append(' ', _indent * 4).Append(line);
        _text.Append('\n');
    }

    /// <summary>Writes several lines (split on '\n').</summary>
    public CodeWriter Lines(string lines)
    {
        foreach (var line in lines.Split('\n')) Line(line.TrimEnd('\r'));
        return this;
    }

    /// <summary>Writes <paramref name="header"/> and "{", indents until the returned scope is disposed.</summary>
    public Scope Block(string header)
    {
        Line(header);
        Line("{");
        _indent++;
        return new Scope(this, "}");
    }

    /// <summary>Same as <see cref="Block"/> but closes with <paramref name="close"/> (e.g. "};").</summary>
    public Scope Block(string header, string close)
    {
        Line(header);
        Line("{");
        _indent++;
        return new Scope(this, close);
    }

    /// <summary>Appends text another writer printed (at its own indentation).</summary>
    public CodeWriter Append(string text)
    {
        _text.Append(text);
        return this;
    }

    /// <summary>Marks the current position and indentation, for lines decided later (<see cref="Insert"/>).</summary>
    public Mark Here() => new(_text.Length, _indent);

    /// <summary>Writes <paramref name="lines"/> at <paramref name="mark"/>, at its indentation (the one mark of a writer, or
    /// the last: text inserted earlier moves the marks after it).</summary>
    public void Insert(Mark mark, System.Collections.Generic.IEnumerable<string> lines)
    {
        var block = new StringBuilder();
        foreach (string line in lines)
        {
            if (line.Length > 0) block.Append(' ', mark.Indent * 4).Append(line);
            block.Append('\n');
        }

        _text.Insert(mark.Position, block.ToString());
    }

    public override string ToString() => _text.ToString();

    /// <summary>A position in the text and the indentation there.</summary>
    public readonly record struct Mark(int Position, int Indent);

    /// <summary>Closes a block when disposed.</summary>
    public readonly struct Scope : IDisposable
    {
        private readonly CodeWriter _writer;
        private readonly string _close;

        public Scope(CodeWriter writer, string close)
        {
            _writer = writer;
            _close = close;
        }

        public void Dispose()
        {
            _writer._indent--;
            _writer.Line(_close);
        }
    }
}
