using System;
using System.Collections.Immutable;
using System.Linq;
using Dsl.Generators.Diagnostics;
using Dsl.Generators.Parsing;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Diagnostics;

namespace Dsl.Analyzers;

/// <summary>
/// DSL208: a call of <c>TrainStep</c> whose input is an array created with a constant size that is
/// not a whole number of examples, or more examples than the model's <c>Batch</c> (the call would throw).
/// DSL109: a call of <c>TrainStep</c> on a [Model] type that declares no [Loss] method. The
/// generator emits <c>TrainStep</c> only for models with a loss, so such a call is also CS1061
/// ("no definition for 'TrainStep'"); this says why. It works on syntax plus one type look-up
/// because the call usually does not bind (there is no method to bind to). The model's declaration
/// is the diagnostic's additional location, for the fixer that adds a loss method.
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class TrainStepAnalyzer : DiagnosticAnalyzer
{
    private const string TrainStep = "TrainStep";
    private const string LossAttributeName = "Dsl.LossAttribute";

    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics { get; } = ImmutableArray.Create(DiagnosticCatalog.MissingLoss, DiagnosticCatalog.StepBatch);

    public override void Initialize(AnalysisContext context)
    {
        context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
        context.EnableConcurrentExecution();
        context.RegisterCompilationStartAction(start =>
        {
            var model = start.Compilation.GetTypeByMetadataName(ModelParser.ModelAttributeName);
            var loss = start.Compilation.GetTypeByMetadataName(LossAttributeName);
            if (model is null || loss is null) return; // Dsl is not referenced
            start.RegisterSyntaxNodeAction(c => Analyze(c, model, loss), SyntaxKind.InvocationExpression);
        });
    }

    private static void Analyze(SyntaxNodeAnalysisContext context, INamedTypeSymbol modelAttribute, INamedTypeSymbol lossAttribute)
    {
        var call = (InvocationExpressionSyntax)context.Node;
        ExpressionSyntax? receiver;
        SyntaxNode reported = call;
        switch (call.Expression)
        {
            case MemberAccessExpressionSyntax access when access.Name.Identifier.ValueText == TrainStep:
                receiver = access.Expression;
                break;
            case MemberBindingExpressionSyntax binding when binding.Name.Identifier.ValueText == TrainStep:
                var conditional = call.Ancestors().OfType<ConditionalAccessExpressionSyntax>().FirstOrDefault();
                if (conditional is null) return;
                receiver = conditional.Expression;
                reported = conditional; // model?.TrainStep(...): the whole access, as the user reads it
                break;
            case IdentifierNameSyntax name when name.Identifier.ValueText == TrainStep:
                receiver = null; // this.TrainStep(...) inside the model
                break;
            default:
                return;
        }

        var semantic = context.SemanticModel;
        var type = receiver is null
            ? semantic.GetEnclosingSymbol(call.SpanStart, context.CancellationToken)?.ContainingType
            : semantic.GetTypeInfo(receiver, context.CancellationToken).Type;
        if (type is not INamedTypeSymbol named || named.TypeKind == TypeKind.Error) return;
        if (!named.GetAttributes().Any(a => SymbolEqualityComparer.Default.Equals(a.AttributeClass, modelAttribute))) return;
        if (named.GetMembers().OfType<IMethodSymbol>().Any(m => m.GetAttributes().Any(a => SymbolEqualityComparer.Default.Equals(a.AttributeClass, lossAttribute))))
        {
            CheckBatch(context, call, named, modelAttribute);
            return;
        }

        // A TrainStep the user wrote by hand is theirs to call; the generator's stubs (an invalid model
        // gets them) are not a reason to stay quiet.
        if (semantic.GetSymbolInfo(call, context.CancellationToken).Symbol is IMethodSymbol bound &&
            bound.DeclaringSyntaxReferences.Any(r => !IsGenerated(r.SyntaxTree)))
            return;

        var declaration = named.Locations.FirstOrDefault(l => l.IsInSource);
        context.ReportDiagnostic(Diagnostic.Create(DiagnosticCatalog.MissingLoss, reported.GetLocation(),
            declaration is null ? null : new[] { declaration }, named.Name));
    }

    /// <summary>DSL208: <c>TrainStep(new float[N], ...)</c> with a constant N that the model cannot take in one step.</summary>
    private static void CheckBatch(SyntaxNodeAnalysisContext context, InvocationExpressionSyntax call, INamedTypeSymbol type, INamedTypeSymbol modelAttribute)
    {
        if (call.ArgumentList.Arguments.Count == 0 ||
            call.ArgumentList.Arguments[0].Expression is not ArrayCreationExpressionSyntax creation ||
            creation.Type.RankSpecifiers.Count != 1 || creation.Type.RankSpecifiers[0].Sizes.Count != 1)
            return;
        var size = creation.Type.RankSpecifiers[0].Sizes[0];
        if (context.SemanticModel.GetConstantValue(size, context.CancellationToken) is not { HasValue: true, Value: int values } || values < 0)
            return;

        var attribute = type.GetAttributes().First(a => SymbolEqualityComparer.Default.Equals(a.AttributeClass, modelAttribute));
        int batch = ModelParser.NamedInt(attribute, "Batch", 0), input = ModelParser.NamedInt(attribute, "Input", 0);
        int sequence = Math.Max(1, ModelParser.NamedInt(attribute, "Sequence", 0));
        int perExample = input > 0 ? input * sequence : sequence; // a token model takes Sequence ids per example
        if (batch <= 0 || perExample <= 0) return; // DSL104 reports the declaration itself

        string what;
        if (values % perExample != 0)
            what = $"not a whole number of examples of {perExample}";
        else if (values / perExample > batch)
            what = $"{values / perExample} examples";
        else
            return;

        context.ReportDiagnostic(Diagnostic.Create(DiagnosticCatalog.StepBatch, creation.GetLocation(), type.Name, values, what, batch, perExample));
    }

    /// <summary>The generator's files are named "&lt;type&gt;.g.cs".</summary>
    private static bool IsGenerated(SyntaxTree tree) => tree.FilePath.EndsWith(".g.cs", System.StringComparison.OrdinalIgnoreCase);
}
