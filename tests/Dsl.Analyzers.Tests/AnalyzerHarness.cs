using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Dsl.Analyzers;
using Dsl.CodeFixes;
using Dsl.Generators;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Text;

namespace Dsl.Analyzers.Tests;

/// <summary>What one analysis produced: the diagnostics, and any exception an analyzer or the
/// generator threw (which a user would see as AD0001 or CS8785).</summary>
internal sealed record AnalysisRun(ImmutableArray<Diagnostic> Diagnostics, IReadOnlyList<string> Exceptions, Compilation Output);

/// <summary>
/// Drives the real generator and analyzers the way a command-line build does, and the code fixes as
/// an IDE offers them (the
/// Microsoft.CodeAnalysis.Testing packages are not available): a compilation of source text,
/// the generator run first, then <see cref="CompilationWithAnalyzers"/> over the result.
/// Sources use the same [| |] span markup as Dsl.Generators.Tests.
/// </summary>
internal static class AnalyzerHarness
{
    public const string Header = "using Dsl;\nnamespace T;\n\n";

    public static readonly CSharpParseOptions ParseOptions = new(LanguageVersion.Preview);

    public static readonly CSharpCompilationOptions CompilationOptions =
        new(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable, allowUnsafe: true);

    public static ImmutableArray<DiagnosticAnalyzer> Analyzers { get; } =
        ImmutableArray.Create<DiagnosticAnalyzer>(new ModelAnalyzer(), new TrainStepAnalyzer(), new OptimizerAnalyzer());

    public static ImmutableArray<CodeFixProvider> Fixers { get; } =
        ImmutableArray.Create<CodeFixProvider>(new SetArgumentCodeFixProvider(), new PartialCodeFixProvider(), new AddLossCodeFixProvider());

    /// <summary>The BCL and the Dsl runtime, as metadata references.</summary>
    public static ImmutableArray<MetadataReference> References { get; } = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!)
        .Split(Path.PathSeparator)
        .Where(p => Path.GetFileName(p).StartsWith("System.", StringComparison.Ordinal) || Path.GetFileName(p) is "mscorlib.dll" or "netstandard.dll")
        .Append(typeof(Dsl.Tensor).Assembly.Location)
        .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p))
        .ToImmutableArray();

    /// <summary>The repository root (tests read the samples and docs from it).</summary>
    public static string RepositoryRoot { get; } = FindRoot();

    public static CSharpCompilation Compile(params string[] sources) =>
        CSharpCompilation.Create("UserModels",
            sources.Select((s, i) => CSharpSyntaxTree.ParseText(s, ParseOptions, path: $"/src/Model{i}.cs")),
            References, CompilationOptions);

    /// <summary>Runs the generator, then the analyzers (with <paramref name="options"/> if given).</summary>
    public static AnalysisRun Analyze(Compilation compilation, AnalyzerOptions? options = null)
    {
        var exceptions = new List<string>();
        var driver = CSharpGeneratorDriver.Create(new[] { new ModelGenerator().AsSourceGenerator() }, parseOptions: ParseOptions)
            .RunGeneratorsAndUpdateCompilation(compilation, out var output, out var generatorDiagnostics);
        foreach (var result in driver.GetRunResult().Results)
            if (result.Exception is not null) exceptions.Add("generator: " + result.Exception);

        var withAnalyzers = output.WithAnalyzers(Analyzers, new CompilationWithAnalyzersOptions(
            options ?? new AnalyzerOptions(ImmutableArray<AdditionalText>.Empty),
            onAnalyzerException: (e, analyzer, _) => { lock (exceptions) exceptions.Add(analyzer.GetType().Name + ": " + e); },
            concurrentAnalysis: false, logAnalyzerExecutionTime: false, reportSuppressedDiagnostics: false));
        var diagnostics = withAnalyzers.GetAnalyzerDiagnosticsAsync(CancellationToken.None).GetAwaiter().GetResult();
        foreach (var d in diagnostics.Concat(generatorDiagnostics))
            if (d.Id is "AD0001" or "CS8785" or "DSL901") exceptions.Add(d.ToString());
        // As in a command-line build: parse or declaration errors stop the compiler before it reports
        // the analyzers' diagnostics (they still ran above, so their exceptions count).
        if (StopsBeforeAnalyzers(output)) diagnostics = ImmutableArray<Diagnostic>.Empty;
        return new AnalysisRun(diagnostics.AddRange(generatorDiagnostics), exceptions, output);
    }

    /// <summary>Whether csc would stop before the analyzers: an error among the parse or declaration diagnostics.</summary>
    public static bool StopsBeforeAnalyzers(Compilation output) =>
        output.GetParseDiagnostics().Concat(output.GetDeclarationDiagnostics()).Any(d => d.Severity == DiagnosticSeverity.Error);

    /// <summary>Strips the [| |] markup; returns the source and the marked span (or null without markup).</summary>
    public static (string Source, TextSpan? Span) Markup(string marked)
    {
        int start = marked.IndexOf("[|", StringComparison.Ordinal);
        if (start < 0) return (marked, null);
        int end = marked.IndexOf("|]", StringComparison.Ordinal) - 2;
        return (marked.Replace("[|", "").Replace("|]", ""), TextSpan.FromBounds(start, end));
    }

    /// <summary>Errors a build would report after generation: the compiler's, the generator's and the analyzers'.</summary>
    public static List<Diagnostic> BuildErrors(Compilation compilation)
    {
        var run = Analyze(compilation);
        return run.Output.GetDiagnostics().Concat(run.Diagnostics)
            .Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Dsl.sln"))) return dir.FullName;
        throw new InvalidOperationException("Dsl.sln not found above " + AppContext.BaseDirectory);
    }
}
