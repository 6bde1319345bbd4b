using System;
using System.Linq;
using Dsl.Contracts;
using Dsl.Generators.Diagnostics;
using Dsl.Generators.Model;
using Dsl.Generators.Parsing;
using Dsl.Generators.Planning;
using Dsl.Generators.Rules;
using static Dsl.Generators.Emit.Literals;

namespace Dsl.Generators.Ops;

/// <summary>
/// DeepNorm's scaled skip y = α·x (DeepNet; Su, kexue.fm 8978), a <see cref="Scale"/> node: [DeepNorm(Alpha = …,
/// Beta = …)]. Its presence in a block also initialises the block's Dense layers and attention value and output
/// projections Xavier-normal with gain β. For N stacked blocks α = (2N)^¼ and β = (8N)^−¼ unless given; NNS012
/// checks them (DSL304), and a Pre-LN arrangement wants α = 1 (DSL310).
/// </summary>
internal sealed class DeepNorm : Op
{
    public override string Name => "DeepNorm";

    public override string? Attribute => "DeepNormAttribute";

    /// <summary>The skip weight α, derived from the depth unless given.</summary>
    internal sealed record Options(double Alpha) : OpOptions;

    public override (int In, int Out, OpOptions? Options) ReadLayer(LayerReader attribute)
    {
        double alpha = attribute.Double("Alpha", 0), declaredBeta = attribute.Double("Beta", 0);
        if (!(alpha >= 0)) attribute.Report(DiagnosticCatalog.LayerArgument, "Alpha", attribute.Path, "Alpha", ">= 0 (0 derives (2N)^1/4)", LayerReader.Format(alpha));
        if (!(declaredBeta >= 0)) attribute.Report(DiagnosticCatalog.LayerArgument, "Beta", attribute.Path, "Beta", ">= 0 (0 derives (8N)^-1/4)", LayerReader.Format(declaredBeta));
        return (0, 0, new Options(alpha > 0 ? alpha : Math.Pow(2.0 * attribute.Depth, 0.25)));
    }

    /// <summary>β initialises the block's Dense layers and its attention's value and output projections.</summary>
    public override double BlockInitGain(LayerReader attribute, int depth)
    {
        double beta = attribute.Double("Beta", 0);
        return beta == 0 ? Math.Pow(8.0 * depth, -0.25) : beta;
    }

    public override int CallLayer(LayerCall call) => call.OneInput(Scale.Key, new Scale.Options(call.Layer.OptionsAs<Options>()!.Alpha));

    public override bool ScalesResidualStream => true;

    public override void PlanParameters(PlanBuilder plan, LayerSpec layer) => plan.Bind(layer.Path, new DeepNormSlots(layer.OptionsAs<Options>()!.Alpha));

    public override string Describe(LayerSpec layer, ModelSpec model) => $"DeepNorm skip α = {Double(layer.OptionsAs<Options>()!.Alpha)}";

    // ---- NNS012: DeepNorm constants ([K-8978]; DeepNet) ------------------------------------------------

    public override void CheckLayer(RuleContext rules, LayerSpec layer)
    {
        var model = rules.Model;
        int n = Math.Max(1, layer.Depth);
        double alpha = layer.OptionsAs<Options>()!.Alpha;
        // β is not kept on the DeepNorm layer: it is the init gain of its block's projections.
        double beta = model.Layers.FirstOrDefault(l => l.Block == layer.Block && l.InitGain > 0)?.InitGain ?? double.NaN;
        if (!(alpha > 0)) return; // DSL106 reported it

        // Pre-LN (Su, [K-8978]: α = 1 for Pre-Norm): the sum α·x + F(x) flows on un-normalised.
        if (PreNorm(rules, layer))
        {
            if (!RuleContext.Near(alpha, 1))
                rules.Report(DiagnosticCatalog.DeepNormPreNorm, Site.Layer(layer.Path, "Alpha"), layer.Path, RuleValues.Show(alpha));
            return; // β for Pre-LN is "recomputed" (SEEDS §1.3) with no formula to compare against
        }

        double expectedAlpha = Math.Pow(2.0 * n, 0.25), expectedBeta = Math.Pow(8.0 * n, -0.25);
        bool alphaOff = !RuleContext.Near(alpha, expectedAlpha);
        bool betaOff = !double.IsNaN(beta) && !RuleContext.Near(beta, expectedBeta);
        if (!alphaOff && !betaOff) return;
        // Su's Adam-specific pair (2N)^½, (2N)^−½ ([K-8978]) is a sourced alternative, not a mistake.
        if (RuleContext.Near(alpha, Math.Sqrt(2.0 * n)) && (double.IsNaN(beta) || RuleContext.Near(beta, 1 / Math.Sqrt(2.0 * n)))) return;
        string argument = alphaOff && betaOff ? "" : alphaOff ? "Alpha" : "Beta";
        double fixAlpha = Round4(expectedAlpha), fixBeta = Round4(expectedBeta);
        rules.Report(DiagnosticCatalog.DeepNormConstants, Site.Layer(layer.Path, argument),
            layer.Path, RuleValues.Show(alpha), double.IsNaN(beta) ? "(unused)" : RuleValues.Show(beta), n, RuleValues.Show(expectedAlpha), RuleValues.Show(expectedBeta), fixAlpha, fixBeta);
    }

    /// <summary>Whether a sum that the DeepNorm skip feeds is read by anything but a norm (or is the model's output):
    /// the residual stream stays un-normalised, as in Pre-LN.</summary>
    private static bool PreNorm(RuleContext rules, LayerSpec layer)
    {
        var nodes = rules.Model.Nodes;
        foreach (var skip in nodes.Where(x => x.Layer == layer.Path))
        {
            foreach (int sum in rules.Consumers[skip.Id].Where(c => OpRegistry.Get(nodes[c].Op).IsResidualAdd))
            {
                if (sum == rules.Model.OutputNode) return true;
                if (rules.Consumers[sum].Any(c => !OpRegistry.Get(nodes[c].Op).Normalizes)) return true;
            }
        }

        return false;
    }

    private static double Round4(double value) => Math.Round(value, 4, MidpointRounding.AwayFromZero);
}
