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
using Microsoft.CodeAnalysis.Formatting;
using Microsoft.CodeAnalysis.Simplification;

namespace Dsl.CodeFixes;

/// <summary>
/// DSL109: adds a [Loss] method to the model a <c>TrainStep</c> call is made on (the diagnostic's
/// additional location is the model's declaration, possibly in another file): softmax cross-entropy
/// against <c>Labels</c>, or mean squared error against a target <c>Tensor</c>. No Fix All: which
/// loss a model needs is a per-model decision, and several calls on one model share one fix.
/// </summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(AddLossCodeFixProvider)), Shared]
public sealed class AddLossCodeFixProvider : CodeFixProvider
{
    public override ImmutableArray<string> FixableDiagnosticIds { get; } = ImmutableArray.Create(DiagnosticCatalog.MissingLossId);

    public override FixAllProvider? GetFixAllProvider() => null;

    public override Task RegisterCodeFixesAsync(CodeFixContext context)
    {
        foreach (var diagnostic in context.Diagnostics)
        {
            if (diagnostic.AdditionalLocations.FirstOrDefault() is not { IsInSource: true } declaration) continue;
            var solution = context.Document.Project.Solution;
            context.RegisterCodeFix(CodeAction.Create("Add a cross-entropy [Loss] method (Labels targets)",
                ct => AddLoss(solution, declaration, "global::Dsl.Labels labels", "SoftmaxCrossEntropy", "labels", ct),
                EquivalenceKeys.AddCrossEntropyLoss), diagnostic);
            context.RegisterCodeFix(CodeAction.Create("Add a mean-squared-error [Loss] method (Tensor targets)",
                ct => AddLoss(solution, declaration, "global::Dsl.Tensor targets", "MeanSquaredError", "targets", ct),
                EquivalenceKeys.AddMeanSquaredErrorLoss), diagnostic);
        }

        return Task.CompletedTask;
    }

    private static async Task<Solution> AddLoss(Solution solution, Location declaration, string targetParameter, string op, string target, CancellationToken ct)
    {
        var document = solution.GetDocument(declaration.SourceTree);
        var root = document is null ? null : await document.GetSyntaxRootAsync(ct).ConfigureAwait(false);
        if (document is null || root is null) return solution;
        var type = root.FindToken(declaration.SourceSpan.Start).Parent?.AncestorsAndSelf().OfType<TypeDeclarationSyntax>().FirstOrDefault();
        if (type is null) return solution;

        string name = type.Members.Any(m => m is MethodDeclarationSyntax { Identifier.ValueText: "Loss" } or PropertyDeclarationSyntax { Identifier.ValueText: "Loss" })
            ? "TrainingLoss" : "Loss";
        var member = SyntaxFactory.ParseMemberDeclaration(
            $"[global::Dsl.Loss] public global::Dsl.Scalar {name}(global::Dsl.Tensor inputs, {targetParameter}) => global::Dsl.Ops.{op}(Forward(inputs), {target});")!
            .WithAdditionalAnnotations(Simplifier.Annotation, Formatter.Annotation);
        return solution.WithDocumentSyntaxRoot(document.Id, root.ReplaceNode(type, type.AddMembers(member)));
    }
}
