using Dsl.Generators.Model;
using Dsl.Generators.Planning;
using static Dsl.Generators.Emit.Literals;

namespace Dsl.Generators.Emit;

internal static partial class EngineEmitter
{
    /// <summary>
    /// FGM: <c>AdversarialPass</c>, the clean pass, the perturbation of the embedding table, the
    /// perturbed pass, the sum of the two gradients and the exact restore; emitted only for a model
    /// with [Adversarial] and a loss.
    /// </summary>
    private static void Adversarial(CodeWriter w, ModelPlan plan)
    {
        if (plan.Adversarial is not { } fgm) return;
        bool labels = plan.Model.Targets == TargetKind.Labels;
        var (parameters, targetName) = plan.Model.MultiTask is not null
            ? TaskTargets(plan.Model, "T")
            : ($"{(labels ? "global::System.ReadOnlySpan<int>" : "global::System.ReadOnlySpan<T>")} {(labels ? "labels" : "targets")}", labels ? "labels" : "targets");
        w.Line($"/// <summary>FGM's ε: the L2 norm of the perturbation of {fgm.Layer}'s table.</summary>");
        w.Line($"public const double AdversarialEpsilon = {Double(fgm.Epsilon)};");
        w.Line();
        w.Line("/// <summary>The L2 norm of the perturbation the last <see cref=\"AdversarialPass\"/> added to the table, measured");
        w.Line("/// as √Σ(perturbed − clean)² in double: ε up to rounding, 0 when the table's gradient was 0 or not finite.</summary>");
        w.Line("public double AdversarialPerturbationNorm { get; private set; }");
        w.Line();
        w.Line("/// <summary>FGM (fast gradient method) on the first <paramref name=\"batch\"/> examples: a clean <see cref=\"TrainingPass\"/>,");
        w.Line($"/// then {fgm.Layer}'s table moves by r = ε·g/‖g‖ (g its clean gradient), a second pass with the same dropout masks,");
        w.Line("/// the clean gradients added to the perturbed ones, and the table restored bit for bit. <see cref=\"Gradients\"/> then");
        w.Line("/// holds ∇[L(θ) + L(θ + r)] with r held constant. Returns the clean mean loss. Allocates nothing.</summary>");
        using (w.Block($"public double AdversarialPass(int batch, {parameters})"))
        {
            string table = $"global::System.MemoryExtensions.AsSpan(Arena, {Int(fgm.Table)}, {Int(fgm.TableLength)})";
            w.Line($"double loss = TrainingPass(batch, {targetName});");
            w.Line($"var saved = global::System.MemoryExtensions.AsSpan(Arena, {Int(fgm.GradientBackup)}, ParameterRegion);");
            w.Line("Gradients.CopyTo(saved);");
            w.Line($"AdversarialPerturbationNorm = global::Dsl.Runtime.FastGradient.Perturb<T>({table}, global::System.MemoryExtensions.AsSpan(Arena, {Int(fgm.TableBackup)}, {Int(fgm.TableLength)}), saved.Slice({Int(fgm.Table)}, {Int(fgm.TableLength)}), AdversarialEpsilon);");
            w.Line($"TrainingPass(batch, {targetName});");
            w.Line($"global::Dsl.Kernels.Elementwise.AddInPlace<T>(Gradients, saved);");
            w.Line($"global::System.MemoryExtensions.AsSpan(Arena, {Int(fgm.TableBackup)}, {Int(fgm.TableLength)}).CopyTo({table});");
            w.Line("return loss;");
        }

        w.Line();
    }
}
