using System.Globalization;
using System.Linq;
using Dsl.Generators.Diagnostics;
using Dsl.Generators.Model;
using Dsl.Generators.Ops;
using Microsoft.CodeAnalysis;

namespace Dsl.Generators.Parsing;

internal sealed partial class ModelParser
{
    private const string AdversarialAttributeName = "Dsl.AdversarialAttribute";

    /// <summary>
    /// Reads [Adversarial] from the model's own members: it must sit on an [Embedding] layer, at
    /// most once per model, with a positive finite Epsilon; anything else is a DSL106 diagnostic.
    /// Returns null when the model has none (or it is misplaced).
    /// </summary>
    private AdversarialSpec? ParseAdversarial(INamedTypeSymbol type)
    {
        AdversarialSpec? result = null;
        foreach (var method in type.GetMembers().OfType<IMethodSymbol>())
        {
            var attribute = method.GetAttributes().FirstOrDefault(a => a.AttributeClass?.ToDisplayString() == AdversarialAttributeName);
            if (attribute is null) continue;
            var location = attribute.ApplicationSyntaxReference?.GetSyntax(_ct).GetLocation();
            if (LayerAttributeOf(method)?.AttributeClass?.Name != Embedding.AttributeKey)
            {
                Report(DiagnosticCatalog.LayerArgument, location, method.Name, "[Adversarial]", "on an [Embedding] layer of the model", "on another member");
                continue;
            }

            double epsilon = NamedDouble(attribute, "Epsilon", 1);
            if (!(epsilon > 0) || double.IsInfinity(epsilon))
            {
                Report(DiagnosticCatalog.LayerArgument, NamedArgumentLocation(attribute, "Epsilon") ?? location, method.Name, "Epsilon", "> 0 and finite", epsilon.ToString("R", CultureInfo.InvariantCulture));
                continue;
            }

            if (result is not null)
            {
                Report(DiagnosticCatalog.LayerArgument, location, method.Name, "[Adversarial]", $"on one embedding only (it is already on '{result.Layer}')", "on a second one");
                continue;
            }

            result = new AdversarialSpec(method.Name, epsilon);
        }

        return result;
    }

    /// <summary>[Adversarial] perturbs a model's own embedding table; inside a [Module] it is a DSL106.</summary>
    private void ReportAdversarialInModule(INamedTypeSymbol module)
    {
        foreach (var method in module.GetMembers().OfType<IMethodSymbol>())
        {
            var attribute = method.GetAttributes().FirstOrDefault(a => a.AttributeClass?.ToDisplayString() == AdversarialAttributeName);
            if (attribute is not null)
                Report(DiagnosticCatalog.LayerArgument, attribute.ApplicationSyntaxReference?.GetSyntax(_ct).GetLocation(), method.Name, "[Adversarial]", "on an [Embedding] member of the model itself", $"in the module '{module.Name}'");
        }
    }
}
