using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using Dsl.Generators.Diagnostics;
using Dsl.Generators.Model;
using Microsoft.CodeAnalysis;

namespace Dsl.Generators.Rules;

/// <summary>
/// The numeric scaling rules of SEEDS.md §2 that the DSL can express, run on a parsed and
/// shape-inferred model. Each rule reads only the <see cref="ModelSpec"/> (the facts the generator
/// will use) and reports a <see cref="Finding"/> whose message arguments name the values, pointing at a
/// <see cref="Site"/> (the parse's location map resolves it); a fix's exact value rides as a trailing argument that the message does not print. None of
/// these is an Error, so none of them ever blocks generation (<see cref="DiagnosticCatalog.BlocksGeneration"/>).
/// Layers of a [Repeat] stack share their declaration, so a rule reports once per location.
/// Never throws on user values: layers whose shapes are unknown (an earlier error) are skipped.
/// </summary>
internal static class ScalingRules
{
    /// <summary>Relative tolerance for "this constant equals that formula" (SEEDS NNS012: 1%).</summary>
    private const double Tolerance = 0.01;

    /// <summary>The word-vector coefficient 2 / (½ ln φ) = 4 / ln φ ≈ 8.3124 (SEEDS §1.8, [K-7695]; φ the golden ratio).</summary>
    internal static readonly double EmbeddingCoefficient = 4 / Math.Log((Math.Sqrt(5) + 1) / 2);

    /// <summary>Runs every scaling rule on <paramref name="model"/>, adding what they find to <paramref name="sink"/>.</summary>
    public static void Check(ModelSpec model, List<Finding> sink)
    {
        void Report(DiagnosticDescriptor descriptor, Site site, params object?[] arguments) => sink.Add(new Finding(descriptor, site, arguments));

        var consumers = Consumers(model);
        foreach (var layer in model.Layers)
        {
            switch (layer.Kind)
            {
                case LayerKind.Attention when layer.Attention is { KeySize: > 0, ValueSize: > 0 } && layer.In > 0:
                    AttentionScale(model, layer, Report);
                    KeySize(model, layer, Report);
                    Window(model, layer, Report);
                    Rope(layer, Report);
                    break;
                case LayerKind.DeepNorm:
                    DeepNorm(model, layer, consumers, Report);
                    break;
                case LayerKind.Embedding:
                    Embedding(layer, Report);
                    break;
            }
        }

        InitVariance(model, consumers, Report);
        ResidualScale(model, Report);
        Unargmaxable(model, Report);
    }

    // ---- NNS001: the attention logit scale ([K-8620], [K-8823]) ----------------------------------------

    private static void AttentionScale(ModelSpec model, LayerSpec layer, Action<DiagnosticDescriptor, Site, object?[]> report)
    {
        var a = layer.Attention!;
        double scale = a.Scale;
        if (a.Linear || a.EntropyInvariant || !(scale > 0) || double.IsInfinity(scale)) return; // 0 is the default 1/√d_k
        int dk = a.KeySize;
        double right = 1 / Math.Sqrt(dk);
        var location = Site.Layer(layer.Path, "Scale");

        // The classic bug: 1/√d built from the model width (or the head split of it, or the value
        // size) while the logits are sums over d_k products.
        var candidates = new List<(int Dimension, string Name)> { (layer.In, "the model width d_model") };
        if (a.Heads > 0 && layer.In % a.Heads == 0) candidates.Add((layer.In / a.Heads, "d_model / heads"));
        candidates.Add((a.ValueSize, "the value size per head"));
        foreach (var (dimension, name) in candidates)
        {
            if (dimension <= 0 || dimension == dk || !Near(scale, 1 / Math.Sqrt(dimension))) continue;
            report(DiagnosticCatalog.AttentionScaleDimension, location,
                new object?[] { layer.Path, Show(scale), dimension, name, dk, Show(right), right });
            return;
        }

        // The general form: initial logit std = λ·√d_k·s_q·s_k, for unit-variance inputs to the
        // projections (the [K-8620] assumption: the input is normalised). Above ~1 the softmax starts
        // close to one-hot and its gradient vanishes.
        double s = InitialQueryStd(model, layer);
        double logitStd = scale * Math.Sqrt(dk) * s * s;
        if (logitStd > 1 + Tolerance && scale > right * (1 + Tolerance))
            report(DiagnosticCatalog.AttentionLogitsLarge, location,
                new object?[] { layer.Path, Show(scale), dk, Show(s), Show(logitStd), Show(right), right });
    }

    /// <summary>The std of a query (and key) entry at initialisation for unit-variance inputs:
    /// σ_w·√fan_in, with σ_w as the planner draws W_q and W_k (DeepNorm: Xavier-normal, gain 1;
    /// InitStd: N(0, InitStd²); default: uniform with variance 1/fan_in).</summary>
    private static double InitialQueryStd(ModelSpec model, LayerSpec layer)
    {
        var a = layer.Attention!;
        double fanIn = layer.In;
        if (layer.InitGain > 0) return Math.Sqrt(2.0 / (fanIn + (a.Heads * a.KeySize)) * fanIn);
        if (model.InitStd > 0) return model.InitStd * Math.Sqrt(fanIn);
        return 1;
    }

    // ---- NNS007: the key-size bottleneck ([K-7325]) -------------------------------------------------

    private static void KeySize(ModelSpec model, LayerSpec layer, Action<DiagnosticDescriptor, Site, object?[]> report)
    {
        // SEEDS' literal trigger, KeySize < sequence length, holds for nearly every transformer (BERT,
        // GPT-2, the nanoGPT configuration of samples/CharGpt) and SEEDS notes they work; the hint is
        // actionable only where the declaration narrows the bottleneck below the usual head width.
        var a = layer.Attention!;
        int keys = a.Window > 0 ? Math.Min(a.Window, model.Sequence) : model.Sequence;
        if (a.Linear || a.KeySize >= a.ValueSize || a.KeySize >= keys) return;
        report(DiagnosticCatalog.KeySizeBottleneck, Site.Layer(layer.Path, "KeySize"),
            new object?[] { layer.Path, a.KeySize, a.ValueSize, keys });
    }

    // ---- NNS009: the local window versus the training length ([K-9431]) -------------------------------

    private static void Window(ModelSpec model, LayerSpec layer, Action<DiagnosticDescriptor, Site, object?[]> report)
    {
        var a = layer.Attention!;
        if (a.Linear || a.Window <= model.Sequence || model.Sequence <= 1) return;
        report(DiagnosticCatalog.WindowBeyondSequence, Site.Layer(layer.Path, "Window"),
            new object?[] { layer.Path, a.Window, model.Sequence });
    }

    // ---- NNS012: DeepNorm constants ([K-8978]; DeepNet) ------------------------------------------------

    private static void DeepNorm(ModelSpec model, LayerSpec layer, List<int>[] consumers, Action<DiagnosticDescriptor, Site, object?[]> report)
    {
        int n = Math.Max(1, layer.Depth);
        double alpha = layer.Parameter;
        // β is not kept on the DeepNorm layer: it is the init gain of its block's projections.
        double beta = model.Layers.FirstOrDefault(l => l.Block == layer.Block && l.InitGain > 0)?.InitGain ?? double.NaN;
        if (!(alpha > 0)) return; // DSL106 reported it

        // Pre-LN (Su, [K-8978]: α = 1 for Pre-Norm): the sum α·x + F(x) flows on un-normalised.
        if (PreNorm(model, layer, consumers))
        {
            if (!Near(alpha, 1))
                report(DiagnosticCatalog.DeepNormPreNorm, Site.Layer(layer.Path, "Alpha"), new object?[] { layer.Path, Show(alpha) });
            return; // β for Pre-LN is "recomputed" (SEEDS §1.3) with no formula to compare against
        }
        double expectedAlpha = Math.Pow(2.0 * n, 0.25), expectedBeta = Math.Pow(8.0 * n, -0.25);
        bool alphaOff = !Near(alpha, expectedAlpha);
        bool betaOff = !double.IsNaN(beta) && !Near(beta, expectedBeta);
        if (!alphaOff && !betaOff) return;
        // Su's Adam-specific pair (2N)^½, (2N)^−½ ([K-8978]) is a sourced alternative, not a mistake.
        if (Near(alpha, Math.Sqrt(2.0 * n)) && (double.IsNaN(beta) || Near(beta, 1 / Math.Sqrt(2.0 * n)))) return;
        string argument = alphaOff && betaOff ? "" : alphaOff ? "Alpha" : "Beta";
        double fixAlpha = Round4(expectedAlpha), fixBeta = Round4(expectedBeta);
        report(DiagnosticCatalog.DeepNormConstants, Site.Layer(layer.Path, argument),
            new object?[] { layer.Path, Show(alpha), double.IsNaN(beta) ? "(unused)" : Show(beta), n, Show(expectedAlpha), Show(expectedBeta), fixAlpha, fixBeta });
    }

    /// <summary>Whether a sum that the DeepNorm skip feeds is read by anything but a LayerNorm or
    /// RMSNorm (or is the model's output): the residual stream stays un-normalised, as in Pre-LN.</summary>
    private static bool PreNorm(ModelSpec model, LayerSpec layer, List<int>[] consumers)
    {
        var nodes = model.Nodes;
        foreach (var skip in nodes.Where(x => x.Layer == layer.Path))
        {
            foreach (int sum in consumers[skip.Id].Where(c => nodes[c].Kind == NodeKind.Add))
            {
                if (sum == model.OutputNode) return true;
                if (consumers[sum].Any(c => nodes[c].Kind is not (NodeKind.LayerNorm or NodeKind.RmsNorm))) return true;
            }
        }

        return false;
    }

    // ---- NNS003: the RoPE base ([K-8265], [K-9403]) -------------------------------------------------------

    private static void Rope(LayerSpec layer, Action<DiagnosticDescriptor, Site, object?[]> report)
    {
        // Odd or oversized rotary dimensions are DSL205 (an error, in shape inference); SEEDS' layout
        // warning needs a checkpoint-loading declaration the DSL does not have.
        var a = layer.Attention!;
        if (!a.Rope || a.Linear || !(a.RopeBase > 1) || a.RopeBase == 10000) return;
        report(DiagnosticCatalog.RopeBase, Site.Layer(layer.Path, "RopeBase"), new object?[] { layer.Path, Show(a.RopeBase) });
    }

    // ---- NNS015: initialisation variance versus the activation ([K-8620], [K-8994]) ----------------------

    private static void InitVariance(ModelSpec model, List<int>[] consumers, Action<DiagnosticDescriptor, Site, object?[]> report)
    {
        // Only an explicit InitStd is the user's choice: the default initialisation already uses
        // He for ReLU-like units and LeCun otherwise (Planner.Gain).
        double std = model.InitStd;
        if (!(std > 0) || double.IsInfinity(std)) return;
        var nodes = model.Nodes;
        bool FeedsResidual(NodeSpec node) => consumers[node.Id].Any(c => nodes[c].Kind == NodeKind.Add);
        int residualBranches = nodes.Count(x => x.Kind is NodeKind.Dense or NodeKind.Attention or NodeKind.LinearAttention && FeedsResidual(x));
        double residualStd = residualBranches > 0 ? std / Math.Sqrt(residualBranches) : std;

        foreach (var layer in model.Layers)
        {
            if (layer.Kind != LayerKind.Dense || layer.Tied.Length > 0 || layer.InitGain > 0 || layer.In <= 0) continue;
            var node = nodes.FirstOrDefault(x => x.Layer == layer.Path);
            if (node is null) continue;
            // As the planner decides: the activation is the one that consumes the Dense value alone.
            var activation = consumers[node.Id].Count == 1 && node.Id != model.OutputNode && nodes[consumers[node.Id][0]].Kind == NodeKind.Activation
                ? nodes[consumers[node.Id][0]].Activation
                : ActivationKind.None;
            double sigma = FeedsResidual(node) ? residualStd : std;
            double variance = sigma * sigma, ratio = variance * layer.In;
            bool reluLike = activation is ActivationKind.Relu or ActivationKind.GeluTanh or ActivationKind.GeluErf or ActivationKind.Silu
                or ActivationKind.SquarePlus or ActivationKind.Softplus;
            bool linearLike = activation is ActivationKind.None or ActivationKind.Tanh;
            string feeds;
            double target;
            if (reluLike && Math.Abs(ratio - 1) <= 0.1)
            {
                feeds = $"a ReLU-family activation ({activation})";
                target = 2; // He
            }
            else if (linearLike && Math.Abs(ratio - 2) <= 0.2)
            {
                feeds = activation == ActivationKind.Tanh ? "tanh" : "no activation (a linear output)";
                target = 1; // LeCun
            }
            else
            {
                continue;
            }

            report(DiagnosticCatalog.InitVariance, Site.Model("InitStd"),
                new object?[] { layer.Path, Show(variance), Show(ratio), layer.In, feeds, Show(target), Show(target / layer.In), Show(Math.Sqrt(target / layer.In)) });
            return; // InitStd is one argument: one diagnostic, naming the first layer it misfits
        }
    }

    // ---- NNS014: residual branch scale without normalisation ([K-8994]) ----------------------------------

    private static void ResidualScale(ModelSpec model, Action<DiagnosticDescriptor, Site, object?[]> report)
    {
        // Only unnormalised stacks with the default initialisation: a norm re-scales the stream, and an
        // explicit InitStd is a choice of branch size.
        var nodes = model.Nodes;
        if (model.InitStd > 0 || model.Layers.Any(l => l.Kind is LayerKind.LayerNorm or LayerKind.RmsNorm or LayerKind.DeepNorm)) return;
        var residual = new List<(int Add, double Epsilon)>();
        foreach (var node in nodes)
        {
            if (node.Kind != NodeKind.Add || node.Inputs.Count != 2 || node.Inputs[0] < 0 || node.Inputs[1] < 0) continue;
            int a = node.Inputs[0], b = node.Inputs[1];
            // x + F(x): the branch is the input computed from the other one.
            int branch = Reaches(nodes, a, b) ? b : Reaches(nodes, b, a) ? a : -1;
            if (branch < 0) continue;
            double epsilon = nodes[branch].Kind == NodeKind.Scale && nodes[branch].Layer.Length == 0 ? Math.Abs(nodes[branch].Scalar) : 1;
            residual.Add((node.Id, epsilon));
        }

        int n = residual.Count;
        if (n < 2) return;
        foreach (var (add, epsilon) in residual)
        {
            if (epsilon * epsilon <= (1 + Tolerance) / n) continue;
            report(DiagnosticCatalog.ResidualBranchScale, Site.Node(add),
                new object?[] { Show(epsilon), n, Show(Math.Pow(1 + (epsilon * epsilon), n)), Show(1 / Math.Sqrt(n)) });
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

    // ---- NNS036: word-embedding dimension ([K-7695]) ---------------------------------------------------

    private static void Embedding(LayerSpec layer, Action<DiagnosticDescriptor, Site, object?[]> report)
    {
        int vocabulary = layer.In, dim = layer.Out;
        if (vocabulary < 2 || dim <= 0) return;
        double floor = EmbeddingCoefficient * Math.Log(vocabulary);
        if (dim > floor) return;
        report(DiagnosticCatalog.EmbeddingDimension, Site.Layer(layer.Path, "Dim"),
            new object?[] { layer.Path, dim, vocabulary, Show(floor) });
    }

    // ---- NNS010: unargmaxable classes ([K-9046]) --------------------------------------------------------

    private static void Unargmaxable(ModelSpec model, Action<DiagnosticDescriptor, Site, object?[]> report)
    {
        // Classes are read off by argmax only under a softmax cross-entropy; the output must be a Dense.
        if (model.LossNode < 0 || model.Nodes[model.LossNode].Kind != NodeKind.SoftmaxCrossEntropy) return;
        if (model.OutputNode < 0 || model.Nodes[model.OutputNode].Kind != NodeKind.Dense) return;
        var layer = model.Layers.FirstOrDefault(l => l.Path == model.Nodes[model.OutputNode].Layer);
        if (layer is null || layer.In <= 0 || layer.Out <= layer.In + 1) return;
        string bias = layer.Bias ? "; its bias can rescue such classes" : "; the layer has no bias that could rescue such classes";
        report(DiagnosticCatalog.UnargmaxableClasses, Site.Layer(layer.Path, "Out"),
            new object?[] { layer.Path, layer.Out, layer.In, bias });
    }

    // ---- helpers ---------------------------------------------------------------------------------------

    private static List<int>[] Consumers(ModelSpec model)
    {
        var consumers = new List<int>[model.Nodes.Count];
        for (int i = 0; i < consumers.Length; i++) consumers[i] = new List<int>();
        foreach (var node in model.Nodes)
            foreach (int input in node.Inputs)
                if (input >= 0 && input < consumers.Length) consumers[input].Add(node.Id);
        return consumers;
    }

    private static bool Near(double value, double expected) => RuleValues.Near(value, expected, Tolerance);

    private static double Round4(double value) => Math.Round(value, 4, MidpointRounding.AwayFromZero);

    private static string Show(double value) => RuleValues.Show(value);
}
