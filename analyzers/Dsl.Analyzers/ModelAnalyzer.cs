using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using Dsl.Generators;
using Dsl.Generators.Diagnostics;
using Dsl.Generators.Parsing;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;

namespace Dsl.Analyzers;

/// <summary>
/// Reports the declaration, shape and scaling mistakes that the shared front end finds in
/// [Model] and [Module] classes — the same parser and shape inference the generator runs, so the
/// IDE and the build never disagree.
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class ModelAnalyzer : DiagnosticAnalyzer
{
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics { get; } =
        ImmutableArray.Create(DiagnosticCatalog.AnalyzerDescriptors);

    public override void Initialize(AnalysisContext context)
    {
        context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
        context.EnableConcurrentExecution();
        context.RegisterCompilationStartAction(start =>
        {
            var model = start.Compilation.GetTypeByMetadataName(ModelParser.ModelAttributeName);
            var module = start.Compilation.GetTypeByMetadataName(ModelParser.ModuleAttributeName);
            if (model is null || module is null) return; // Dsl is not referenced
            start.RegisterSymbolAction(c => Analyze(c, model, module), SymbolKind.NamedType);
        });
    }

    private static void Analyze(SymbolAnalysisContext context, INamedTypeSymbol modelAttribute, INamedTypeSymbol moduleAttribute)
    {
        var type = (INamedTypeSymbol)context.Symbol;
        IEnumerable<DiagnosticInfo> found = Enumerable.Empty<DiagnosticInfo>();
        var attributes = type.GetAttributes();
        if (attributes.Any(a => SymbolEqualityComparer.Default.Equals(a.AttributeClass, modelAttribute)))
        {
            var result = ModelFrontEnd.Model(type, context.Compilation, context.CancellationToken);
            var at = attributes.First(a => SymbolEqualityComparer.Default.Equals(a.AttributeClass, modelAttribute)).ApplicationSyntaxReference?.GetSyntax(context.CancellationToken).GetLocation();
            found = ModelParser.ArenaDiagnostic(result.Spec, at) is { } arena ? result.Diagnostics.Append(arena) : result.Diagnostics;
        }
        else if (attributes.Any(a => SymbolEqualityComparer.Default.Equals(a.AttributeClass, moduleAttribute)))
            found = ModelParser.ParseModule(type, context.Compilation, context.CancellationToken).Diagnostics;

        foreach (var info in found) context.ReportDiagnostic(FixProperties.ToDiagnostic(info));
    }
}
