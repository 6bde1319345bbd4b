using System.Collections.Generic;
using Dsl.Generators.Diagnostics;
using Dsl.Generators.Model;
using Microsoft.CodeAnalysis;

namespace Dsl.Generators.Shapes;

/// <summary>The result of <see cref="ShapeInference.Infer"/>: the layers with their sizes filled in, every
/// node's width, and the shape errors (located by <see cref="Site"/>).</summary>
internal sealed record ShapeResult(List<LayerSpec> Layers, int[] Widths, List<Finding> Findings);

/// <summary>
/// Infers the feature width of every value in the graph (rows — batch × sequence — are the
/// leading, symbolic dimension of every value) and fills in each layer's input width and the
/// attention sizes left at 0. Widths of −1 mean "unknown because of an earlier error": no error is
/// reported twice.
/// </summary>
internal static class ShapeInference
{
    public static ShapeResult Infer(ModelSpec model)
    {
        var nodes = model.Nodes;
        var layers = model.Layers;
        int inputWidth = model.InputWidth;
        var widths = new int[nodes.Count];
        var errors = new List<Finding>();
        void Error(DiagnosticDescriptor descriptor, Site site, params object?[] arguments) => errors.Add(new Finding(descriptor, site, arguments));
        var resolved = new List<LayerSpec>(layers);
        var index = new Dictionary<string, int>(System.StringComparer.Ordinal);
        for (int i = 0; i < resolved.Count; i++) index[resolved[i].Path] = i;
        var seenIn = new Dictionary<string, int>(System.StringComparer.Ordinal);

        // First use of a layer fixes its input width; later uses must agree.
        bool FirstUse(NodeSpec node, LayerSpec layer, int incoming)
        {
            if (seenIn.TryGetValue(layer.Path, out int earlier))
            {
                if (earlier != incoming) Error(DiagnosticCatalog.SharedLayerWidth, Site.Node(node.Id), layer.Path, incoming, earlier);
                return false;
            }

            seenIn[layer.Path] = incoming;
            return true;
        }

        foreach (var node in nodes)
        {
            int In(int k) => node.Inputs[k] >= 0 ? widths[node.Inputs[k]] : -1;
            LayerSpec? layer = node.Layer.Length > 0 && index.TryGetValue(node.Layer, out int li) ? resolved[li] : null;
            switch (node.Kind)
            {
                case NodeKind.Input:
                    widths[node.Id] = inputWidth > 0 ? inputWidth : -1;
                    break;
                case NodeKind.Embedding:
                    widths[node.Id] = layer!.Out > 0 ? layer.Out : -1;
                    break;
                case NodeKind.Dense:
                {
                    int incoming = In(0);
                    widths[node.Id] = layer!.Out > 0 ? layer.Out : -1;
                    if (incoming < 0 || !FirstUse(node, layer, incoming)) break;
                    if (layer.In > 0 && layer.In != incoming)
                    {
                        Error(DiagnosticCatalog.DenseInMismatch, Site.Layer(layer.Path, "In"), layer.Path, layer.In, incoming);
                        break;
                    }

                    if (layer.Tied.Length > 0 && index.TryGetValue(layer.Tied, out int ti))
                    {
                        var table = resolved[ti];
                        if (table.In > 0 && layer.Out > 0 && table.In != layer.Out)
                            Error(DiagnosticCatalog.TiedShape, Site.Layer(layer.Path, "Out"), layer.Path, layer.Tied, "Out (the vocabulary)", layer.Out, table.In);
                        else if (table.Out > 0 && table.Out != incoming)
                            Error(DiagnosticCatalog.TiedShape, Site.Node(node.Id), layer.Path, layer.Tied, "input width (the embedding Dim)", incoming, table.Out);
                    }

                    resolved[index[node.Layer]] = layer with { In = incoming };
                    break;
                }
                case NodeKind.PositionEmbedding:
                case NodeKind.LayerNorm:
                case NodeKind.RmsNorm:
                {
                    int incoming = In(0);
                    widths[node.Id] = incoming;
                    if (incoming >= 0 && FirstUse(node, layer!, incoming)) resolved[index[node.Layer]] = layer! with { In = incoming, Out = incoming };
                    break;
                }
                case NodeKind.Attention:
                case NodeKind.LinearAttention:
                {
                    int incoming = In(0);
                    var a = layer!.Attention!;
                    int outWidth = layer.Out > 0 ? layer.Out : incoming;
                    widths[node.Id] = outWidth;
                    if (incoming < 0 || !FirstUse(node, layer, incoming)) break;
                    int valueSize = a.ValueSize;
                    if (valueSize == 0)
                    {
                        if (a.Heads > 0 && incoming % a.Heads != 0)
                        {
                            Error(DiagnosticCatalog.HeadsWidth, Site.Layer(layer.Path, "Heads"), layer.Path, a.Heads, incoming);
                            break;
                        }

                        valueSize = incoming / System.Math.Max(1, a.Heads);
                    }

                    int keySize = a.KeySize > 0 ? a.KeySize : valueSize;
                    int rotary = a.Rope ? (a.RotaryDim > 0 ? a.RotaryDim : keySize) : 0;
                    if (a.Rope && (rotary % 2 != 0 || rotary > keySize))
                    {
                        Error(DiagnosticCatalog.RotaryDim, Site.Layer(layer.Path, "RotaryDim"), layer.Path, rotary, keySize);
                        break;
                    }

                    resolved[index[node.Layer]] = layer with
                    {
                        In = incoming,
                        Out = outWidth,
                        Attention = a with { KeySize = keySize, ValueSize = valueSize, RotaryDim = rotary },
                    };
                    break;
                }
                case NodeKind.Add:
                {
                    int a = In(0), b = In(1);
                    if (a >= 0 && b >= 0 && a != b)
                    {
                        Error(DiagnosticCatalog.AddShapeMismatch, Site.Node(node.Id), a, b);
                        widths[node.Id] = -1;
                    }
                    else
                    {
                        widths[node.Id] = a >= 0 ? a : b;
                    }

                    break;
                }
                case NodeKind.SoftmaxCrossEntropy:
                case NodeKind.MeanSquaredError:
                    widths[node.Id] = 1;
                    break;
                default:
                    widths[node.Id] = In(0);
                    break;
            }
        }

        return new ShapeResult(resolved, widths, errors);
    }
}
