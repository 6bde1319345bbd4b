using System.Collections.Immutable;
using System.Composition;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Dsl.Generators.Diagnostics;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeActions;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.Text;

namespace Dsl.CodeFixes;

/// <summary>
/// "Set In = 20", "Set B = 4", "Remove In": the edit comes from the diagnostic's properties
/// ("Argument"/"Value", "Argument2"/"Value2", ..., "Remove", "Title"; see the contract at the end of
/// <see cref="DiagnosticCatalog"/>), computed by the analyzer, so this fixer knows no rule. To give a
/// new rule this fix, add its id to <see cref="DiagnosticCatalog.SetArgumentFixableIds"/> and make the
/// analyzer attach the properties (one line in Dsl.Analyzers' FixProperties).
/// </summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(SetArgumentCodeFixProvider)), Shared]
public sealed class SetArgumentCodeFixProvider : CodeFixProvider
{
    public override ImmutableArray<string> FixableDiagnosticIds { get; } = ImmutableArray.Create(DiagnosticCatalog.SetArgumentFixableIds);

    public override FixAllProvider GetFixAllProvider() => WellKnownFixAllProviders.BatchFixer;

    public override Task RegisterCodeFixesAsync(CodeFixContext context)
    {
        foreach (var diagnostic in context.Diagnostics)
        {
            var properties = diagnostic.Properties;
            var assignments = ArgumentEdits.Assignments(properties);
            if (assignments.Count > 0)
            {
                string title = properties.TryGetValue(DiagnosticCatalog.TitleProperty, out var custom) && custom is not null
                    ? custom
                    : "Set " + string.Join(", ", assignments.Select(a => a.Argument + " = " + a.Value));
                string key = EquivalenceKeys.SetArgument(diagnostic.Id, string.Join(",", assignments.Select(a => a.Argument)));
                context.RegisterCodeFix(CodeAction.Create(title,
                    ct => Edit(context.Document, diagnostic.Location.SourceSpan, root => ArgumentEdits.Set(root, diagnostic.Location.SourceSpan, assignments), ct), key),
                    diagnostic);
            }

            if (properties.TryGetValue(DiagnosticCatalog.RemoveProperty, out var remove) && remove is not null)
            {
                context.RegisterCodeFix(CodeAction.Create($"Remove {remove} (let it be inferred)",
                    ct => Edit(context.Document, diagnostic.Location.SourceSpan, root => ArgumentEdits.Remove(root, diagnostic.Location.SourceSpan, remove), ct),
                    EquivalenceKeys.RemoveArgument(diagnostic.Id, remove)),
                    diagnostic);
            }
        }

        return Task.CompletedTask;
    }

    private static async Task<Document> Edit(Document document, TextSpan span, System.Func<SyntaxNode, SyntaxNode?> edit, CancellationToken ct)
    {
        var root = await document.GetSyntaxRootAsync(ct).ConfigureAwait(false);
        if (root is null || span.End > root.FullSpan.End) return document;
        var changed = edit(root);
        return changed is null ? document : document.WithSyntaxRoot(changed);
    }
}
