using System.Collections.Generic;
using Dsl.Generators.Planning;

namespace Dsl.Generators.Emit;

/// <summary>
/// Where a plan step prints its CPU form: the code writer inside <c>Engine&lt;T&gt;</c>'s Forward or Backward
/// (whose locals are <c>a</c>, the arena, <c>rows</c> and <c>batch</c>), and the spellings every step shares:
/// arena offsets by name (<see cref="At"/>), arena slices, the kernels' namespace, "=" or "+=". Lines longer than
/// <see cref="Width"/> columns are wrapped at their arguments (code) or words (comments).
/// </summary>
internal sealed class CpuWriter
{
    /// <summary>The kernels' namespace in generated code.</summary>
    public const string Kernels = "global::Dsl.Kernels";

    /// <summary>An empty span of T, for an absent optional tensor.</summary>
    public const string EmptyReadOnly = "global::System.ReadOnlySpan<T>.Empty";

    /// <summary>An empty writable span of T.</summary>
    public const string Empty = "global::System.Span<T>.Empty";

    /// <summary>The engine's slice helper: <c>Slice(a, offset, length)</c> is <c>AsSpan(a, offset, length)</c>.</summary>
    public const string SliceHelper = "Slice";

    /// <summary>The widest line printed unwrapped, indentation included.</summary>
    public const int Width = 120;

    public CpuWriter(CodeWriter writer, ModelPlan plan, ArenaNames names)
    {
        Writer = writer;
        Plan = plan;
        Names = names;
    }

    /// <summary>The underlying writer.</summary>
    public CodeWriter Writer { get; }

    /// <summary>The plan being printed.</summary>
    public ModelPlan Plan { get; }

    /// <summary>The arena's names (shared by every writer of one engine).</summary>
    public ArenaNames Names { get; }

    /// <summary>The same plan and names over another code writer (a body printed apart).</summary>
    public CpuWriter Over(CodeWriter writer) => new(writer, Plan, Names);

    /// <summary>Writes one line, wrapped when longer than <see cref="Width"/>.</summary>
    public CpuWriter Line(string line = "")
    {
        foreach (string part in Wrap(line, Width - Writer.Column)) Writer.Line(part);
        return this;
    }

    /// <summary>Writes several lines (split on '\n'), each as <see cref="Line"/>.</summary>
    public CpuWriter Lines(string lines)
    {
        foreach (var line in lines.Split('\n')) Line(line.TrimEnd('\r'));
        return this;
    }

    /// <summary>Writes a header and a braced block.</summary>
    public CodeWriter.Scope Block(string header) => Writer.Block(header);

    /// <summary>The layer of the step being printed: where [Recompute] segments share arena, the names its slices read
    /// are that layer's.</summary>
    public string Context { get; set; } = "";

    /// <summary>An arena offset by name (<see cref="ArenaNames.At"/>).</summary>
    public string At(int offset) => Names.At(offset, Context);

    /// <summary>A slice of the local arena <c>a</c>: <c>Slice(a, Name, length)</c>.</summary>
    public string Span(int offset, string length)
    {
        Names.SliceUsed = true;
        return $"{SliceHelper}(a, {At(offset)}, {length})";
    }

    /// <summary>A slice of the field <c>Arena</c> (outside Forward and Backward).</summary>
    public string SpanA(int offset, string length)
    {
        Names.SliceUsed = true;
        return $"{SliceHelper}(Arena, {At(offset)}, {length})";
    }

    /// <summary>
    /// A GEMM C (+)= op(A)·op(B) on the arena: <c>Gemm.Multiply(A, B, C, shape)</c> with each operand "a, offset, ld
    /// (, transposed)" and the shape "m, n, k, accumulate, epilogue". The operands share the first line when they fit,
    /// else each has its own.
    /// </summary>
    public void Gemm(string a, string b, string c, string shape)
    {
        string head = $"{Kernels}.Gemm.Multiply(";
        string operands = $"{a}, {b}, {c},";
        if (Writer.Column + head.Length + operands.Length <= Width)
        {
            Line(head + operands);
        }
        else
        {
            Writer.Line(head);
            Writer.Line($"    {a},");
            Writer.Line($"    {b},");
            Writer.Line($"    {c},");
        }

        Line($"    {shape});");
    }

    /// <summary>"+=" or "=", for comments.</summary>
    public static string Op(bool accumulate) => accumulate ? "+=" : "=";

    // ---- wrapping ---------------------------------------------------------------------------------------

    /// <summary>
    /// A line cut to <paramref name="width"/> columns where it can be: a comment at spaces (continued as "//" and the
    /// comment's own indentation plus two), code at the commas between the arguments of its outermost open call
    /// (continued four columns in). A line that has no such place stays as it is.
    /// </summary>
    internal static IEnumerable<string> Wrap(string line, int width)
    {
        if (line.Length <= width) return new[] { line };
        string trimmed = line.TrimStart(' ');
        string lead = line.Substring(0, line.Length - trimmed.Length);
        return trimmed.StartsWith("//", System.StringComparison.Ordinal) ? WrapComment(lead, trimmed, width) : WrapCode(lead, trimmed, width);
    }

    private static IEnumerable<string> WrapComment(string lead, string comment, int width)
    {
        // An XML doc line continues as "/// ", a comment as "//" and its own indentation plus two.
        bool doc = comment.StartsWith("///", System.StringComparison.Ordinal);
        int text = doc ? 3 : 2;
        while (text < comment.Length && comment[text] == ' ') text++;
        string prefix = doc ? lead + "/// " : lead + "//" + new string(' ', text - 2 + 2);
        var lines = new List<string>();
        string current = lead + comment.Substring(0, text);
        bool first = true;
        foreach (string word in comment.Substring(text).Split(' '))
        {
            string candidate = first ? current + word : current + " " + word;
            if (!first && candidate.Length > width && current.Trim().Length > 2)
            {
                lines.Add(current);
                current = prefix + word;
            }
            else
            {
                current = candidate;
            }

            first = false;
        }

        lines.Add(current);
        return lines;
    }

    private static IEnumerable<string> WrapCode(string lead, string code, int width)
    {
        // Break points: after ", " (and after an opening parenthesis) at the smallest bracket depth that has one,
        // outside literals and type arguments (a '<' right after a name opens them; a spaced '<' compares).
        var breaks = new List<(int At, int Depth)>();
        int depth = 0, angle = 0;
        for (int i = 0; i < code.Length; i++)
        {
            char c = code[i];
            if (c == '"' || c == '\'')
            {
                for (i++; i < code.Length && code[i] != c; i++)
                    if (code[i] == '\\') i++;
                continue;
            }

            if (c == '/' && i + 1 < code.Length && code[i + 1] == '/') break; // a trailing comment stays on the last line
            if (c == '<' && i > 0 && (char.IsLetterOrDigit(code[i - 1]) || code[i - 1] == '_')) angle++;
            else if (c == '>' && angle > 0) angle--;
            else if (c is '(' or '[' or '{')
            {
                depth++;
                if (c == '(' && angle == 0 && i + 1 < code.Length && code[i + 1] != ')') breaks.Add((i + 1, -depth));
            }
            else if (c is ')' or ']' or '}') depth--;
            else if (c == ',' && angle == 0 && i + 1 < code.Length && code[i + 1] == ' ') breaks.Add((i + 2, depth));
        }

        // Commas at the smallest depth, and the parenthesis that opens their list (recorded with a negative depth).
        int minDepth = int.MaxValue;
        foreach (var b in breaks)
            if (b.Depth >= 0) minDepth = System.Math.Min(minDepth, b.Depth);
        if (minDepth == int.MaxValue) return new[] { lead + code };
        for (int k = 0; k < breaks.Count; k++)
            if (breaks[k].Depth < 0) breaks[k] = (breaks[k].At, -breaks[k].Depth == minDepth ? minDepth : int.MaxValue);
        var pieces = new List<string>();
        string prefix = lead;
        int start = 0, last = -1;
        foreach (var (at, d) in breaks)
        {
            if (d != minDepth) continue;
            if (prefix.Length + at - start > width && last > start)
            {
                pieces.Add(prefix + code.Substring(start, last - start).TrimEnd(' '));
                start = last;
                prefix = lead + "    ";
            }

            last = at;
        }

        if (prefix.Length + code.Length - start > width && last > start)
        {
            pieces.Add(prefix + code.Substring(start, last - start).TrimEnd(' '));
            start = last;
            prefix = lead + "    ";
        }

        pieces.Add(prefix + code.Substring(start));
        if (pieces.Count == 1) return pieces;

        // A piece still too long is cut again inside its own brackets.
        var lines = new List<string>();
        foreach (string piece in pieces)
        {
            if (piece.Length <= width)
            {
                lines.Add(piece);
                continue;
            }

            string text = piece.TrimStart(' ');
            lines.AddRange(WrapCode(piece.Substring(0, piece.Length - text.Length), text, width));
        }

        return lines;
    }
}
