using System.Collections.Generic;
using System.Linq;
using Dsl.Generators.Model;

namespace Dsl.Generators.Planning;

/// <summary>Where a spectrally normalised Dense layer keeps its buffers (arena element offsets).</summary>
/// <param name="Layer">The Dense layer.</param>
/// <param name="Weight">W [Rows, Columns] in the parameter region.</param>
/// <param name="Gradient">∂L/∂W in the gradient region.</param>
/// <param name="Rows">Out.</param>
/// <param name="Columns">In.</param>
/// <param name="U">The power iteration's left vector [Rows] (persistent, not trained).</param>
/// <param name="V">The right vector [Columns].</param>
/// <param name="Sigma">σ = uᵀWv of the last forward [1].</param>
/// <param name="Normalized">W̄ = W/σ [Rows, Columns]: what the layer's GEMMs read.</param>
internal sealed record SpectralNormPlan(string Layer, int Weight, int Gradient, int Rows, int Columns, int U, int V, int Sigma, int Normalized);

internal static partial class Planner
{
    /// <summary>Reserves u, v, σ and W̄ after the activations for every Dense layer with SpectralNorm.</summary>
    private static List<SpectralNormPlan> PlanSpectralNorms(ModelSpec model, List<LayerBinding> bindings, int gradientOffset, List<BufferPlan> buffers, ref int cursor)
    {
        var plans = new List<SpectralNormPlan>();
        foreach (var layer in model.Layers.Where(l => l.Kind == LayerKind.Dense && l.SpectralNorm && l.Tied.Length == 0))
        {
            var binding = bindings.FirstOrDefault(b => b.Layer == layer.Path);
            if (binding is null || binding.Ints[0] < 0) continue;
            int weight = binding.Ints[0], rows = layer.Out, columns = layer.In;
            int u = Reserve(buffers, ref cursor, layer.Path + " spectral u", 1, rows);
            int v = Reserve(buffers, ref cursor, layer.Path + " spectral v", 1, columns);
            int sigma = Reserve(buffers, ref cursor, layer.Path + " spectral σ", 1, 1);
            int normalized = Reserve(buffers, ref cursor, layer.Path + " W/σ", rows, columns);
            plans.Add(new SpectralNormPlan(layer.Path, weight, gradientOffset + weight, rows, columns, u, v, sigma, normalized));
        }

        return plans;
    }

    private static int Reserve(List<BufferPlan> buffers, ref int cursor, string name, int rows, int columns)
    {
        int at = cursor;
        buffers.Add(new BufferPlan(name, at, rows, columns));
        cursor = Align(cursor + rows * columns);
        return at;
    }

    /// <summary>Points the layers' forward and backward GEMMs (and the eager bodies) at W̄; the gradient
    /// offsets stay on W, whose gradient the engine finishes from ∂L/∂W̄ after the backward schedule.</summary>
    private static void UseNormalizedWeights(List<SpectralNormPlan> plans, List<PlanStep> forward, List<PlanStep> backward, List<LayerBinding> bindings)
    {
        foreach (var sn in plans)
        {
            foreach (var steps in new[] { forward, backward })
            {
                for (int i = 0; i < steps.Count; i++)
                {
                    var s = steps[i];
                    if (s.Layer == sn.Layer && s.W == sn.Weight && s.Kind is StepKind.DenseForward or StepKind.DenseBackward)
                        steps[i] = s with { W = sn.Normalized };
                }
            }

            for (int i = 0; i < bindings.Count; i++)
            {
                if (bindings[i].Layer != sn.Layer) continue;
                var ints = bindings[i].Ints.ToArray();
                ints[0] = sn.Normalized;
                bindings[i] = bindings[i] with { Ints = ints.ToEquatableArray() };
            }
        }
    }
}
