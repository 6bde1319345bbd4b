using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Xunit;

namespace Dsl.Generators.Tests;

/// <summary>
/// Extreme numbers and deleted modifiers: whatever is typed, the generator and the analyzers finish in
/// bounded time, never throw or report DSL901, and the build's errors are never inside generated code:
/// every error is the DSL's, or the user's own with a DSL diagnostic saying why. The time bound is a
/// generous guard against hangs (the unbounded generator ran for minutes on these), not a benchmark.
/// </summary>
public sealed class BoundsTests
{
    /// <summary>Seconds one generator and analyzer run may take, after a warm-up run (JIT), on a shared 2-core
    /// machine; these runs take well under a second on a quiet one, and the unbounded generator ran for minutes.</summary>
    private const double TimeBound = 20;

    private static readonly Lazy<bool> s_warm = new(() => { GeneratorHarness.Analyze(GeneratorHarness.Run(GeneratorHarness.Compile(Gpt)).Output); return true; });

    private const string Gpt = """
        using Dsl;

        namespace Samples.Gpt;

        [Module]
        public partial class GptBlock
        {
            [LayerNorm(Bias = false)] public partial Tensor Norm1(Tensor x);
            [Attention(Heads = 4, Causal = true, Bias = false)] public partial Tensor Attend(Tensor x);
            [LayerNorm(Bias = false)] public partial Tensor Norm2(Tensor x);
            [Dense(Out = 512, Bias = false)] public partial Tensor Up(Tensor x);
            [Gelu(Exact = true)] public partial Tensor Act(Tensor x);
            [Dense(Out = 128, Bias = false)] public partial Tensor Down(Tensor x);

            public Tensor Forward(Tensor x)
            {
                x = x + Attend(Norm1(x));
                return x + Down(Act(Up(Norm2(x))));
            }
        }

        [Model(Batch = 12, Sequence = 64, InitStd = 0.02)]
        public partial class CharGpt
        {
            [Embedding(Vocabulary = 65, Dim = 128)] public partial Tensor Tokens(Tensor ids);
            [PositionEmbedding] public partial Tensor Positions(Tensor x);
            [Repeat(4)] public partial GptBlock[] Blocks { get; }
            [LayerNorm(Bias = false)] public partial Tensor Final(Tensor x);
            [Dense(Out = 65, Bias = false, Tied = nameof(Tokens))] public partial Tensor Head(Tensor x);

            public Tensor Forward(Tensor ids)
            {
                var x = Positions(Tokens(ids));
                foreach (var block in Blocks) x = block.Forward(x);
                return Head(Final(x));
            }

            [Loss] public Scalar Loss(Tensor ids, Labels next) => Ops.SoftmaxCrossEntropy(Forward(ids), next);
        }
        """;

    private const string Words = """
        using Dsl;

        namespace Samples.Words;

        [Model(Batch = 8, Sequence = 4)]
        public partial class Words
        {
            [Embedding(Vocabulary = 8192, Dim = 128)] public partial Tensor E(Tensor ids);
            [Dense(Out = 4)] public partial Tensor Head(Tensor x);
            public Tensor Forward(Tensor ids) => Head(E(ids));
            [Loss] public Scalar Loss(Tensor ids, Labels y) => Ops.SoftmaxCrossEntropy(Forward(ids), y);
        }
        """;

    private static string Source(string model) => model switch { "Gpt" => Gpt, "Words" => Words, "Residual" => Models.Residual, _ => Models.Mlp };

    /// <summary>(the model, what is replaced in it, by what, the id the build must show).</summary>
    public static IEnumerable<object[]> ExtremeNumbers() => new[]
    {
        new object[] { "Gpt", "[Repeat(4)]", "[Repeat(2147483647)]", "DSL210" },
        new object[] { "Gpt", "[Repeat(4)]", "[Repeat(1048576)]", "DSL210" },
        new object[] { "Gpt", "[Repeat(4)]", "[Repeat(1000)]", "DSL210" },    // 6000 layers: was 31 s and 0.9 GB in csc
        new object[] { "Gpt", "[Repeat(4)]", "[Repeat(600)]", "DSL210" },     // 3600 layers, 4800 operations
        new object[] { "Gpt", "[Repeat(4)]", "[Repeat(-2147483648)]", "DSL106" },
        new object[] { "Gpt", "Batch = 12", "Batch = 2147483647", "DSL210" },
        new object[] { "Gpt", "Sequence = 64", "Sequence = 2147483647", "DSL210" },
        new object[] { "Gpt", "Batch = 12, Sequence = 64", "Batch = 65536, Sequence = 65536", "DSL210" },
        new object[] { "Words", "Dim = 128", "Dim = 65536", "DSL210" }, // an arena of 6 × 2^29 parameters etc.: was CS0220 in the .g.cs
        new object[] { "Gpt", "Vocabulary = 65", "Vocabulary = 2147483647", "DSL210" },
        new object[] { "Gpt", "Dim = 128", "Dim = 2147483647", "DSL210" },
        new object[] { "Gpt", "Heads = 4,", "Heads = 2147483647,", "DSL210" },
        new object[] { "Gpt", "Heads = 4,", "Heads = 1024, KeySize = 1048576,", "DSL210" },  // Heads × KeySize = 2^30
        new object[] { "Gpt", "Heads = 4,", "Heads = 4, Window = 2147483647, ValueSize = 2147483647,", "DSL210" },
        new object[] { "Gpt", "Heads = 4,", "Heads = 1024, TalkingHeads = true, KeySize = 1, ValueSize = 1,", "DSL210" },
        new object[] { "Gpt", "Out = 512", "Out = 1048576", "DSL210" },        // every limit within, the arena above
        new object[] { "Gpt", "Out = 512", "Out = -2147483648", "DSL106" },
        new object[] { "Mlp", "Out = 16", "Out = 2147483647", "DSL210" },       // was DSL901 (OverflowException)
        new object[] { "Mlp", "Input = 20", "Input = 2147483647", "DSL210" },
        new object[] { "Mlp", "Batch = 32", "Batch = 16777216", "DSL210" },     // Batch at its limit; the arena above
        new object[] { "Mlp", "Out = 16", "Out = 16, In = 2147483647", "DSL210" },
    };

    [Theory]
    [MemberData(nameof(ExtremeNumbers))]
    public void Extreme_numbers_are_a_diagnostic_in_bounded_time(string model, string find, string replace, string id)
    {
        string source = Source(model);
        Assert.Contains(find, source);
        var outcome = Build(source.Replace(find, replace));
        Assert.True(outcome.Seconds < TimeBound, $"generator and analyzers took {outcome.Seconds:F1} s");
        Assert.Contains(outcome.Errors, e => e.Id == id);
        AssertCompileSafe(outcome);
    }

    [Fact]
    public void The_limits_themselves_are_accepted()
    {
        // A width at the width limit: a valid model, emitted in full (the row limit's near miss is in the rule tests).
        var outcome = Build(Models.Mlp.Replace("Batch = 32", "Batch = 16").Replace("Out = 16", "Out = 1048576").Replace("Input = 20", "Input = 1"));
        Assert.Empty(outcome.Errors);
        Assert.Contains(outcome.Generated, g => g.Contains("public float TrainStep", StringComparison.Ordinal));
    }

    /// <summary>Every modifier of the sample models, deleted one at a time.</summary>
    public static IEnumerable<object[]> DeletedModifiers()
    {
        foreach (var (name, source) in new[] { ("Gpt", Gpt), ("Residual", Models.Residual) })
        {
            var tokens = CSharpSyntaxTree.ParseText(source, GeneratorHarness.ParseOptions).GetRoot().DescendantTokens()
                .Where(t => t.IsKind(SyntaxKind.PublicKeyword) || t.IsKind(SyntaxKind.PartialKeyword) || t.IsKind(SyntaxKind.PrivateKeyword) || t.IsKind(SyntaxKind.StaticKeyword));
            foreach (var token in tokens) yield return new object[] { name, token.SpanStart, token.Text };
        }
    }

    [Theory]
    [MemberData(nameof(DeletedModifiers))]
    public void A_deleted_modifier_gives_a_dsl_diagnostic_or_nothing(string model, int start, string modifier)
    {
        string source = Source(model);
        Assert.Equal(modifier, source.Substring(start, modifier.Length));
        var outcome = Build(source.Remove(start, modifier.Length + 1));
        Assert.True(outcome.Seconds < TimeBound, $"generator and analyzers took {outcome.Seconds:F1} s");
        AssertCompileSafe(outcome);
    }

    [Fact]
    public void Deleting_partial_from_a_layer_and_public_from_a_repeat_property()
    {
        // The two deletions the issue found: a layer without 'partial' (CS0501) gets DSL103 from the generator,
        // a [Repeat] property without 'public' is simply private (the generated part mirrors it).
        var layer = Build(Gpt.Replace("[PositionEmbedding] public partial Tensor", "[PositionEmbedding] public Tensor"));
        Assert.Contains(layer.Errors, e => e.Id == "DSL103" && e.GetMessage().Contains("'Positions'", StringComparison.Ordinal));
        AssertCompileSafe(layer);

        var repeat = Build(Gpt.Replace("[Repeat(4)] public partial", "[Repeat(4)] partial"));
        Assert.Empty(repeat.Errors);
    }

    /// <summary>The compiler's errors about the declarations the DSL owns (a partial member without an
    /// implementation, in a type that is not partial, without accessibility, a body-less method): each must
    /// come with a DSL diagnostic, since they stop a build before the analyzers. (Other errors in the user's
    /// code, such as CS0053 after deleting 'public' from a module class, are plain C# and need none.)</summary>
    private static readonly string[] s_declarationErrors = { "CS8795", "CS9248", "CS0751", "CS8796", "CS0501", "CS8799", "CS8800" };

    /// <summary>No error inside generated code, no internal error; a declaration error comes with a DSL one.</summary>
    private static void AssertCompileSafe(Outcome outcome)
    {
        Assert.Empty(outcome.Exceptions);
        Assert.DoesNotContain(outcome.Errors, e => e.Id is "DSL901" or "CS8785");
        // An error in generated code only as the echo of the user's own (CS0053 on both parts of a partial property).
        var user = outcome.Errors.Where(e => !IsGenerated(e)).Select(e => e.Id + e.GetMessage()).ToHashSet();
        Assert.DoesNotContain(outcome.Errors, e => IsGenerated(e) && !user.Contains(e.Id + e.GetMessage()));
        if (outcome.Errors.Any(e => s_declarationErrors.Contains(e.Id)))
            Assert.True(outcome.Errors.Any(e => e.Id.StartsWith("DSL", StringComparison.Ordinal)), "declaration errors without a DSL diagnostic:\n" + string.Join("\n", outcome.Errors));
    }

    private static bool IsGenerated(Diagnostic d) => d.Location.SourceTree?.FilePath.EndsWith(".g.cs", StringComparison.Ordinal) == true;

    private sealed record Outcome(List<Diagnostic> Errors, List<string> Exceptions, List<string> Generated, double Seconds);

    /// <summary>What a command-line build reports: the compiler's errors after generation, the generator's, and
    /// the analyzers' unless a parse or declaration error stops the build before them. Timed: generator + analyzers.</summary>
    private static Outcome Build(string source)
    {
        _ = s_warm.Value;
        var watch = Stopwatch.StartNew();
        var (output, generatorDiagnostics, run) = GeneratorHarness.Run(GeneratorHarness.Compile(source));
        var analyzers = GeneratorHarness.Analyze(output);
        double seconds = watch.Elapsed.TotalSeconds;
        var exceptions = run.Results.Where(r => r.Exception is not null).Select(r => r.Exception!.ToString()).ToList();
        bool stops = output.GetParseDiagnostics().Concat(output.GetDeclarationDiagnostics()).Any(d => d.Severity == DiagnosticSeverity.Error);
        var errors = output.GetDiagnostics().Concat(generatorDiagnostics).Concat(stops ? Enumerable.Empty<Diagnostic>() : analyzers)
            .Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
        return new Outcome(errors, exceptions, GeneratorHarness.Generated(run).Values.ToList(), seconds);
    }
}
