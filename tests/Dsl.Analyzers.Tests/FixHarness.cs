using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeActions;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.Text;
using Xunit;

namespace Dsl.Analyzers.Tests;

/// <summary>
/// Applies code fixes as an IDE does: an <see cref="AdhocWorkspace"/> project, the diagnostics of its
/// compilation (generator run first), a <see cref="CodeFixContext"/> per diagnostic, the chosen
/// <see cref="CodeAction"/>'s <see cref="ApplyChangesOperation"/> applied to the workspace.
/// </summary>
internal sealed class FixHarness : System.IDisposable
{
    private readonly AdhocWorkspace _workspace = new();

    public FixHarness(params string[] sources)
    {
        var project = _workspace.AddProject(ProjectInfo.Create(ProjectId.CreateNewId(), VersionStamp.Default, "UserModels", "UserModels",
            LanguageNames.CSharp, compilationOptions: AnalyzerHarness.CompilationOptions, parseOptions: AnalyzerHarness.ParseOptions,
            metadataReferences: AnalyzerHarness.References));
        for (int i = 0; i < sources.Length; i++)
            project = _workspace.AddDocument(project.Id, $"Model{i}.cs", SourceText.From(sources[i])).Project;
    }

    public Solution Solution => _workspace.CurrentSolution;

    public Project Project => Solution.Projects.Single();

    public Document Document(int index = 0) => Project.Documents.Single(d => d.Name == $"Model{index}.cs");

    public Compilation Compilation() => Project.GetCompilationAsync().GetAwaiter().GetResult()!;

    /// <summary>The analyzers' diagnostics on the current solution.</summary>
    public ImmutableArray<Diagnostic> Diagnostics() => AnalyzerHarness.Analyze(Compilation()).Diagnostics;

    /// <summary>The code actions the fixers offer for <paramref name="diagnostic"/>.</summary>
    public List<CodeAction> Actions(Diagnostic diagnostic)
    {
        var document = Solution.GetDocument(diagnostic.Location.SourceTree)!;
        var actions = new List<CodeAction>();
        foreach (var fixer in AnalyzerHarness.Fixers.Where(f => f.FixableDiagnosticIds.Contains(diagnostic.Id)))
            fixer.RegisterCodeFixesAsync(new CodeFixContext(document, diagnostic, (a, _) => actions.Add(a), CancellationToken.None)).GetAwaiter().GetResult();
        return actions;
    }

    /// <summary>Applies the action with <paramref name="equivalenceKey"/> offered for <paramref name="diagnostic"/>.</summary>
    public void Apply(Diagnostic diagnostic, string equivalenceKey)
    {
        var actions = Actions(diagnostic);
        var action = actions.SingleOrDefault(a => a.EquivalenceKey == equivalenceKey);
        Assert.True(action is not null, $"no action '{equivalenceKey}' for {diagnostic}; offered: {string.Join(", ", actions.Select(a => a.EquivalenceKey))}");
        Apply(action!);
    }

    public void Apply(CodeAction action)
    {
        var operations = action.GetOperationsAsync(CancellationToken.None).GetAwaiter().GetResult();
        var apply = Assert.Single(operations.OfType<ApplyChangesOperation>());
        Assert.True(_workspace.TryApplyChanges(apply.ChangedSolution), "the workspace refused the change");
    }

    /// <summary>Fix All in <paramref name="scope"/> for the diagnostics with <paramref name="id"/>.</summary>
    public void FixAll(string id, string equivalenceKey, FixAllScope scope = FixAllScope.Solution)
    {
        var diagnostics = Diagnostics().Where(d => d.Id == id).ToImmutableArray();
        var first = diagnostics.First();
        var fixer = AnalyzerHarness.Fixers.Single(f => f.FixableDiagnosticIds.Contains(id) && Actions(first).Any(a => a.EquivalenceKey == equivalenceKey));
        var provider = fixer.GetFixAllProvider();
        Assert.NotNull(provider);
        var context = new FixAllContext(Solution.GetDocument(first.Location.SourceTree)!, fixer, scope, equivalenceKey,
            new[] { id }, new FixedDiagnostics(diagnostics), CancellationToken.None);
        var action = provider!.GetFixAsync(context).GetAwaiter().GetResult();
        Assert.NotNull(action);
        Apply(action!);
    }

    public SyntaxTree Tree(int index = 0) => Document(index).GetSyntaxTreeAsync().GetAwaiter().GetResult()!;

    public string Text(int index = 0) => Document(index).GetTextAsync().GetAwaiter().GetResult().ToString();

    public void Dispose() => _workspace.Dispose();

    /// <summary>Fix All's diagnostic source: the diagnostics already computed.</summary>
    private sealed class FixedDiagnostics(ImmutableArray<Diagnostic> diagnostics) : FixAllContext.DiagnosticProvider
    {
        public override Task<IEnumerable<Diagnostic>> GetAllDiagnosticsAsync(Project project, CancellationToken cancellationToken) =>
            Task.FromResult<IEnumerable<Diagnostic>>(diagnostics);

        public override async Task<IEnumerable<Diagnostic>> GetDocumentDiagnosticsAsync(Document document, CancellationToken cancellationToken)
        {
            var tree = await document.GetSyntaxTreeAsync(cancellationToken).ConfigureAwait(false);
            return diagnostics.Where(d => d.Location.SourceTree == tree);
        }

        public override Task<IEnumerable<Diagnostic>> GetProjectDiagnosticsAsync(Project project, CancellationToken cancellationToken) =>
            Task.FromResult<IEnumerable<Diagnostic>>(Enumerable.Empty<Diagnostic>());
    }
}
