using System.Collections.Generic;
using System.Linq;
using Dsl.Generators.Diagnostics;
using Dsl.Generators.Model;
using Dsl.Generators.Planning;

namespace Dsl.Generators.Rules;

/// <summary>
/// The memory rules of SEEDS.md §1.7 ("Recompute") and §2 ("Precision &amp; memory"), on a valid model: they read its
/// plan, since what a [Recompute] segment frees is what the planner puts in the region the segments share.
/// One segment saves nothing (DSL321: it still needs a place of its own; Su's "decorating the whole model once"), and
/// a segment that recomputes no more activation than the one input it keeps is not worth its second forward (DSL322).
/// </summary>
internal static class MemoryRules
{
    /// <summary>The findings on <paramref name="model"/> (valid, with its [Recompute] facts).</summary>
    public static List<Finding> Check(ModelSpec model, ModelFacts facts)
    {
        var findings = new List<Finding>();
        if (facts.RecomputeOnModel is { } onModel)
            findings.Add(new Finding(DiagnosticCatalog.RecomputeSavesNothing, onModel,
                new object?[] { $"on the model '{model.Type.Name}'", "its whole forward", "activation" }));
        if (model.Segments.Count == 0) return findings;

        var plan = Planner.Create(model);
        string PropertyOf(string block) => block.IndexOf('.') is int dot and >= 0 ? block.Substring(0, dot) : block;
        Site SiteOf(string block) => facts.RecomputeSites.TryGetValue(PropertyOf(block), out var site) ? site : Site.Nowhere;

        if (plan.Segments.Count == 1)
        {
            var only = plan.Segments[0];
            findings.Add(new Finding(DiagnosticCatalog.RecomputeSavesNothing, SiteOf(only.Block),
                new object?[] { $"on '{PropertyOf(only.Block)}'", $"'{only.Block}'", Literal(only.Values + only.Gradients) }));
            return findings;
        }

        foreach (var (segment, spec) in plan.Segments.Zip(model.Segments, (p, s) => (p, s)))
        {
            // The activation the segment keeps at its input: its first node's first input.
            var first = model.Nodes[spec.First];
            int input = first.Inputs.Count > 0 ? plan.Rows * model.Widths[first.Inputs[0]] : 0;
            if (segment.Values <= input)
                findings.Add(new Finding(DiagnosticCatalog.RecomputeSegmentTooSmall, SiteOf(segment.Block), new object?[]
                {
                    PropertyOf(segment.Block), Literal(segment.Values), segment.Values == input ? "as many as" : "fewer than", Literal(input),
                }));
        }

        return findings;
    }

    private static string Literal(int value) => value.ToString(System.Globalization.CultureInfo.InvariantCulture);
}
