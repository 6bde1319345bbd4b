using System.Collections.Generic;
using System.Collections.Immutable;
using System.Composition;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Dsl.Generators.Diagnostics;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeActions;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using static Microsoft.CodeAnalysis.CSharp.SyntaxFactory;

namespace Dsl.CodeFixes;

/// <summary>
/// DSL101: adds <c>partial</c> to the model or module type (and to the types containing it, which
/// the generated part also re-declares). DSL103: adds <c>partial</c> to a body-less layer member, or
/// removes <c>static</c> from one; the other signature problems need the user's intent.
/// </summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(PartialCodeFixProvider)), Shared]
public sealed class PartialCodeFixProvider : CodeFixProvider
{
    public override ImmutableArray<string> FixableDiagnosticIds { get; } =
        ImmutableArray.Create(DiagnosticCatalog.ModelNotPartialId, DiagnosticCatalog.LayerSignatureId);

    public override FixAllProvider GetFixAllProvider() => WellKnownFixAllProviders.BatchFixer;

    public override async Task RegisterCodeFixesAsync(CodeFixContext context)
    {
        var root = await context.Document.GetSyntaxRootAsync(context.CancellationToken).ConfigureAwait(false);
        if (root is null) return;
        foreach (var diagnostic in context.Diagnostics)
        {
            var token = root.FindToken(diagnostic.Location.SourceSpan.Start);
            if (diagnostic.Id == DiagnosticCatalog.ModelNotPartialId)
            {
                if (token.Parent?.AncestorsAndSelf().OfType<TypeDeclarationSyntax>().FirstOrDefault() is not { } type) continue;
                context.RegisterCodeFix(CodeAction.Create($"Make '{type.Identifier.ValueText}' partial",
                    ct => Replace(context.Document, ct, r => MakeTypesPartial(r, type.Span)), EquivalenceKeys.MakeTypePartial), diagnostic);
                continue;
            }

            if (token.Parent?.AncestorsAndSelf().OfType<MethodDeclarationSyntax>().FirstOrDefault() is not { } method) continue;
            string name = method.Identifier.ValueText;
            if (!method.Modifiers.Any(SyntaxKind.PartialKeyword) && method.Body is null && method.ExpressionBody is null)
                context.RegisterCodeFix(CodeAction.Create($"Make '{name}' partial",
                    ct => Replace(context.Document, ct, r => EditMethod(r, method.Span, MakePartial)), EquivalenceKeys.MakeMethodPartial), diagnostic);
            if (method.Modifiers.Any(SyntaxKind.StaticKeyword))
                context.RegisterCodeFix(CodeAction.Create($"Make '{name}' an instance method",
                    ct => Replace(context.Document, ct, r => EditMethod(r, method.Span, RemoveStatic)), EquivalenceKeys.RemoveStatic), diagnostic);
        }
    }

    private static async Task<Document> Replace(Document document, CancellationToken ct, System.Func<SyntaxNode, SyntaxNode> edit)
    {
        var root = await document.GetSyntaxRootAsync(ct).ConfigureAwait(false);
        return root is null ? document : document.WithSyntaxRoot(edit(root));
    }

    /// <summary>The type at <paramref name="span"/> and every type containing it, made partial.</summary>
    private static SyntaxNode MakeTypesPartial(SyntaxNode root, Microsoft.CodeAnalysis.Text.TextSpan span)
    {
        var type = root.FindNode(span).AncestorsAndSelf().OfType<TypeDeclarationSyntax>().FirstOrDefault();
        if (type is null) return root;
        var targets = new HashSet<TypeDeclarationSyntax>(type.AncestorsAndSelf().OfType<TypeDeclarationSyntax>()
            .Where(t => !t.Modifiers.Any(SyntaxKind.PartialKeyword)));
        return root.ReplaceNodes(targets, (original, rewritten) =>
        {
            var modifiers = WithPartial(rewritten.Modifiers, rewritten.Keyword, out var keyword);
            return rewritten.WithModifiers(modifiers).WithKeyword(keyword);
        });
    }

    private static SyntaxNode EditMethod(SyntaxNode root, Microsoft.CodeAnalysis.Text.TextSpan span, System.Func<MethodDeclarationSyntax, MethodDeclarationSyntax> edit)
    {
        var method = root.FindNode(span).AncestorsAndSelf().OfType<MethodDeclarationSyntax>().FirstOrDefault();
        return method is null ? root : root.ReplaceNode(method, edit(method));
    }

    private static MethodDeclarationSyntax MakePartial(MethodDeclarationSyntax method)
    {
        var first = method.ReturnType.GetFirstToken();
        var modifiers = method.Modifiers;
        // A partial method with a non-void return type needs an accessibility modifier.
        if (!modifiers.Any(m => m.IsKind(SyntaxKind.PublicKeyword) || m.IsKind(SyntaxKind.InternalKeyword) || m.IsKind(SyntaxKind.PrivateKeyword) || m.IsKind(SyntaxKind.ProtectedKeyword)))
            modifiers = modifiers.Insert(0, Token(SyntaxKind.PrivateKeyword).WithTrailingTrivia(Space));
        modifiers = WithPartial(modifiers, first, out var newFirst);
        if (method.Modifiers.Count == 0 && modifiers.Count > 0)
        {
            // The return type's indentation moves to the first modifier.
            modifiers = modifiers.Replace(modifiers[0], modifiers[0].WithLeadingTrivia(first.LeadingTrivia));
            newFirst = newFirst.WithLeadingTrivia();
        }

        return method.ReplaceToken(first, newFirst).WithModifiers(modifiers);
    }

    private static MethodDeclarationSyntax RemoveStatic(MethodDeclarationSyntax method)
    {
        var modifiers = method.Modifiers;
        int index = modifiers.IndexOf(SyntaxKind.StaticKeyword);
        if (index < 0) return method;
        var removed = modifiers[index];
        modifiers = modifiers.RemoveAt(index);
        if (index > 0 || modifiers.Count > 0)
        {
            if (index == 0) modifiers = modifiers.Replace(modifiers[0], modifiers[0].WithLeadingTrivia(removed.LeadingTrivia));
            return method.WithModifiers(modifiers);
        }

        var first = method.ReturnType.GetFirstToken();
        return method.WithModifiers(modifiers).ReplaceToken(first, first.WithLeadingTrivia(removed.LeadingTrivia));
    }

    /// <summary>Appends <c>partial</c> (it must come last, right before the keyword or return type);
    /// with no modifiers yet, the following token's leading trivia moves to it.</summary>
    private static SyntaxTokenList WithPartial(SyntaxTokenList modifiers, SyntaxToken next, out SyntaxToken newNext)
    {
        newNext = next;
        if (modifiers.Any(SyntaxKind.PartialKeyword)) return modifiers;
        if (modifiers.Count == 0)
        {
            newNext = next.WithLeadingTrivia();
            return TokenList(Token(next.LeadingTrivia, SyntaxKind.PartialKeyword, TriviaList(Space)));
        }

        return modifiers.Add(Token(SyntaxKind.PartialKeyword).WithTrailingTrivia(Space));
    }
}
