using System.Collections.Generic;
using System.Linq;
using Dsl.Generators.Model;

namespace Dsl.Generators.Planning;

/// <summary>Where FGM adversarial training keeps its buffers (element offsets into the arena).</summary>
/// <param name="Layer">The embedding layer whose table is perturbed.</param>
/// <param name="Epsilon">The perturbation's L2 norm.</param>
/// <param name="Table">The table's offset in the parameter region (its gradient is at GradientOffset + Table).</param>
/// <param name="TableLength">Vocabulary × Dim.</param>
/// <param name="GradientBackup">A copy of the clean pass's gradient region (ParameterRegion long).</param>
/// <param name="TableBackup">A copy of the unperturbed table, restored after the second pass.</param>
internal sealed record AdversarialPlan(string Layer, double Epsilon, int Table, int TableLength, int GradientBackup, int TableBackup);

internal static partial class Planner
{
    /// <summary>Reserves FGM's two buffers after the activations when the model has [Adversarial]
    /// and a loss; null otherwise.</summary>
    private static AdversarialPlan? PlanAdversarial(ModelSpec model, List<LayerBinding> bindings, int parameterRegion, List<BufferPlan> buffers, ref int cursor)
    {
        if (model.Adversarial is not { } spec || model.LossNode < 0) return null;
        var binding = bindings.FirstOrDefault(b => b.Layer == spec.Layer);
        if (binding is null) return null;
        int table = binding.Ints[0], length = binding.Ints[1] * binding.Ints[2];
        int gradientBackup = cursor;
        buffers.Add(new BufferPlan("FGM clean gradients", gradientBackup, 1, parameterRegion));
        cursor = Align(cursor + parameterRegion);
        int tableBackup = cursor;
        buffers.Add(new BufferPlan($"FGM {spec.Layer} table backup", tableBackup, binding.Ints[1], binding.Ints[2]));
        cursor = Align(cursor + length);
        return new AdversarialPlan(spec.Layer, spec.Epsilon, table, length, gradientBackup, tableBackup);
    }
}
