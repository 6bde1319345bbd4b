using System.Globalization;
using Dsl.Generators.Diagnostics;
using Dsl.Generators.Model;
using Dsl.Generators.Rules;
using Microsoft.CodeAnalysis;

namespace Dsl.Generators.Parsing;

// The upper bounds of Rules/Limits.cs that the parser checks itself (the [Model] attribute, [Repeat], the size
// of the unrolled graph) before it loops over, multiplies or allocates anything with them; a layer attribute's
// size arguments are checked where the op reads them (LayerReader).
internal sealed partial class ModelParser
{
    private bool _tooManyOperations;

    /// <summary>DSL210 for a valid model whose arena (laid out by the planner, summed in long) is above
    /// <see cref="Limits.MaxArenaElements"/>, at <paramref name="modelAttribute"/>; null when it fits or the model is
    /// invalid anyway. The analyzer reports it; the generator, seeing the same plan, emits stubs.</summary>
    public static DiagnosticInfo? ArenaDiagnostic(ModelSpec? spec, Location? modelAttribute)
    {
        if (spec is not { IsValid: true }) return null;
        var plan = Planning.Planner.Create(spec);
        if (plan.FitsArena) return null;
        return new DiagnosticInfo(DiagnosticCatalog.SizeLimit, modelAttribute, new object?[]
        {
            $"[Model] on '{spec.Type.Name}'",
            $"the arena (parameters, their gradients, {Planning.Planner.StateSlots.ToString(CultureInfo.InvariantCulture)} optimizer-state slots per parameter, the activations and their gradients)",
            plan.RequiredArenaElements.ToString(CultureInfo.InvariantCulture) + " elements",
            Limits.Format(Limits.MaxArenaElements),
            "its offsets are ints in the generated code and the runtime; lower Batch or Sequence, or the layer sizes",
        });
    }

    /// <summary>Reports DSL210 when <paramref name="value"/> is above <paramref name="limit"/>; returns whether it is within.</summary>
    private bool WithinLimit(long value, long limit, Location? location, string subject, string what, string why)
    {
        if (value <= limit) return true;
        Report(DiagnosticCatalog.SizeLimit, location, subject, what, value.ToString(CultureInfo.InvariantCulture), Limits.Format(limit), why);
        return false;
    }

    /// <summary>Whether the graph may grow by one more operation; reports DSL210 once when it may not
    /// (inlining stops there, so a huge [Repeat] or a runaway helper costs no more than the limit).</summary>
    private bool RoomForOperation(Location? location)
    {
        if (_nodes.Count < Limits.MaxOperations) return true;
        if (!_tooManyOperations)
        {
            _tooManyOperations = true;
            Report(DiagnosticCatalog.SizeLimit, location, "The forward pass", "the number of operations after inlining every block",
                $"{(Limits.MaxOperations + 1).ToString(CultureInfo.InvariantCulture)} or more", Limits.Format(Limits.MaxOperations),
                "each is fused code in the generated file; use fewer or smaller [Repeat] blocks");
        }

        return false;
    }
}
