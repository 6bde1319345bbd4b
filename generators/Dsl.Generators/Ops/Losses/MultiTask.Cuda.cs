using System.Collections.Generic;
using System.Linq;
using Dsl.Generators.Emit;
using Dsl.Generators.Emit.Cuda;
using Dsl.Generators.Model;
using static Dsl.Generators.Emit.CudaLiterals;

namespace Dsl.Generators.Ops;

internal sealed partial class MultiTask
{
    /// <summary>Each task's fused loss (the single-loss kernels, with their own slots, targets and names), then a kernel per
    /// task that scales its head's gradient by the factor ∂L/∂L_i the host computes from the read-back losses.</summary>
    public static CudaMultiTaskSpec CudaLoss(CudaWriter c, MultiTaskSpec multi, int factorOffset)
    {
        int rows = c.Plan.Rows;
        var w = c.W;
        var targets = new List<CudaTaskTargetSpec>();
        int labels = 0, tensors = 0;
        foreach (var t in c.Plan.Model.TargetParameters)
        {
            if (t.Kind == TargetKind.Labels)
            {
                targets.Add(new CudaTaskTargetSpec(t.Name, true, 1, labels));
                labels += rows;
            }
            else
            {
                int width = TargetWidth(c.Plan, t);
                targets.Add(new CudaTaskTargetSpec(t.Name, false, width, tensors));
                tensors += width * rows;
            }
        }

        var tasks = new List<CudaTaskSpec>();
        var scales = new List<CudaLaunchSpec>();
        w.Line($"/* ---- multi-task loss ({multi.Weighting}): {Int(multi.Tasks.Count)} tasks, each task's per-row losses {Int(rows)} apart from {Int(c.LossOffset)},");
        w.Line($"   the factors ∂L/∂L_i (written by the host) at {Int(factorOffset)} ---- */");
        w.Line();
        for (int i = 0; i < multi.Tasks.Count; i++)
        {
            var task = multi.Tasks[i];
            var step = (LossStep)c.Plan.Forward.First(s => s.Node == task.LossNode);
            int target = targets.FindIndex(t => t.Name == task.Target);
            c.Slot = c.LossOffset + (i * rows);
            c.KernelPrefix = $"task{Int(i)}_";
            c.LabelBase = targets[target].IsLabels ? targets[target].Offset : 0;
            c.TargetBase = targets[target].IsLabels ? 0 : targets[target].Offset;
            string title = TaskTitle(c.Plan, task);
            w.Line($"/* task {Int(i)}: {title} */");
            int divisor = CudaTaskLoss(c, step, task.Loss);
            string name = $"task{Int(i)}_scale";
            var scaleLaunches = new List<CudaLaunchSpec>();
            CudaWriter.Elementwise(w, scaleLaunches, name, $"task {Int(i)} ({title}): ∂ at {Int(step.DX)} ×= its factor ∂L/∂L_i (at {Int(factorOffset + i)})", step.In, false,
                $"arena[{Int(step.DX)} + i] *= arena[{Int(factorOffset + i)}];");
            scales.Add(scaleLaunches[0]);
            tasks.Add(new CudaTaskSpec(title, target, c.Slot, divisor, task.Weight, i));
        }

        c.Slot = c.LossOffset;
        c.KernelPrefix = "";
        c.LabelBase = 0;
        c.TargetBase = 0;
        bool uncertain = multi.Weighting == TaskWeightingKind.Uncertainty;
        // Dsl.TaskWeighting's member: Sum also carries explicit weights (each task's α_i).
        return new CudaMultiTaskSpec(multi.Weighting == TaskWeightingKind.Fixed ? "Sum" : multi.Weighting.ToString(), targets, tasks, scales, factorOffset,
            uncertain ? c.Plan.TaskLogVariance : -1, uncertain ? c.Plan.GradientOffset + c.Plan.TaskLogVariance : -1);
    }

    /// <summary>One loss's fused kernel (and its flooding); returns its per-row divisor of the host's mean.</summary>
    public static int CudaTaskLoss(CudaWriter c, LossStep step, LossOptions loss)
    {
        int divisor = OpRegistry.Get<LossOp>(c.Plan.Model.Nodes[step.Node].Op)!.CudaKernel(c, step, loss);
        if (loss.Flood >= 0) Flood.Cuda(c, step, loss.Flood, divisor);
        return divisor;
    }
}
