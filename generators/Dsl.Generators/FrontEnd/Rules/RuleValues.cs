using System;
using System.Globalization;
using Dsl.Generators.Model;

namespace Dsl.Generators.Rules;

/// <summary>What every rule family shares: how values are printed in messages and a few facts read off the spec.</summary>
internal static class RuleValues
{
    /// <summary>A value for a message: whole numbers in full, others to four significant digits, invariant culture.</summary>
    public static string Show(double value) =>
        value == Math.Round(value) && Math.Abs(value) < 1e15 ? value.ToString("0", CultureInfo.InvariantCulture) : value.ToString("G4", CultureInfo.InvariantCulture);

    /// <summary>Whether <paramref name="value"/> equals <paramref name="expected"/> within a relative <paramref name="tolerance"/>.</summary>
    public static bool Near(double value, double expected, double tolerance) => Math.Abs(value - expected) <= tolerance * Math.Abs(expected);

    /// <summary>K: the width of the prediction the loss node reads (the logits of a classification loss), or 0.</summary>
    public static int Classes(ModelSpec model, int lossNode)
    {
        if (lossNode < 0 || lossNode >= model.Nodes.Count || model.Nodes[lossNode].Inputs.Count == 0) return 0;
        int prediction = model.Nodes[lossNode].Inputs[0];
        return prediction >= 0 && prediction < model.Widths.Count ? Math.Max(0, model.Widths[prediction]) : 0;
    }
}
