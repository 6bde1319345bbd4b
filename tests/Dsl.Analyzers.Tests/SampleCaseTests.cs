using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using Xunit;
using static Dsl.Analyzers.Tests.AnalyzerHarness;

namespace Dsl.Analyzers.Tests;

/// <summary>samples/Diagnostics/Cases: each file raises the ids on its "// expect:" line, and every
/// rule the analyzers report has a case there (so the tool shows each one fire).</summary>
public sealed class SampleCaseTests
{
    private static string CasesDirectory => Path.Combine(RepositoryRoot, "samples", "Diagnostics", "Cases");

    public static IEnumerable<object[]> Cases() =>
        Directory.GetFiles(CasesDirectory, "*.cs").Select(Path.GetFileName).OrderBy(f => f, System.StringComparer.Ordinal).Select(f => new object[] { f! });

    private static string[] Expected(string text) =>
        Regex.Match(text, @"^// expect: (.*)$", RegexOptions.Multiline).Groups[1].Value
            .Split(',', System.StringSplitOptions.RemoveEmptyEntries | System.StringSplitOptions.TrimEntries);

    [Theory]
    [MemberData(nameof(Cases))]
    public void Case_raises_what_it_expects(string file)
    {
        string text = File.ReadAllText(Path.Combine(CasesDirectory, file));
        var expected = Expected(text);
        Assert.NotEmpty(expected);
        var run = Analyze(Compile(text));
        Assert.Empty(run.Exceptions);
        Assert.Equal(expected.OrderBy(i => i), run.Diagnostics.Select(d => d.Id).Distinct().OrderBy(i => i));
    }

    /// <summary>Only rules that are errors by definition make a model invalid: a case raising only
    /// warnings and infos (the scaling rules) is generated in full, not as throwing stubs.</summary>
    [Theory]
    [MemberData(nameof(NonBlockingCases))]
    public void Warnings_and_infos_never_block_generation(string file)
    {
        string text = File.ReadAllText(Path.Combine(CasesDirectory, file));
        var run = Analyze(Compile(text));
        Assert.NotEmpty(run.Diagnostics);
        Assert.DoesNotContain(run.Diagnostics, d => d.Severity == Microsoft.CodeAnalysis.DiagnosticSeverity.Error);
        var generated = run.Output.SyntaxTrees.Where(t => t.FilePath.EndsWith(".g.cs", System.StringComparison.Ordinal)).Select(t => t.ToString()).ToList();
        Assert.NotEmpty(generated);
        Assert.DoesNotContain(generated, g => g.Contains("has errors in its declaration", System.StringComparison.Ordinal));
        Assert.Contains(generated, g => g.Contains("TrainStep", System.StringComparison.Ordinal));
    }

    /// <summary>The cases whose expected ids are all warnings or infos by default.</summary>
    public static IEnumerable<object[]> NonBlockingCases() =>
        Cases().Where(c => Expected(File.ReadAllText(Path.Combine(CasesDirectory, (string)c[0])))
            .All(id => Dsl.Generators.Diagnostics.DiagnosticCatalog.AnalyzerDescriptors.Any(d => d.Id == id && !Dsl.Generators.Diagnostics.DiagnosticCatalog.BlocksGeneration(d))));

    [Fact]
    public void Every_rule_has_a_case()
    {
        var covered = Cases().SelectMany(c => Expected(File.ReadAllText(Path.Combine(CasesDirectory, (string)c[0])))).ToHashSet();
        foreach (var id in AnalyzerHarness.Analyzers.SelectMany(a => a.SupportedDiagnostics).Select(d => d.Id))
            Assert.True(covered.Contains(id), $"samples/Diagnostics/Cases has no case for {id}");
    }
}
