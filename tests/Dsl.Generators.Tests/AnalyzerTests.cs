using System.Linq;
using Microsoft.CodeAnalysis;
using Xunit;

namespace Dsl.Generators.Tests;

/// <summary>Each diagnostic fires on the exact span marked [| |] in the source, with a message
/// naming the values; a near-miss does not fire.</summary>
public sealed class AnalyzerTests
{
    private const string Header = """
        using Dsl;
        namespace T;

        """;

    /// <summary>Strips the [| |] markup and returns the source and the marked span.</summary>
    private static (string Source, TextSpanInfo Span) Markup(string marked)
    {
        int start = marked.IndexOf("[|", System.StringComparison.Ordinal);
        int end = marked.IndexOf("|]", System.StringComparison.Ordinal) - 2;
        string source = marked.Replace("[|", "").Replace("|]", "");
        return (source, new TextSpanInfo(start, end - start));
    }

    private readonly record struct TextSpanInfo(int Start, int Length);

    private static Diagnostic Single(string id, string marked)
    {
        var (source, span) = Markup(Header + marked);
        var (output, _, _) = GeneratorHarness.Run(GeneratorHarness.Compile(source));
        var found = GeneratorHarness.Analyze(output).Where(d => d.Id == id).ToList();
        var diagnostic = Assert.Single(found);
        Assert.Equal(span.Start, diagnostic.Location.SourceSpan.Start);
        Assert.Equal(span.Length, diagnostic.Location.SourceSpan.Length);
        Assert.Equal($"docs/diagnostics/{id}.md", diagnostic.Descriptor.HelpLinkUri);
        return diagnostic;
    }

    private static void None(string source)
    {
        var (output, _, _) = GeneratorHarness.Run(GeneratorHarness.Compile(Header + source));
        var found = GeneratorHarness.Analyze(output);
        Assert.True(found.IsEmpty, string.Join("\n", found));
    }

    private const string Valid = """
        [Model(Batch = 8, Input = 20)]
        public partial class M
        {
            [Dense(Out = 4)] public partial Tensor A(Tensor x);
            [SquarePlus(B = 1)] public partial Tensor S(Tensor x);
            public Tensor Forward(Tensor x) => S(A(x)) + A(x) * 2;
            [Loss] public Scalar Loss(Tensor x, Labels y) => Ops.SoftmaxCrossEntropy(Forward(x), y);
        }
        """;

    [Fact]
    public void Valid_model_has_no_diagnostics() => None(Valid);

    [Fact]
    public void DSL101_model_not_partial()
    {
        var d = Single("DSL101", """
            [Model(Batch = 8, Input = 20)]
            public class [|M|]
            {
                public Tensor Forward(Tensor x) => x;
            }
            """);
        Assert.Contains("'M'", d.GetMessage());
    }

    [Fact]
    public void DSL102_unsupported_construct_is_named()
    {
        var d = Single("DSL102", Valid.Replace("S(A(x)) + A(x) * 2", "S(A(x)) + [|A(x) * A(x)|]"));
        Assert.Contains("A(x) * A(x)", d.GetMessage());
    }

    [Fact]
    public void DSL102_statement_is_named()
    {
        var d = Single("DSL102", Valid.Replace("public Tensor Forward(Tensor x) => S(A(x)) + A(x) * 2;",
            "public Tensor Forward(Tensor x) { [|if (x == null) return x;|] return A(x); }"));
        Assert.Contains("if (x == null)", d.GetMessage());
    }

    [Fact]
    public void DSL103_layer_signature()
    {
        var d = Single("DSL103", Valid.Replace("[Dense(Out = 4)] public partial Tensor A(Tensor x);",
            "[Dense(Out = 4)] public partial Tensor A(Tensor x);\n    [Relu] public partial Tensor [|B|](Tensor x, Tensor y);"));
        Assert.Contains("exactly one Tensor parameter", d.GetMessage());
    }

    [Fact]
    public void DSL104_model_batch()
    {
        var d = Single("DSL104", Valid.Replace("Batch = 8", "[|Batch = 0|]"));
        Assert.Contains("Batch must be > 0, but it is 0", d.GetMessage());
    }

    [Fact]
    public void DSL106_dense_out()
    {
        var d = Single("DSL106", Valid.Replace("Dense(Out = 4)", "Dense([|Out = -3|])"));
        Assert.Contains("-3", d.GetMessage());
    }

    [Fact]
    public void DSL201_dense_in_mismatch_on_the_argument()
    {
        var d = Single("DSL201", Valid.Replace("Dense(Out = 4)", "Dense(Out = 4, [|In = 30|])"));
        Assert.Equal("Dense layer 'A' declares In = 30, but its input has 20 features", d.GetMessage(System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public void DSL201_near_miss_matching_in() => None(Valid.Replace("Dense(Out = 4)", "Dense(Out = 4, In = 20)"));

    [Fact]
    public void DSL202_add_of_different_widths()
    {
        var d = Single("DSL202", Valid.Replace("S(A(x)) + A(x) * 2", "[|S(A(x)) + x|]"));
        Assert.Contains("4 features to one of 20", d.GetMessage());
    }

    [Fact]
    public void DSL301_squareplus_b()
    {
        var d = Single("DSL301", Valid.Replace("SquarePlus(B = 1)", "SquarePlus([|B = 0|])"));
        Assert.Contains("b = 0", d.GetMessage());
    }

    [Fact]
    public void Every_descriptor_has_a_docs_page_and_a_release_entry()
    {
        string root = System.IO.Path.GetFullPath(System.IO.Path.Combine(System.AppContext.BaseDirectory, "../../../../.."));
        string releases = System.IO.File.ReadAllText(System.IO.Path.Combine(root, "analyzers/Dsl.Analyzers/AnalyzerReleases.Unshipped.md"));
        var all = Dsl.Generators.Diagnostics.DiagnosticCatalog.AnalyzerDescriptors.Append(Dsl.Generators.Diagnostics.DiagnosticCatalog.InternalError);
        foreach (var descriptor in all)
        {
            Assert.True(System.IO.File.Exists(System.IO.Path.Combine(root, "docs/diagnostics", descriptor.Id + ".md")), $"docs/diagnostics/{descriptor.Id}.md is missing");
            Assert.Contains(descriptor.Id + " |", releases);
        }
    }
}
