using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Globalization;
using Dsl.Generators.Diagnostics;
using Microsoft.CodeAnalysis;

namespace Dsl.Analyzers;

/// <summary>
/// Turns the front end's <see cref="DiagnosticInfo"/> values into diagnostics, attaching the
/// code-fix properties (the contract is described at the end of <see cref="DiagnosticCatalog"/>):
/// the fixer reads the edit from the diagnostic and never re-runs the analysis. The front end stays
/// unaware of fixes; each rule with a mechanical fix is one line in <see cref="s_rules"/>, built
/// from the diagnostic's message arguments (their order is the message format's).
/// </summary>
internal static class FixProperties
{
    /// <summary>Property builders by diagnostic id; null means "no fix properties for this one".</summary>
    private static readonly Dictionary<string, Func<DiagnosticInfo, ImmutableDictionary<string, string?>?>> s_rules = new(StringComparer.Ordinal)
    {
        // "Dense layer '{0}' declares In = {1}, but its input has {2} features": set In to {2}, or drop it.
        [DiagnosticCatalog.DenseInMismatchId] = d => SetArgument("In", Text(d.Arguments, 2))?.Add(DiagnosticCatalog.RemoveProperty, "In"),
        // "Layer '{0}': {1} must be {2}, but it is {3}": a negative In is fixed by removing it (0 infers).
        [DiagnosticCatalog.LayerArgumentId] = d => Text(d.Arguments, 1) == "In" ? Remove("In") : null,
        // "SquarePlus '{0}' has b = {1}": the default b = 4 (JAX, Keras; SEEDS NNS041).
        [DiagnosticCatalog.SquarePlusBId] = _ => SetArgument("B", "4"),
        // "Attention '{0}' rotates {1} dimensions per head; ... no larger than the key size {2}": round down to even, within the key.
        [DiagnosticCatalog.RotaryDimId] = d => d.Arguments.Length > 2 && d.Arguments[1] is int rotary && d.Arguments[2] is int key && (Math.Min(rotary, key) & ~1) >= 2
            ? SetArgument("RotaryDim", (Math.Min(rotary, key) & ~1).ToString(CultureInfo.InvariantCulture))
            : null,
        // "Attention '{0}' scales logits by {1} = 1/√{2} ...": the exact 1/√d_k rides as argument 6; or drop Scale (default 1/√KeySize).
        [DiagnosticCatalog.AttentionScaleDimensionId] = d => SetArgument("Scale", Text(d.Arguments, 6))?.Add(DiagnosticCatalog.RemoveProperty, "Scale"),
        [DiagnosticCatalog.AttentionLogitsLargeId] = d => SetArgument("Scale", Text(d.Arguments, 6))?.Add(DiagnosticCatalog.RemoveProperty, "Scale"),
        // DeepNorm: α = (2N)^¼ and β = (8N)^−¼ for the declared depth, rounded to 4 decimals (arguments 6 and 7).
        [DiagnosticCatalog.DeepNormConstantsId] = d => Text(d.Arguments, 7) is { } beta ? SetArgument("Alpha", Text(d.Arguments, 6))?.And("Beta", beta) : null,
        // "Attention '{0}' has Window = {1}, larger than ... Sequence = {2}": the window of the training length.
        [DiagnosticCatalog.WindowBeyondSequenceId] = d => SetArgument("Window", Text(d.Arguments, 2)),
        // "DeepNorm '{0}' weights the skip by α = {1} ... Pre-LN uses α = 1".
        [DiagnosticCatalog.DeepNormPreNormId] = _ => SetArgument("Alpha", "1"),
        // "{0}: {1} = {2}, but it must be {3}: {4}": the sourced default (argument 5, null: no fix) for the loss call's argument (parameter name, argument 6).
        [DiagnosticCatalog.LossArgumentId] = d => Text(d.Arguments, 5) is { } value ? SetArgument(Text(d.Arguments, 6) ?? "value", value) : null,
    };

    /// <summary>The diagnostic for <paramref name="info"/>, with fix properties where a rule has them.</summary>
    public static Diagnostic ToDiagnostic(DiagnosticInfo info)
    {
        ImmutableDictionary<string, string?>? properties = null;
        if (s_rules.TryGetValue(info.Descriptor.Id, out var rule)) properties = rule(info);
        return Diagnostic.Create(info.Descriptor, info.Location, additionalLocations: null, properties, info.Arguments);
    }

    /// <summary>Properties that set one argument (more pairs: <see cref="And"/>).</summary>
    public static ImmutableDictionary<string, string?>? SetArgument(string argument, string? value) =>
        value is null ? null : ImmutableDictionary<string, string?>.Empty
            .Add(DiagnosticCatalog.ArgumentProperty, argument)
            .Add(DiagnosticCatalog.ValueProperty, value);

    /// <summary>Adds a further argument/value pair (Argument2/Value2, ...).</summary>
    public static ImmutableDictionary<string, string?> And(this ImmutableDictionary<string, string?> properties, string argument, string value)
    {
        int n = 2;
        while (properties.ContainsKey(DiagnosticCatalog.ArgumentProperty + n.ToString(CultureInfo.InvariantCulture))) n++;
        string suffix = n.ToString(CultureInfo.InvariantCulture);
        return properties.Add(DiagnosticCatalog.ArgumentProperty + suffix, argument).Add(DiagnosticCatalog.ValueProperty + suffix, value);
    }

    /// <summary>Properties that offer removing an attribute argument.</summary>
    public static ImmutableDictionary<string, string?> Remove(string argument) =>
        ImmutableDictionary<string, string?>.Empty.Add(DiagnosticCatalog.RemoveProperty, argument);

    /// <summary>A message argument as C# text: integers and doubles in invariant, round-trip form.</summary>
    private static string? Text(object?[] arguments, int index) =>
        index < arguments.Length ? arguments[index] switch
        {
            int i => i.ToString(CultureInfo.InvariantCulture),
            double x when !double.IsNaN(x) && !double.IsInfinity(x) => x.ToString("R", CultureInfo.InvariantCulture),
            string s => s,
            _ => null,
        } : null;
}
