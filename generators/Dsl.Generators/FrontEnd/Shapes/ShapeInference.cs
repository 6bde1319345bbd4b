using System.Collections.Generic;
using Dsl.Generators.Diagnostics;
using Dsl.Generators.Model;
using Dsl.Generators.Ops;
using Microsoft.CodeAnalysis;

namespace Dsl.Generators.Shapes;

/// <summary>The result of <see cref="ShapeInference.Infer"/>: the layers with their sizes filled in, every
/// node's width, and the shape errors (located by <see cref="Site"/>).</summary>
internal sealed record ShapeResult(List<LayerSpec> Layers, int[] Widths, List<Finding> Findings);

/// <summary>
/// Infers the feature width of every value in the graph (rows — batch × sequence — are the
/// leading, symbolic dimension of every value) and fills in each layer's input width and the
/// sizes left at 0, node by node through each op's shape rule (<see cref="Op.InferShape"/>). Widths
/// of −1 mean "unknown because of an earlier error": no error is reported twice.
/// </summary>
internal static class ShapeInference
{
    public static ShapeResult Infer(ModelSpec model)
    {
        var shapes = new ShapeContext(model);
        foreach (var node in model.Nodes)
            shapes.Widths[node.Id] = OpRegistry.Get(node.Op).InferShape(shapes, node, shapes.LayerOf(node));
        return new ShapeResult(shapes.Layers, shapes.Widths, shapes.Errors);
    }
}

/// <summary>What an op's shape rule reads and writes: the widths so far, the layers (resolved as they are first
/// used) and the errors.</summary>
internal sealed class ShapeContext
{
    private readonly Dictionary<string, int> _index = new(System.StringComparer.Ordinal);
    private readonly Dictionary<string, int> _seenIn = new(System.StringComparer.Ordinal);

    public ShapeContext(ModelSpec model)
    {
        Model = model;
        Widths = new int[model.Nodes.Count];
        Layers = new List<LayerSpec>(model.Layers);
        for (int i = 0; i < Layers.Count; i++) _index[Layers[i].Path] = i;
    }

    /// <summary>The model as parsed.</summary>
    public ModelSpec Model { get; }

    /// <summary>Each node's width (−1: unknown after an error).</summary>
    public int[] Widths { get; }

    /// <summary>The layers, with the sizes inferred so far.</summary>
    public List<LayerSpec> Layers { get; }

    /// <summary>The shape errors.</summary>
    public List<Finding> Errors { get; } = new();

    /// <summary>The width of input <paramref name="k"/> of <paramref name="node"/>.</summary>
    public int In(NodeSpec node, int k) => node.Inputs[k] >= 0 ? Widths[node.Inputs[k]] : -1;

    /// <summary>The node's layer as resolved so far, or null.</summary>
    public LayerSpec? LayerOf(NodeSpec node) => node.Layer.Length > 0 ? Layer(node.Layer) : null;

    /// <summary>The layer at <paramref name="path"/> as resolved so far, or null.</summary>
    public LayerSpec? Layer(string path) => _index.TryGetValue(path, out int i) ? Layers[i] : null;

    /// <summary>Replaces the layer of the same path (its sizes filled in).</summary>
    public void Resolve(LayerSpec layer) => Layers[_index[layer.Path]] = layer;

    /// <summary>The first use of a layer fixes its input width; a later use must agree (DSL203 otherwise). Returns
    /// whether this is the first use.</summary>
    public bool FirstUse(NodeSpec node, LayerSpec layer, int incoming)
    {
        if (_seenIn.TryGetValue(layer.Path, out int earlier))
        {
            if (earlier != incoming) Error(DiagnosticCatalog.SharedLayerWidth, Site.Node(node.Id), layer.Path, incoming, earlier);
            return false;
        }

        _seenIn[layer.Path] = incoming;
        return true;
    }

    /// <summary>Reports a shape error.</summary>
    public void Error(DiagnosticDescriptor descriptor, Site site, params object?[] arguments) => Errors.Add(new Finding(descriptor, site, arguments));
}
