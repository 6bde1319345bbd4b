using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis.CSharp;
using Xunit;
using static Dsl.Analyzers.Tests.AnalyzerHarness;

namespace Dsl.Analyzers.Tests;

/// <summary>
/// The analyzers and the generator run on every keystroke, so they see half-typed code: for every
/// sample model file (samples/*/*.cs containing [Model] or [Module]) and every prefix ending at a
/// token boundary, neither throws (no AD0001, no CS8785, no DSL901, no exception in the run result).
/// </summary>
public sealed class RobustnessTests
{
    private static readonly Regex s_declaresModel = new(@"^\s*\[(Model|Module)\b", RegexOptions.Multiline);

    public static IEnumerable<object[]> SampleModels() =>
        Directory.GetDirectories(Path.Combine(RepositoryRoot, "samples"))
            .Where(d => Path.GetFileName(d) != "Diagnostics") // the diagnostics tool; its Cases/ are deliberately broken
            .SelectMany(d => Directory.GetFiles(d, "*.cs"))
            .Where(f => s_declaresModel.IsMatch(File.ReadAllText(f)))
            .Select(f => Path.GetRelativePath(RepositoryRoot, f).Replace('\\', '/'))
            .OrderBy(f => f, System.StringComparer.Ordinal)
            .Select(f => new object[] { f });

    [Fact]
    public void There_is_at_least_one_sample_model() => Assert.NotEmpty(SampleModels());

    /// <summary>The other model files of the same sample, compiled whole beside the one being cut.</summary>
    private static string[] Siblings(string path) =>
        SampleModels().Select(o => (string)o[0])
            .Where(p => p != path && Path.GetDirectoryName(p) == Path.GetDirectoryName(path))
            .Select(p => File.ReadAllText(Path.Combine(RepositoryRoot, p)))
            .ToArray();

    [Theory]
    [MemberData(nameof(SampleModels))]
    public void No_exception_on_any_token_boundary_truncation(string path)
    {
        string text = File.ReadAllText(Path.Combine(RepositoryRoot, path));
        var siblings = Siblings(path);
        var ends = CSharpSyntaxTree.ParseText(text, ParseOptions).GetRoot().DescendantTokens(descendIntoTrivia: false)
            .Select(t => t.FullSpan.End).Prepend(0).Distinct().ToList();
        var failures = new List<string>();
        foreach (int end in ends)
        {
            var run = Analyze(Compile(siblings.Prepend(text.Substring(0, end)).ToArray()));
            if (run.Exceptions.Count > 0) failures.Add($"prefix of {end} characters: {run.Exceptions[0]}");
        }

        Assert.True(failures.Count == 0, $"{failures.Count} of {ends.Count} prefixes of {path} threw:\n" + string.Join("\n", failures.Take(5)));
    }

    [Theory]
    [MemberData(nameof(SampleModels))]
    public void The_whole_sample_is_clean(string path)
    {
        var run = Analyze(Compile(Siblings(path).Prepend(File.ReadAllText(Path.Combine(RepositoryRoot, path))).ToArray()));
        Assert.Empty(run.Exceptions);
        Assert.True(run.Diagnostics.IsEmpty, string.Join("\n", run.Diagnostics));
    }
}
