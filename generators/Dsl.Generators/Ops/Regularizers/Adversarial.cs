using System.Collections.Generic;
using Dsl.Contracts;
using Dsl.Generators.Emit;
using Dsl.Generators.Emit.Cuda;
using Dsl.Generators.Model;
using Dsl.Generators.Planning;
using static Dsl.Generators.Emit.Literals;

namespace Dsl.Generators.Ops;

/// <summary>
/// FGM adversarial training on an embedding table ([Adversarial(Epsilon = …)] on a model's [Embedding] member; Miyato
/// et al., as Su applies it to NLP, kexue.fm 7234): a training step runs a clean pass, moves the table by r = ε·g/‖g‖,
/// runs a second pass with the same masks, adds the two gradients and restores the table exactly. A regularizer hook:
/// its buffers after the gradients, the engine's AdversarialPass, and the CUDA perturb and restore launches.
/// </summary>
internal sealed class Adversarial : Op
{
    public override string Name => "Adversarial";

    /// <summary>Why a model with FGM cannot be sharded across ranks.</summary>
    public const string DataParallelIssue = "its [Adversarial] (FGM) step perturbs the embedding by the whole batch's gradient inside the step";

    /// <summary>Where FGM keeps its buffers (element offsets into the arena).</summary>
    /// <param name="Layer">The embedding layer whose table is perturbed.</param>
    /// <param name="Epsilon">The perturbation's L2 norm.</param>
    /// <param name="Table">The table's offset in the parameter region (its gradient is at GradientOffset + Table).</param>
    /// <param name="TableLength">Vocabulary × Dim.</param>
    /// <param name="GradientBackup">A copy of the clean pass's gradient region (ParameterRegion long).</param>
    /// <param name="TableBackup">A copy of the unperturbed table, restored after the second pass.</param>
    internal sealed record Plan(string Layer, double Epsilon, int Table, int TableLength, int GradientBackup, int TableBackup);

    /// <summary>Reserves FGM's two buffers after the activations when the model has [Adversarial] and a loss.</summary>
    public override void PlanModelExtras(PlanBuilder plan)
    {
        var model = plan.Model;
        if (model.Adversarial is not { } spec || model.LossNode < 0) return;
        var binding = plan.BindingOf(spec.Layer);
        if (binding is null) return;
        var (table, vocabulary, dim) = EmbeddingSlots.Read(binding.Ints);
        int gradientBackup = plan.Allocate("FGM clean gradients", 1, plan.ParameterRegion);
        int tableBackup = plan.Allocate($"FGM {spec.Layer} table backup", vocabulary, dim);
        plan.Adversarial = new Plan(spec.Layer, spec.Epsilon, table, vocabulary * dim, gradientBackup, tableBackup);
    }

    /// <summary>
    /// FGM: <c>AdversarialPass</c>, the clean pass, the perturbation of the embedding table, the
    /// perturbed pass, the sum of the two gradients and the exact restore; emitted only for a model
    /// with [Adversarial] and a loss.
    /// </summary>
    public static void CpuMembers(CpuWriter w)
    {
        var plan = w.Plan;
        if (plan.Adversarial is not { } fgm) return;
        bool labels = plan.Model.Targets == TargetKind.Labels;
        var (parameters, targetName) = plan.Model.MultiTask is not null
            ? MultiTask.TaskTargets(plan.Model, "T")
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
            string table = w.SpanA(fgm.Table, Int(fgm.TableLength));
            w.Line($"double loss = TrainingPass(batch, {targetName});");
            w.Line($"var saved = {w.SpanA(fgm.GradientBackup, "ParameterRegion")};");
            w.Line("Gradients.CopyTo(saved);");
            w.Line($"AdversarialPerturbationNorm = global::Dsl.Runtime.FastGradient.Perturb<T>({table}, {w.SpanA(fgm.TableBackup, Int(fgm.TableLength))}, saved.Slice({w.At(fgm.Table)}, {Int(fgm.TableLength)}), AdversarialEpsilon);");
            w.Line($"TrainingPass(batch, {targetName});");
            w.Line($"global::Dsl.Kernels.Elementwise.AddInPlace<T>(Gradients, saved);");
            w.Line($"{w.SpanA(fgm.TableBackup, Int(fgm.TableLength))}.CopyTo({table});");
            w.Line("return loss;");
        }

        w.Line();
    }

    /// <summary>
    /// FGM ([Adversarial]) as the CPU engine's <c>AdversarialPass</c> runs it, between two training passes:
    /// <paramref name="perturb"/> saves the clean gradient region and moves the table by r = ε·g/‖g‖ (backing
    /// it up first); after the second pass <paramref name="restore"/> adds the saved gradients and copies the
    /// table back bit for bit. ‖g‖ is a one-block double reduction, so nothing uses atomics.
    /// </summary>
    public static void Cuda(CudaWriter c, CodeWriter w, List<CudaLaunchSpec> perturb, List<CudaLaunchSpec> restore)
    {
        if (c.Plan.Adversarial is not { } fgm) return;
        int region = c.Plan.ParameterRegion, g = c.Plan.GradientOffset, length = fgm.TableLength;
        w.Line($"/* ---- FGM on {fgm.Layer}'s table ({Int(length)} values at {Int(fgm.Table)}), ε = {Literals.Double(fgm.Epsilon)} ---- */");
        w.Line();
        CudaWriter.Elementwise(w, perturb, "fgm_save_gradients", $"FGM: the clean pass's gradient region ({Int(region)} at {Int(g)}) saved at {Int(fgm.GradientBackup)}", region, true,
            $"arena[{Int(fgm.GradientBackup)} + i] = arena[{Int(g)} + i];");

        const string name = "fgm_perturb";
        w.Line($"/* FGM: back the table up at {Int(fgm.TableBackup)}, then table += ε/‖g‖ · g with g the saved clean gradient of the table");
        w.Line("   (‖g‖ in double; nothing is added when it is 0 or not finite); one block. */");
        using (w.Block($"DSL_KERNEL({name})"))
        {
            w.Line($"__shared__ double reduce[{Int(CudaWriter.ReduceBlock)}];");
            w.Line($"const float* g = arena + {Int(fgm.GradientBackup + fgm.Table)};");
            w.Line($"float* table = arena + {Int(fgm.Table)};");
            w.Line($"float* backup = arena + {Int(fgm.TableBackup)};");
            w.Line("double sum = 0.0;");
            w.Line($"for (int i = DSL_TID; i < {Int(length)}; i += DSL_BDIM) {{ backup[i] = table[i]; const double x = g[i]; sum += x * x; }}");
            CudaWriter.BlockReduce(w, "reduce", "sum", "{0} + {1}");
            w.Line("const double norm = DSL_SQRT(sum);");
            w.Line("if (!(norm > 0.0) || !(norm - norm == 0.0)) return;");
            w.Line($"const float scale = (float)({CudaLiterals.Double(fgm.Epsilon)} / norm);");
            w.Line($"for (int i = DSL_TID; i < {Int(length)}; i += DSL_BDIM) table[i] += g[i] * scale;");
        }

        w.Line();
        c.Cooperative(name);
        perturb.Add(new CudaLaunchSpec(name, $"FGM: {fgm.Layer}'s table += ε·g/‖g‖ (backed up first)", "Single", length, CudaWriter.ReduceBlock));

        CudaWriter.Elementwise(w, restore, "fgm_restore", $"FGM: gradients += the saved clean gradients; the table copied back from {Int(fgm.TableBackup)}", region, true,
            $"const float saved = arena[{Int(fgm.GradientBackup)} + i];",
            $"arena[{Int(g)} + i] += saved;",
            $"if (i < {Int(length)}) arena[{Int(fgm.Table)} + i] = arena[{Int(fgm.TableBackup)} + i];");
    }
}
