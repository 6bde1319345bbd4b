using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using Xunit;
using static Dsl.Analyzers.Tests.AnalyzerHarness;

namespace Dsl.Analyzers.Tests;

/// <summary>
/// Severities come from .editorconfig (<c>dotnet_diagnostic.DSL201.severity = none</c>) as in a build:
/// the compiler parses the files into an <see cref="AnalyzerConfigSet"/>, whose per-tree severities
/// reach the compilation as its <see cref="SyntaxTreeOptionsProvider"/> and whose key/value options
/// reach analyzers as the <see cref="AnalyzerConfigOptionsProvider"/> of <see cref="AnalyzerOptions"/>.
/// The compiler's own providers are internal, so these tests wire both from the same parsed files.
/// </summary>
public sealed class SeverityTests
{
    private static readonly string s_broken = Header + RuleTests.Valid.Replace("Dense(Out = 4)", "Dense(Out = 4, In = 30)").Replace("B = 1", "B = 0");

    private static ImmutableArray<Diagnostic> AnalyzeWith(params (string Path, string Text)[] configs)
    {
        var set = AnalyzerConfigSet.Create(configs.Select(c => AnalyzerConfig.Parse(c.Text, c.Path)).ToList());
        var compilation = Compile(s_broken);
        compilation = compilation.WithOptions(compilation.Options.WithSyntaxTreeOptionsProvider(new TreeOptions(set)));
        var run = Analyze(compilation, new AnalyzerOptions(ImmutableArray<AdditionalText>.Empty, new ConfigOptions(set)));
        Assert.Empty(run.Exceptions);
        return run.Diagnostics;
    }

    [Fact]
    public void Without_configuration_both_rules_are_errors()
    {
        var found = AnalyzeWith();
        Assert.Equal(DiagnosticSeverity.Error, Assert.Single(found, d => d.Id == "DSL201").Severity);
        Assert.Equal(DiagnosticSeverity.Error, Assert.Single(found, d => d.Id == "DSL301").Severity);
    }

    [Fact]
    public void Editorconfig_none_silences_one_rule_only()
    {
        var found = AnalyzeWith(("/src/.editorconfig", "root = true\n[*.cs]\ndotnet_diagnostic.DSL201.severity = none\n"));
        Assert.DoesNotContain(found, d => d.Id == "DSL201");
        Assert.Single(found, d => d.Id == "DSL301");
    }

    [Fact]
    public void Editorconfig_warning_and_suggestion_change_the_severity()
    {
        var found = AnalyzeWith(("/src/.editorconfig",
            "root = true\n[*.cs]\ndotnet_diagnostic.DSL201.severity = warning\ndotnet_diagnostic.DSL301.severity = suggestion\n"));
        Assert.Equal(DiagnosticSeverity.Warning, Assert.Single(found, d => d.Id == "DSL201").Severity);
        Assert.Equal(DiagnosticSeverity.Info, Assert.Single(found, d => d.Id == "DSL301").Severity);
    }

    [Fact]
    public void Category_severity_applies_to_every_rule_of_the_category()
    {
        var found = AnalyzeWith(("/src/.editorconfig", "root = true\n[*.cs]\ndotnet_analyzer_diagnostic.category-Dsl.Scaling.severity = warning\n"));
        Assert.Equal(DiagnosticSeverity.Warning, Assert.Single(found, d => d.Id == "DSL301").Severity);
        Assert.Equal(DiagnosticSeverity.Error, Assert.Single(found, d => d.Id == "DSL201").Severity);
    }

    [Fact]
    public void Global_config_silences_a_rule()
    {
        var found = AnalyzeWith(("/src/.globalconfig", "is_global = true\ndotnet_diagnostic.DSL301.severity = none\n"));
        Assert.DoesNotContain(found, d => d.Id == "DSL301");
        Assert.Single(found, d => d.Id == "DSL201");
    }

    [Fact]
    public void A_warning_raised_to_error_does_not_block_generation()
    {
        // Validity depends on the default severity only (DiagnosticCatalog.BlocksGeneration): a user who
        // escalates a scaling heuristic still gets a generated model, and the build reports the error.
        string source = Header + RuleTests.Gpt.Replace("Causal = true", "Causal = true, Window = 100");
        var set = AnalyzerConfigSet.Create(new[] { AnalyzerConfig.Parse("root = true\n[*.cs]\ndotnet_diagnostic.DSL309.severity = error\n", "/src/.editorconfig") });
        var compilation = Compile(source);
        compilation = compilation.WithOptions(compilation.Options.WithSyntaxTreeOptionsProvider(new TreeOptions(set)));
        var run = Analyze(compilation, new AnalyzerOptions(ImmutableArray<AdditionalText>.Empty, new ConfigOptions(set)));
        Assert.Equal(DiagnosticSeverity.Error, Assert.Single(run.Diagnostics, d => d.Id == "DSL309").Severity);
        var generated = string.Concat(run.Output.SyntaxTrees.Where(t => t.FilePath.EndsWith(".g.cs", System.StringComparison.Ordinal)).Select(t => t.ToString()));
        Assert.Contains("TrainStep", generated, System.StringComparison.Ordinal);
        Assert.DoesNotContain("has errors in its declaration", generated, System.StringComparison.Ordinal);
    }

    [Fact]
    public void An_error_silenced_in_editorconfig_still_blocks_generation()
    {
        var set = AnalyzerConfigSet.Create(new[] { AnalyzerConfig.Parse("root = true\n[*.cs]\ndotnet_diagnostic.DSL301.severity = none\n", "/src/.editorconfig") });
        var compilation = Compile(Header + RuleTests.Valid.Replace("B = 1", "B = 0"));
        compilation = compilation.WithOptions(compilation.Options.WithSyntaxTreeOptionsProvider(new TreeOptions(set)));
        var run = Analyze(compilation, new AnalyzerOptions(ImmutableArray<AdditionalText>.Empty, new ConfigOptions(set)));
        Assert.DoesNotContain(run.Diagnostics, d => d.Id == "DSL301");
        var generated = string.Concat(run.Output.SyntaxTrees.Where(t => t.FilePath.EndsWith(".g.cs", System.StringComparison.Ordinal)).Select(t => t.ToString()));
        Assert.Contains("has errors in its declaration", generated, System.StringComparison.Ordinal);
    }

    [Fact]
    public void Every_descriptor_is_enabled_and_configurable()
    {
        foreach (var descriptor in AnalyzerHarness.Analyzers.SelectMany(a => a.SupportedDiagnostics))
        {
            Assert.True(descriptor.IsEnabledByDefault, descriptor.Id);
            Assert.DoesNotContain(WellKnownDiagnosticTags.NotConfigurable, descriptor.CustomTags);
        }
    }

    /// <summary>The per-tree severities of an <see cref="AnalyzerConfigSet"/>, as the compiler supplies them.</summary>
    private sealed class TreeOptions(AnalyzerConfigSet set) : SyntaxTreeOptionsProvider
    {
        public override GeneratedKind IsGenerated(SyntaxTree tree, CancellationToken cancellationToken) => GeneratedKind.Unknown;

        public override bool TryGetDiagnosticValue(SyntaxTree tree, string diagnosticId, CancellationToken cancellationToken, out ReportDiagnostic severity) =>
            set.GetOptionsForSourcePath(tree.FilePath).TreeOptions.TryGetValue(diagnosticId, out severity);

        public override bool TryGetGlobalDiagnosticValue(string diagnosticId, CancellationToken cancellationToken, out ReportDiagnostic severity) =>
            set.GlobalConfigOptions.TreeOptions.TryGetValue(diagnosticId, out severity);
    }

    /// <summary>The key/value options of an <see cref="AnalyzerConfigSet"/> (category severities are read from these).</summary>
    private sealed class ConfigOptions(AnalyzerConfigSet set) : AnalyzerConfigOptionsProvider
    {
        public override AnalyzerConfigOptions GlobalOptions { get; } = new Options(set.GlobalConfigOptions.AnalyzerOptions);

        public override AnalyzerConfigOptions GetOptions(SyntaxTree tree) => new Options(set.GetOptionsForSourcePath(tree.FilePath).AnalyzerOptions);

        public override AnalyzerConfigOptions GetOptions(AdditionalText textFile) => new Options(set.GetOptionsForSourcePath(textFile.Path).AnalyzerOptions);

        private sealed class Options(ImmutableDictionary<string, string> values) : AnalyzerConfigOptions
        {
            public override bool TryGetValue(string key, out string value) => values.TryGetValue(key, out value!);

            public override IEnumerable<string> Keys => values.Keys;
        }
    }
}
