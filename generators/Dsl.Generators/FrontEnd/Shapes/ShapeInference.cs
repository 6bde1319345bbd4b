using System.Collections.Generic;
using Dsl.Generators.Model;

namespace Dsl.Generators.Shapes;

/// <summary>Which rule a shape error breaks.</summary>
internal enum ShapeErrorKind { DenseIn, AddWidths, SharedLayer, HeadsWidth, RotaryDim, TiedVocabulary, TiedWidth }

/// <summary>A shape error as a value: the node or layer it concerns and the two numbers it compares.</summary>
internal sealed record ShapeError(ShapeErrorKind Kind, int Node, string Layer, int Expected, int Actual);

/// <summary>The result of <see cref="ShapeInference.Infer"/>.</summary>
internal sealed record ShapeResult(List<LayerSpec> Layers, int[] Widths, List<ShapeError> Errors);

/// <summary>
/// Infers the feature width of every value in the graph (rows — batch × sequence — are the
/// leading, symbolic dimension of every value) and fills in each layer's input width and the
/// attention sizes left at 0. Widths of −1 mean "unknown because of an earlier error": no error is
/// reported twice.
/// </summary>
internal static class ShapeInference
{
    public static ShapeResult Infer(IReadOnlyList<NodeSpec> nodes, IReadOnlyList<LayerSpec> layers, int inputWidth)
    {
        var widths = new int[nodes.Count];
        var errors = new List<ShapeError>();
        var resolved = new List<LayerSpec>(layers);
        var index = new Dictionary<string, int>(System.StringComparer.Ordinal);
        for (int i = 0; i < resolved.Count; i++) index[resolved[i].Path] = i;
        var seenIn = new Dictionary<string, int>(System.StringComparer.Ordinal);

        // First use of a layer fixes its input width; later uses must agree.
        bool FirstUse(NodeSpec node, LayerSpec layer, int incoming)
        {
            if (seenIn.TryGetValue(layer.Path, out int earlier))
            {
                if (earlier != incoming) errors.Add(new ShapeError(ShapeErrorKind.SharedLayer, node.Id, layer.Path, earlier, incoming));
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
                        errors.Add(new ShapeError(ShapeErrorKind.DenseIn, node.Id, layer.Path, layer.In, incoming));
                        break;
                    }

                    if (layer.Tied.Length > 0 && index.TryGetValue(layer.Tied, out int ti))
                    {
                        var table = resolved[ti];
                        if (table.In > 0 && layer.Out > 0 && table.In != layer.Out)
                            errors.Add(new ShapeError(ShapeErrorKind.TiedVocabulary, node.Id, layer.Path, table.In, layer.Out));
                        else if (table.Out > 0 && table.Out != incoming)
                            errors.Add(new ShapeError(ShapeErrorKind.TiedWidth, node.Id, layer.Path, table.Out, incoming));
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
                            errors.Add(new ShapeError(ShapeErrorKind.HeadsWidth, node.Id, layer.Path, a.Heads, incoming));
                            break;
                        }

                        valueSize = incoming / System.Math.Max(1, a.Heads);
                    }

                    int keySize = a.KeySize > 0 ? a.KeySize : valueSize;
                    int rotary = a.Rope ? (a.RotaryDim > 0 ? a.RotaryDim : keySize) : 0;
                    if (a.Rope && (rotary % 2 != 0 || rotary > keySize))
                    {
                        errors.Add(new ShapeError(ShapeErrorKind.RotaryDim, node.Id, layer.Path, keySize, rotary));
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
                        errors.Add(new ShapeError(ShapeErrorKind.AddWidths, node.Id, "", a, b));
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
