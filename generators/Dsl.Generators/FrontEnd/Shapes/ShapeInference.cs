using System.Collections.Generic;
using Dsl.Generators.Model;

namespace Dsl.Generators.Shapes;

/// <summary>Which rule a shape error breaks.</summary>
internal enum ShapeErrorKind { DenseIn, AddWidths, SharedLayer }

/// <summary>A shape error as a value: the node or layer it concerns and the two widths.</summary>
internal sealed record ShapeError(ShapeErrorKind Kind, int Node, string Layer, int Expected, int Actual);

/// <summary>The result of <see cref="ShapeInference.Infer"/>.</summary>
internal sealed record ShapeResult(List<LayerSpec> Layers, int[] Widths, List<ShapeError> Errors);

/// <summary>
/// Infers the feature width of every value in the graph (the batch is the leading, symbolic
/// dimension of every value) and fills in each Dense layer's input width. Widths of −1 mean
/// "unknown because of an earlier error": no error is reported twice.
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

        foreach (var node in nodes)
        {
            int In(int k) => node.Inputs[k] >= 0 ? widths[node.Inputs[k]] : -1;
            switch (node.Kind)
            {
                case NodeKind.Input:
                    widths[node.Id] = inputWidth > 0 ? inputWidth : -1;
                    break;
                case NodeKind.Dense:
                {
                    var layer = resolved[index[node.Layer]];
                    int incoming = In(0);
                    widths[node.Id] = layer.Out > 0 ? layer.Out : -1;
                    if (incoming < 0) break;
                    if (seenIn.TryGetValue(layer.Path, out int earlier))
                    {
                        if (earlier != incoming) errors.Add(new ShapeError(ShapeErrorKind.SharedLayer, node.Id, layer.Path, earlier, incoming));
                        break;
                    }

                    seenIn[layer.Path] = incoming;
                    if (layer.In > 0 && layer.In != incoming)
                        errors.Add(new ShapeError(ShapeErrorKind.DenseIn, node.Id, layer.Path, layer.In, incoming));
                    else
                        resolved[index[node.Layer]] = layer with { In = incoming };
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
