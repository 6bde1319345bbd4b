using System.Collections.Generic;
using static Dsl.Generators.Emit.CudaLiterals;

namespace Dsl.Generators.Emit.Cuda;

internal static partial class CudaEmitter
{
    private sealed partial class Emission
    {
        /// <summary>
        /// FGM ([Adversarial]) as the CPU engine's <c>AdversarialPass</c> runs it, between two training passes:
        /// <paramref name="perturb"/> saves the clean gradient region and moves the table by r = ε·g/‖g‖ (backing
        /// it up first); after the second pass <paramref name="restore"/> adds the saved gradients and copies the
        /// table back bit for bit. ‖g‖ is a one-block double reduction, so nothing uses atomics.
        /// </summary>
        private void Adversarial(CodeWriter w, List<CudaLaunchSpec> perturb, List<CudaLaunchSpec> restore)
        {
            if (_plan.Adversarial is not { } fgm) return;
            int region = _plan.ParameterRegion, g = _plan.GradientOffset, length = fgm.TableLength;
            w.Line($"/* ---- FGM on {fgm.Layer}'s table ({Int(length)} values at {Int(fgm.Table)}), ε = {Literals.Double(fgm.Epsilon)} ---- */");
            w.Line();
            Elementwise(w, perturb, "fgm_save_gradients", $"FGM: the clean pass's gradient region ({Int(region)} at {Int(g)}) saved at {Int(fgm.GradientBackup)}", region, true,
                $"arena[{Int(fgm.GradientBackup)} + i] = arena[{Int(g)} + i];");

            const string name = "fgm_perturb";
            w.Line($"/* FGM: back the table up at {Int(fgm.TableBackup)}, then table += ε/‖g‖ · g with g the saved clean gradient of the table");
            w.Line("   (‖g‖ in double; nothing is added when it is 0 or not finite); one block. */");
            using (w.Block($"DSL_KERNEL({name})"))
            {
                w.Line($"__shared__ double reduce[{Int(ReduceBlock)}];");
                w.Line($"const float* g = arena + {Int(fgm.GradientBackup + fgm.Table)};");
                w.Line($"float* table = arena + {Int(fgm.Table)};");
                w.Line($"float* backup = arena + {Int(fgm.TableBackup)};");
                w.Line("double sum = 0.0;");
                w.Line($"for (int i = DSL_TID; i < {Int(length)}; i += DSL_BDIM) {{ backup[i] = table[i]; const double x = g[i]; sum += x * x; }}");
                BlockReduce(w, "reduce", "sum", "{0} + {1}");
                w.Line("const double norm = DSL_SQRT(sum);");
                w.Line("if (!(norm > 0.0) || !(norm - norm == 0.0)) return;");
                w.Line($"const float scale = (float)({Double(fgm.Epsilon)} / norm);");
                w.Line($"for (int i = DSL_TID; i < {Int(length)}; i += DSL_BDIM) table[i] += g[i] * scale;");
            }

            w.Line();
            _cooperative.Add(name);
            perturb.Add(new CudaLaunchSpec(name, $"FGM: {fgm.Layer}'s table += ε·g/‖g‖ (backed up first)", "Single", length, ReduceBlock));

            Elementwise(w, restore, "fgm_restore", $"FGM: gradients += the saved clean gradients; the table copied back from {Int(fgm.TableBackup)}", region, true,
                $"const float saved = arena[{Int(fgm.GradientBackup)} + i];",
                $"arena[{Int(g)} + i] += saved;",
                $"if (i < {Int(length)}) arena[{Int(fgm.Table)} + i] = arena[{Int(fgm.TableBackup)} + i];");
        }
    }
}
