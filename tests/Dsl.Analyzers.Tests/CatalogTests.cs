using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Text.RegularExpressions;
using Dsl.Generators.Diagnostics;
using Microsoft.CodeAnalysis;
using Xunit;
using static Dsl.Analyzers.Tests.AnalyzerHarness;

namespace Dsl.Analyzers.Tests;

/// <summary>The catalog, the docs pages, the release notes, the fixers and the tests agree.</summary>
public sealed class CatalogTests
{
    /// <summary>Every descriptor declared in the catalog, found by reflection (new ones are covered without listing them).</summary>
    public static IEnumerable<object[]> Descriptors() =>
        typeof(DiagnosticCatalog).GetFields(BindingFlags.Public | BindingFlags.Static)
            .Where(f => f.FieldType == typeof(DiagnosticDescriptor))
            .Select(f => (DiagnosticDescriptor)f.GetValue(null)!)
            .OrderBy(d => d.Id, StringComparer.Ordinal)
            .Select(d => new object[] { d.Id });

    private static DiagnosticDescriptor Descriptor(string id) =>
        typeof(DiagnosticCatalog).GetFields(BindingFlags.Public | BindingFlags.Static)
            .Where(f => f.FieldType == typeof(DiagnosticDescriptor))
            .Select(f => (DiagnosticDescriptor)f.GetValue(null)!)
            .Single(d => d.Id == id);

    private static string Section(string page, string heading)
    {
        var match = Regex.Match(page, "^## " + Regex.Escape(heading) + "\\s*$(.*?)(?=^## |\\z)", RegexOptions.Multiline | RegexOptions.Singleline);
        Assert.True(match.Success, $"no '## {heading}' section");
        return match.Groups[1].Value;
    }

    [Theory]
    [MemberData(nameof(Descriptors))]
    public void Docs_page_follows_the_template(string id)
    {
        var descriptor = Descriptor(id);
        string path = Path.Combine(RepositoryRoot, "docs", "diagnostics", id + ".md");
        Assert.True(File.Exists(path), $"docs/diagnostics/{id}.md is missing");
        string page = File.ReadAllText(path).Replace("\r\n", "\n");

        Assert.StartsWith($"# {id}: {descriptor.Title}\n", page);
        Assert.Equal($"docs/diagnostics/{id}.md", descriptor.HelpLinkUri);
        Assert.NotEmpty(Section(page, "Rule").Trim());
        string severity = Section(page, "Severity");
        Assert.Contains(descriptor.DefaultSeverity.ToString(), severity);
        Assert.Contains(descriptor.Category, severity);
        Assert.Contains($"dotnet_diagnostic.{id}.severity", severity);
        string why = Section(page, "Why and source");
        Assert.True(why.Contains("[K-") || why.Contains("docs/guide.md"), "the source cites neither a SEEDS post [K-…] nor the guide");
        Assert.Contains("```csharp", Section(page, "Example"));

        bool hasFix = Fixers.Any(f => f.FixableDiagnosticIds.Contains(id));
        string fix = Section(page, "Fix");
        Assert.Contains(hasFix ? "Code fix: yes" : "Code fix: none", fix);
    }

    [Theory]
    [MemberData(nameof(Descriptors))]
    public void Release_entry_matches_the_descriptor(string id)
    {
        var descriptor = Descriptor(id);
        string releases = File.ReadAllText(Path.Combine(RepositoryRoot, "analyzers/Dsl.Analyzers/AnalyzerReleases.Shipped.md")) +
                          File.ReadAllText(Path.Combine(RepositoryRoot, "analyzers/Dsl.Analyzers/AnalyzerReleases.Unshipped.md"));
        Assert.Contains($"{id} | {descriptor.Category} | {descriptor.DefaultSeverity} | {descriptor.Title}", releases);
    }

    [Fact]
    public void Every_analyzer_rule_has_a_firing_case_and_a_near_miss()
    {
        // RuleTests and the per-feature rule classes beside it (MultiTaskRuleTests).
        var names = new[] { typeof(RuleTests), typeof(MultiTaskRuleTests), typeof(MemoryRuleTests) }.SelectMany(t => t.GetMethods())
            .Where(m => m.GetCustomAttributes().Any(a => a is FactAttribute)).Select(m => m.Name).ToList();
        foreach (var id in AnalyzerHarness.Analyzers.SelectMany(a => a.SupportedDiagnostics).Select(d => d.Id).Distinct())
        {
            Assert.True(names.Any(n => n.StartsWith(id + "_fires", StringComparison.Ordinal)), $"{id} has no firing test");
            Assert.True(names.Any(n => n.StartsWith(id + "_near_miss", StringComparison.Ordinal)), $"{id} has no near-miss test");
        }
    }

    [Fact]
    public void Every_catalog_descriptor_is_reported_by_an_analyzer_or_is_internal()
    {
        var supported = AnalyzerHarness.Analyzers.SelectMany(a => a.SupportedDiagnostics).Select(d => d.Id).ToHashSet();
        foreach (var id in Descriptors().Select(o => (string)o[0]))
            Assert.True(supported.Contains(id) || id == DiagnosticCatalog.InternalErrorId, $"{id} is in the catalog but no analyzer reports it");
    }

    [Fact]
    public void Every_fixable_id_is_in_the_catalog() =>
        Assert.All(Fixers.SelectMany(f => f.FixableDiagnosticIds), id => Assert.Contains(new object[] { id }, Descriptors(), new IdComparer()));

    private sealed class IdComparer : IEqualityComparer<object[]>
    {
        public bool Equals(object[]? x, object[]? y) => Equals(x?[0], y?[0]);
        public int GetHashCode(object[] obj) => obj[0].GetHashCode();
    }
}
