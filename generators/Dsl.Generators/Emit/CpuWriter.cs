using Dsl.Generators.Planning;
using static Dsl.Generators.Emit.Literals;

namespace Dsl.Generators.Emit;

/// <summary>
/// Where a plan step prints its CPU form: the code writer inside <c>Engine&lt;T&gt;</c>'s Forward or Backward
/// (whose locals are <c>a</c>, the arena, <c>rows</c> and <c>batch</c>), and the spellings every step shares:
/// arena slices, the kernels' namespace, "=" or "+=".
/// </summary>
internal sealed class CpuWriter
{
    /// <summary>The kernels' namespace in generated code.</summary>
    public const string Kernels = "global::Dsl.Kernels";

    /// <summary>An empty span of T, for an absent optional tensor.</summary>
    public const string EmptyReadOnly = "global::System.ReadOnlySpan<T>.Empty";

    /// <summary>An empty writable span of T.</summary>
    public const string Empty = "global::System.Span<T>.Empty";

    public CpuWriter(CodeWriter writer, ModelPlan plan)
    {
        Writer = writer;
        Plan = plan;
    }

    /// <summary>The underlying writer.</summary>
    public CodeWriter Writer { get; }

    /// <summary>The plan being printed.</summary>
    public ModelPlan Plan { get; }

    /// <summary>Writes one line.</summary>
    public CpuWriter Line(string line = "")
    {
        Writer.Line(line);
        return this;
    }

    /// <summary>Writes a header and a braced block.</summary>
    public CodeWriter.Scope Block(string header) => Writer.Block(header);

    /// <summary>A slice of the local arena <c>a</c>: <c>AsSpan(a, offset, length)</c>.</summary>
    public static string Span(int offset, string length) => $"global::System.MemoryExtensions.AsSpan(a, {Int(offset)}, {length})";

    /// <summary>A slice of the field <c>Arena</c> (outside Forward and Backward).</summary>
    public static string SpanA(int offset, string length) => $"global::System.MemoryExtensions.AsSpan(Arena, {Int(offset)}, {length})";

    /// <summary>"+=" or "=", for comments.</summary>
    public static string Op(bool accumulate) => accumulate ? "+=" : "=";
}
