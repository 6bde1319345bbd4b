using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.IO;
using System.Linq;
using System.Threading;
using Dsl.Analyzers;
using Dsl.CodeFixes;
using Dsl.Generators;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeActions;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Text;

namespace Dsl.Diagnostics;

/// <summary>Compiles user files as a build would (the generator first, then the analyzers) and asks
/// the code fixers what they offer for each diagnostic, as an IDE would.</summary>
internal static class Runner
{
    public static readonly CSharpParseOptions ParseOptions = new(LanguageVersion.Preview);

    public static readonly ImmutableArray<DiagnosticAnalyzer> Analyzers =
        ImmutableArray.Create<DiagnosticAnalyzer>(new ModelAnalyzer(), new TrainStepAnalyzer(), new OptimizerAnalyzer());

    private static readonly CodeFixProvider[] s_fixers = { new SetArgumentCodeFixProvider(), new PartialCodeFixProvider(), new AddLossCodeFixProvider() };

    private static readonly CSharpCompilationOptions s_options = new(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable);

    public static readonly ImmutableArray<MetadataReference> References = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!)
        .Split(Path.PathSeparator)
        .Where(p => Path.GetFileName(p).StartsWith("System.", StringComparison.Ordinal) || Path.GetFileName(p) is "mscorlib.dll" or "netstandard.dll")
        .Append(typeof(Dsl.Tensor).Assembly.Location)
        .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p))
        .ToImmutableArray();

    public static CSharpCompilation Compile(IEnumerable<(string Path, string Text)> files) =>
        CSharpCompilation.Create("UserModels", files.Select(f => CSharpSyntaxTree.ParseText(f.Text, ParseOptions, f.Path)), References, s_options);

    /// <summary>Runs the generator; returns the compilation with its output added.</summary>
    public static Compilation Generate(Compilation compilation) => Generate(compilation, out _);

    /// <summary>Runs the generator; returns the compilation with its output added, and the generator's diagnostics.</summary>
    public static Compilation Generate(Compilation compilation, out ImmutableArray<Diagnostic> diagnostics)
    {
        CSharpGeneratorDriver.Create(new[] { new ModelGenerator().AsSourceGenerator() }, parseOptions: ParseOptions)
            .RunGeneratorsAndUpdateCompilation(compilation, out var output, out diagnostics);
        return output;
    }

    /// <summary>The DSL diagnostics (and the compiler's errors) of <paramref name="files"/>, with the fixes offered.</summary>
    public static List<(Diagnostic Diagnostic, IReadOnlyList<string> Fixes)> Report(IReadOnlyList<(string Path, string Text)> files)
    {
        using var workspace = new AdhocWorkspace();
        var project = workspace.AddProject(ProjectInfo.Create(ProjectId.CreateNewId(), VersionStamp.Default, "UserModels", "UserModels",
            LanguageNames.CSharp, compilationOptions: s_options, parseOptions: ParseOptions, metadataReferences: References));
        foreach (var (path, text) in files)
            project = workspace.AddDocument(DocumentInfo.Create(DocumentId.CreateNewId(project.Id), Path.GetFileName(path), filePath: path,
                loader: TextLoader.From(TextAndVersion.Create(SourceText.From(text), VersionStamp.Default)))).Project;

        var output = Generate(project.GetCompilationAsync().GetAwaiter().GetResult()!, out var generated);
        // As csc does: a parse or declaration error stops the build before the analyzers' diagnostics; the
        // generator reports the DSL mistakes behind those errors itself.
        bool stops = output.GetParseDiagnostics().Concat(output.GetDeclarationDiagnostics()).Any(d => d.Severity == DiagnosticSeverity.Error);
        var dsl = (stops ? ImmutableArray<Diagnostic>.Empty : output.WithAnalyzers(Analyzers).GetAnalyzerDiagnosticsAsync(CancellationToken.None).GetAwaiter().GetResult())
            .AddRange(generated);
        var compiler = output.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error && d.Location.IsInSource && files.Any(f => f.Path == d.Location.SourceTree!.FilePath));
        return dsl.Concat(compiler)
            .OrderBy(d => d.Location.SourceTree?.FilePath, StringComparer.Ordinal).ThenBy(d => d.Location.SourceSpan.Start).ThenBy(d => d.Id, StringComparer.Ordinal)
            .Select(d => (d, (IReadOnlyList<string>)Fixes(project.Solution, d)))
            .ToList();
    }

    private static List<string> Fixes(Solution solution, Diagnostic diagnostic)
    {
        var titles = new List<string>();
        var document = diagnostic.Location.SourceTree is { } tree ? solution.GetDocument(tree) : null;
        if (document is null) return titles;
        foreach (var fixer in s_fixers.Where(f => f.FixableDiagnosticIds.Contains(diagnostic.Id)))
            fixer.RegisterCodeFixesAsync(new CodeFixContext(document, diagnostic, (CodeAction a, ImmutableArray<Diagnostic> _) => titles.Add(a.Title), CancellationToken.None))
                .GetAwaiter().GetResult();
        return titles;
    }

    /// <summary>Prints a diagnostic as a build does, with the source line, a caret line and the fixes.</summary>
    public static void Print(TextWriter writer, Diagnostic diagnostic, IReadOnlyList<string> fixes)
    {
        writer.WriteLine(diagnostic.ToString());
        if (diagnostic.Location.SourceTree is { } tree)
        {
            var span = diagnostic.Location.GetLineSpan();
            var line = tree.GetText().Lines[span.StartLinePosition.Line];
            string text = line.ToString();
            int start = span.StartLinePosition.Character;
            int end = span.EndLinePosition.Line == span.StartLinePosition.Line ? span.EndLinePosition.Character : text.Length;
            writer.WriteLine("    " + text.TrimEnd());
            writer.WriteLine("    " + new string(' ', start) + new string('^', Math.Max(1, end - start)));
        }

        foreach (var fix in fixes) writer.WriteLine("    code fix: " + fix);
        if (diagnostic.Descriptor.HelpLinkUri is { Length: > 0 } help) writer.WriteLine("    help: " + help);
    }
}
