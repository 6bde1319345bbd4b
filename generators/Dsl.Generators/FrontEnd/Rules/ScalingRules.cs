using System;
using System.Collections.Generic;
using System.Linq;
using Dsl.Generators.Diagnostics;
using Dsl.Generators.Model;
using Dsl.Generators.Ops;

namespace Dsl.Generators.Rules;

/// <summary>
/// The numeric scaling rules of SEEDS.md §2 that the DSL can express, run on a parsed and shape-inferred model:
/// each layer's op's own (<see cref="Op.CheckLayer"/>: the attention rules, DeepNorm's constants, the embedding
/// dimension), then the rules about the model as a whole (initialisation variance, residual branch scale,
/// unargmaxable classes). Each reads only the <see cref="ModelSpec"/> (the facts the generator will use) and reports a
/// <see cref="Finding"/> whose message arguments name the values, pointing at a <see cref="Site"/> (the parse's
/// location map resolves it); a fix's exact value rides as a trailing argument that the message does not print. None
/// of these is an Error, so none of them ever blocks generation (<see cref="DiagnosticCatalog.BlocksGeneration"/>).
/// Layers of a [Repeat] stack share their declaration, so a rule reports once per location. Never throws on user
/// values: layers whose shapes are unknown (an earlier error) are skipped.
/// </summary>
internal static class ScalingRules
{
    /// <summary>Runs every scaling rule on <paramref name="model"/>, adding what they find to <paramref name="sink"/>.</summary>
    public static void Check(ModelSpec model, List<Finding> sink)
    {
        var rules = new RuleContext(model, sink);
        foreach (var layer in model.Layers) OpRegistry.Get(layer.Op).CheckLayer(rules, layer);
        InitVariance(rules);
        ResidualScale(rules);
        Unargmaxable(rules);
    }

    // ---- NNS015: initialisation variance versus the activation ([K-8620], [K-8994]) ----------------------

    private static void InitVariance(RuleContext rules)
    {
        // Only an explicit InitStd is the user's choice: the default initialisation already uses
        // He for ReLU-like units and LeCun otherwise (ActivationOp.InitGain).
        var model = rules.Model;
        var consumers = rules.Consumers;
        double std = model.InitStd;
        if (!(std > 0) || double.IsInfinity(std)) return;
        var nodes = model.Nodes;
        bool FeedsResidual(NodeSpec node) => consumers[node.Id].Any(c => OpRegistry.Get(nodes[c].Op).IsResidualAdd);
        int residualBranches = nodes.Count(x => OpRegistry.Get(x.Op).IsResidualBranch && FeedsResidual(x));
        double residualStd = residualBranches > 0 ? std / Math.Sqrt(residualBranches) : std;

        foreach (var layer in model.Layers)
        {
            if (layer.Op != Dense.Key || Dense.Of(layer).Tied.Length > 0 || layer.InitGain > 0 || layer.In <= 0) continue;
            var node = nodes.FirstOrDefault(x => x.Layer == layer.Path);
            if (node is null) continue;
            // As the planner decides: the activation is the one that consumes the Dense value alone.
            var activation = consumers[node.Id].Count == 1 && node.Id != model.OutputNode && OpRegistry.Get(nodes[consumers[node.Id][0]].Op) is ActivationOp { FusesIntoEpilogue: true } fused
                ? fused
                : OpRegistry.Get<ActivationOp>(Identity.Key)!;
            double sigma = FeedsResidual(node) ? residualStd : std;
            double variance = sigma * sigma, ratio = variance * layer.In;
            string feeds;
            double target;
            if (activation.Family == InitFamily.ReluLike && Math.Abs(ratio - 1) <= 0.1)
            {
                feeds = $"a ReLU-family activation ({activation.Name})";
                target = 2; // He
            }
            else if (activation.Family == InitFamily.LinearLike && Math.Abs(ratio - 2) <= 0.2)
            {
                feeds = activation is Tanh ? "tanh" : "no activation (a linear output)";
                target = 1; // LeCun
            }
            else
            {
                continue;
            }

            rules.Report(DiagnosticCatalog.InitVariance, Site.Model("InitStd"),
                layer.Path, Show(variance), Show(ratio), layer.In, feeds, Show(target), Show(target / layer.In), Show(Math.Sqrt(target / layer.In)));
            return; // InitStd is one argument: one diagnostic, naming the first layer it misfits
        }
    }

    // ---- NNS014: residual branch scale without normalisation ([K-8994]) ----------------------------------

    private static void ResidualScale(RuleContext rules)
    {
        // Only unnormalised stacks with the default initialisation: a norm re-scales the stream, and an
        // explicit InitStd is a choice of branch size.
        var model = rules.Model;
        var nodes = model.Nodes;
        if (model.InitStd > 0 || model.Layers.Any(l => OpRegistry.Get(l.Op).ScalesResidualStream)) return;
        var residual = new List<(int Add, double Epsilon)>();
        foreach (var node in nodes)
        {
            if (!OpRegistry.Get(node.Op).IsResidualAdd || node.Inputs.Count != 2 || node.Inputs[0] < 0 || node.Inputs[1] < 0) continue;
            int a = node.Inputs[0], b = node.Inputs[1];
            // x + F(x): the branch is the input computed from the other one.
            int branch = Reaches(nodes, a, b) ? b : Reaches(nodes, b, a) ? a : -1;
            if (branch < 0) continue;
            double epsilon = nodes[branch].Op == Scale.Key && nodes[branch].Layer.Length == 0 ? Math.Abs(nodes[branch].OptionsAs<Scale.Options>()!.Factor) : 1;
            residual.Add((node.Id, epsilon));
        }

        int n = residual.Count;
        if (n < 2) return;
        foreach (var (add, epsilon) in residual)
        {
            if (epsilon * epsilon <= (1 + RuleContext.Tolerance) / n) continue;
            rules.Report(DiagnosticCatalog.ResidualBranchScale, Site.Node(add),
                Show(epsilon), n, Show(Math.Pow(1 + (epsilon * epsilon), n)), Show(1 / Math.Sqrt(n)));
        }
    }

    /// <summary>Whether node <paramref name="to"/> is computed from node <paramref name="from"/> (ids are topological).</summary>
    private static bool Reaches(EquatableArray<NodeSpec> nodes, int from, int to)
    {
        if (from >= to) return false;
        var stack = new Stack<int>();
        var seen = new HashSet<int>();
        stack.Push(to);
        while (stack.Count > 0)
        {
            int id = stack.Pop();
            if (id == from) return true;
            if (id < from || !seen.Add(id)) continue;
            foreach (int input in nodes[id].Inputs)
                if (input >= 0) stack.Push(input);
        }

        return false;
    }

    // ---- NNS010: unargmaxable classes ([K-9046]) --------------------------------------------------------

    private static void Unargmaxable(RuleContext rules)
    {
        // Classes are read off by argmax only under a softmax cross-entropy; the output must be a Dense.
        var model = rules.Model;
        if (model.LossNode < 0 || model.Nodes[model.LossNode].Op != SoftmaxCrossEntropy.Key) return;
        if (model.OutputNode < 0 || model.Nodes[model.OutputNode].Op != Dense.Key) return;
        var layer = model.Layers.FirstOrDefault(l => l.Path == model.Nodes[model.OutputNode].Layer);
        if (layer is null || layer.In <= 0 || layer.Out <= layer.In + 1) return;
        string bias = Dense.Of(layer).Bias ? "; its bias can rescue such classes" : "; the layer has no bias that could rescue such classes";
        rules.Report(DiagnosticCatalog.UnargmaxableClasses, Site.Layer(layer.Path, "Out"), layer.Path, layer.Out, layer.In, bias);
    }

    private static string Show(double value) => RuleValues.Show(value);
}
