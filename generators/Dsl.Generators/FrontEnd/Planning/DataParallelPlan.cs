using Dsl.Generators.Model;

namespace Dsl.Generators.Planning;

/// <summary>
/// What data parallelism needs from a plan: after which backward step how much of the gradient region is final
/// (so a rank can start reducing it while the backward goes on), and why a model cannot be trained
/// data-parallel with one process's result, if it cannot.
/// </summary>
/// <param name="BeforeBackward">Offset (within the gradient region) from which everything is final before the first
/// backward step (the region's length when nothing is: gradients the loss writes itself, such as the task
/// log-variances, are final from the start).</param>
/// <param name="AfterStep">Per backward step: the offset from which the gradient region is final once that step
/// is done; never increasing. The region is whole only after the backward (spectral norms finish theirs there).</param>
/// <param name="Issue">Why the model cannot be sharded across ranks (a plain sentence), or null.</param>
internal sealed record DataParallelPlan(int BeforeBackward, EquatableArray<int> AfterStep, string? Issue)
{
    /// <summary>Computes the readiness schedule: each parameter tensor is final after the last backward step that
    /// writes any of it; the offset after a step is the end of the highest tensor not yet final.</summary>
    public static DataParallelPlan For(ModelPlan plan)
    {
        var tensors = plan.Parameters;
        const int AtTheEnd = int.MaxValue;
        var lastWrite = new int[tensors.Count];
        for (int t = 0; t < tensors.Count; t++) lastWrite[t] = -1;

        void Mark(int gradientStart, int length, int step)
        {
            int start = gradientStart - plan.GradientOffset, end = start + length;
            for (int t = 0; t < tensors.Count; t++)
            {
                var p = tensors[t];
                int pEnd = p.Offset + p.Rows * p.Columns;
                if (p.Offset < end && start < pEnd && lastWrite[t] != AtTheEnd) lastWrite[t] = System.Math.Max(lastWrite[t], step);
            }
        }

        var backward = plan.Backward;
        for (int i = 0; i < backward.Count; i++)
        {
            if (backward[i].GradientWrites(plan) is { } writes)
            {
                foreach (var (start, length) in writes) Mark(start, length, i);
            }
            else
            {
                // A step that does not say what it writes: assume it may write any gradient, so nothing is final before it.
                for (int t = 0; t < tensors.Count; t++)
                    if (lastWrite[t] != AtTheEnd) lastWrite[t] = System.Math.Max(lastWrite[t], i);
            }
        }

        // The spectral norms rewrite their weights' gradients after the schedule; a gradient no step writes is
        // written elsewhere (the loss writes the task log-variances, final from the start) or never: either way,
        // unknown writers count as finishing at the end, which is late but never wrong.
        foreach (var sn in plan.SpectralNorms)
            for (int t = 0; t < tensors.Count; t++)
                if (plan.GradientOffset + tensors[t].Offset == sn.Gradient) lastWrite[t] = AtTheEnd;
        for (int t = 0; t < tensors.Count; t++)
            if (lastWrite[t] == -1 && tensors[t].Offset != plan.TaskLogVariance) lastWrite[t] = AtTheEnd;

        // [from, region) is final after `step` when every tensor not yet final ends before `from`.
        int FinalFrom(int step)
        {
            int from = 0;
            for (int t = 0; t < tensors.Count; t++)
                if (lastWrite[t] > step) from = System.Math.Max(from, tensors[t].Offset + tensors[t].Rows * tensors[t].Columns);
            return from;
        }

        var after = new int[backward.Count];
        for (int i = 0; i < backward.Count; i++) after[i] = FinalFrom(i);
        return new DataParallelPlan(FinalFrom(-1), new EquatableArray<int>(after), IssueOf(plan.Model, plan));
    }

    /// <summary>The first op of the model that cannot be sharded across ranks, and why.</summary>
    private static string? IssueOf(ModelSpec model, ModelPlan plan)
    {
        if (plan.Adversarial is not null) return Ops.Adversarial.DataParallelIssue;
        if (model.MultiTask is { } multi) return Ops.MultiTask.DataParallelIssue(multi.Weighting);
        if (model.Loss is { } loss)
        {
            if (loss.Flood >= 0) return Ops.Flood.DataParallelIssue;
            return Ops.OpRegistry.Get<Ops.LossOp>(model.Nodes[model.LossNode].Op)?.DataParallelIssue;
        }

        return null;
    }
}
