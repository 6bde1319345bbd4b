using System.Collections.Generic;
using System.Linq;
using Dsl.Generators.Model;
using Dsl.Generators.Planning;
using static Dsl.Generators.Emit.CudaLiterals;

namespace Dsl.Generators.Emit.Cuda;

/// <summary>A target parameter of a multi-task loss and its first value in the labels or targets staging buffer.</summary>
internal sealed record CudaTaskTargetSpec(string Name, bool IsLabels, int Width, int Offset);

/// <summary>One task: its title, target, per-row loss slots, divisor, fixed weight and gradient-scale launch.</summary>
internal sealed record CudaTaskSpec(string Title, int Target, int LossOffset, int LossDivisor, double Weight, int ScaleIndex);

/// <summary>The multi-task part of a CUDA module (printed as a <c>Dsl.Cuda.CudaMultiTask</c>).</summary>
internal sealed record CudaMultiTaskSpec(string Weighting, List<CudaTaskTargetSpec> Targets, List<CudaTaskSpec> Tasks, List<CudaLaunchSpec> Scales,
    int FactorOffset, int LogVarianceOffset, int LogVarianceGradientOffset);

// Ops.MultiTask: each task's fused loss (the single-loss kernels, with their own slots, targets and names), then a
// kernel per task that scales its head's gradient by the factor ∂L/∂L_i the host computes from the read-back losses.
internal static partial class CudaEmitter
{
    private sealed partial class Emission
    {
        private CudaMultiTaskSpec MultiTaskLoss(CodeWriter w, List<CudaLaunchSpec> launches, MultiTaskSpec multi)
        {
            int rows = _plan.Rows;
            var targets = new List<CudaTaskTargetSpec>();
            int labels = 0, tensors = 0;
            foreach (var t in _plan.Model.TargetParameters)
            {
                if (t.Kind == TargetKind.Labels)
                {
                    targets.Add(new CudaTaskTargetSpec(t.Name, true, 1, labels));
                    labels += rows;
                }
                else
                {
                    int width = EngineEmitter.TargetWidth(_plan, t);
                    targets.Add(new CudaTaskTargetSpec(t.Name, false, width, tensors));
                    tensors += width * rows;
                }
            }

            var tasks = new List<CudaTaskSpec>();
            var scales = new List<CudaLaunchSpec>();
            w.Line($"/* ---- multi-task loss ({multi.Weighting}): {Int(multi.Tasks.Count)} tasks, each task's per-row losses {Int(rows)} apart from {Int(_lossOffset)},");
            w.Line($"   the factors ∂L/∂L_i (written by the host) at {Int(_factorOffset)} ---- */");
            w.Line();
            for (int i = 0; i < multi.Tasks.Count; i++)
            {
                var task = multi.Tasks[i];
                var step = _plan.Forward.First(s => s.Node == task.LossNode);
                int target = targets.FindIndex(t => t.Name == task.Target);
                _slot = _lossOffset + (i * rows);
                _kernelPrefix = $"task{Int(i)}_";
                _labelBase = targets[target].IsLabels ? targets[target].Offset : 0;
                _targetBase = targets[target].IsLabels ? 0 : targets[target].Offset;
                string title = $"{task.Loss.Kind} on {task.Target}";
                w.Line($"/* task {Int(i)}: {title} */");
                int divisor = ExtendedLoss(w, launches, step, task.Loss);
                string name = $"task{Int(i)}_scale";
                var scaleLaunches = new List<CudaLaunchSpec>();
                Elementwise(w, scaleLaunches, name, $"task {Int(i)} ({title}): ∂ at {Int(step.DX)} ×= its factor ∂L/∂L_i (at {Int(_factorOffset + i)})", step.In, false,
                    $"arena[{Int(step.DX)} + i] *= arena[{Int(_factorOffset + i)}];");
                scales.Add(scaleLaunches[0]);
                tasks.Add(new CudaTaskSpec(title, target, _slot, divisor, task.Weight, i));
            }

            _slot = _lossOffset;
            _kernelPrefix = "";
            _labelBase = 0;
            _targetBase = 0;
            bool uncertain = multi.Weighting == TaskWeightingKind.Uncertainty;
            // Dsl.TaskWeighting's member: Sum also carries explicit weights (each task's α_i).
            return new CudaMultiTaskSpec(multi.Weighting == TaskWeightingKind.Fixed ? "Sum" : multi.Weighting.ToString(), targets, tasks, scales, _factorOffset,
                uncertain ? _plan.TaskLogVariance : -1, uncertain ? _plan.GradientOffset + _plan.TaskLogVariance : -1);
        }
    }
}
