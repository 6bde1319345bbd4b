using System.Collections.Generic;
using System.Linq;
using System.Threading;
using Dsl.Generators.Diagnostics;
using Dsl.Generators.Model;
using Dsl.Generators.Parsing;
using Dsl.Generators.Rules;
using Dsl.Generators.Shapes;
using Microsoft.CodeAnalysis;

namespace Dsl.Generators;

/// <summary>What the front end made of a model: the spec (null when it could not be read at all) and every
/// user mistake or advice, located.</summary>
/// <param name="Spec">The parsed, shape-inferred and checked model; <see cref="ModelSpec.IsValid"/> says whether to emit it.</param>
/// <param name="Diagnostics">Parse, shape and rule diagnostics, in that order.</param>
internal sealed record FrontEndResult(ModelSpec? Spec, IReadOnlyList<DiagnosticInfo> Diagnostics);

/// <summary>
/// The front end the generator and the analyzers share, as a straight line: parse (Roslyn symbols to the
/// symbol-free <see cref="ModelSpec"/>, plus a <see cref="LocationMap"/>), infer (widths), check (structure,
/// scaling, loss and multi-task rules), each later stage reading only the spec and reporting
/// <see cref="Finding"/>s, which the map turns into located diagnostics at the end. Nothing calls back up.
/// </summary>
internal static class ModelFrontEnd
{
    /// <summary>Runs every stage on the [Model] type <paramref name="type"/>.</summary>
    public static FrontEndResult Model(INamedTypeSymbol type, Compilation compilation, CancellationToken ct)
    {
        var parsed = ModelParser.ParseModel(type, compilation, ct);
        if (parsed.Spec is not { } draft) return new FrontEndResult(null, parsed.Diagnostics);

        var shapes = ShapeInference.Infer(draft);
        var spec = draft with { Layers = shapes.Layers.ToEquatableArray(), Widths = shapes.Widths.ToEquatableArray() };
        var structure = ModelRules.Structure(spec, parsed.Facts);
        var advice = ModelRules.Check(spec);

        var diagnostics = parsed.Diagnostics
            .Concat(parsed.Locations.Resolve(shapes.Findings.Concat(structure), once: false))
            .Concat(parsed.Locations.Resolve(advice, once: true))
            .ToList();
        bool valid = spec.OutputNode >= 0 && !parsed.Facts.UsesIncompleteModule && !diagnostics.Any(d => DiagnosticCatalog.BlocksGeneration(d.Descriptor));
        // The memory rules read the plan, so only a valid model has them (none of them blocks generation).
        if (valid) diagnostics.AddRange(parsed.Locations.Resolve(MemoryRules.Check(spec with { IsValid = true }, parsed.Facts), once: true));
        return new FrontEndResult(spec with { IsValid = valid }, diagnostics);
    }
}
