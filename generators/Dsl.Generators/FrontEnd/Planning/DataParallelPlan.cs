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
        int rowsPerPosition = plan.Model.Sequence;
        for (int i = 0; i < backward.Count; i++)
        {
            var s = backward[i];
            switch (s.Kind)
            {
                case StepKind.DenseBackward:
                    if (s.GW >= 0) Mark(s.GW, s.Out * s.In, i);
                    if (s.GB >= 0) Mark(s.GB, s.Out, i);
                    break;
                case StepKind.EmbeddingBackward:
                    Mark(s.GW, s.In * s.Out, i);
                    break;
                case StepKind.PositionBackward:
                    Mark(s.GW, rowsPerPosition * s.Out, i);
                    break;
                case StepKind.LayerNormBackward:
                case StepKind.RmsNormBackward:
                    if (s.GW >= 0) Mark(s.GW, s.Out, i);
                    if (s.GB >= 0) Mark(s.GB, s.Out, i);
                    break;
                case StepKind.AttentionBackward:
                {
                    var a = s.Attention!;
                    int g = s.GW, h = a.Options.Heads, hv = h * a.Options.ValueSize;
                    Mark(g + a.Wqkv, a.QkvWidth * s.In, i);
                    if (a.Bqkv >= 0) Mark(g + a.Bqkv, a.QkvWidth, i);
                    Mark(g + a.Wo, s.Out * hv, i);
                    if (a.Bo >= 0) Mark(g + a.Bo, s.Out, i);
                    if (a.PreMix >= 0) Mark(g + a.PreMix, h * h, i);
                    if (a.PostMix >= 0) Mark(g + a.PostMix, h * h, i);
                    break;
                }
                case StepKind.ActivationBackward:
                case StepKind.DropoutBackward:
                case StepKind.AddBackward:
                case StepKind.ScaleBackward:
                case StepKind.MeanPoolBackward:
                    break; // no parameters
                default:
                    // A kind this schedule does not know: assume it may write any gradient, so nothing is final before it.
                    for (int t = 0; t < tensors.Count; t++)
                        if (lastWrite[t] != AtTheEnd) lastWrite[t] = System.Math.Max(lastWrite[t], i);
                    break;
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

    private static string? IssueOf(ModelSpec model, ModelPlan plan)
    {
        if (plan.Adversarial is not null)
            return "its [Adversarial] (FGM) step perturbs the embedding by the whole batch's gradient inside the step";
        if (model.MultiTask is { } multi)
        {
            return multi.Weighting switch
            {
                TaskWeightingKind.InitialLoss => "TaskWeighting.InitialLoss divides by the first batch's losses, which would be each rank's own",
                TaskWeightingKind.LogSum => "TaskWeighting.LogSum weights each task by 1/L over the whole batch, which is not a mean of per-row terms",
                _ => null,
            };
        }

        if (model.Loss is { } loss)
        {
            if (loss.Flood >= 0) return "Ops.Flood turns the gradient's sign on the whole batch's loss, which is not a mean of per-row terms";
            if (loss.Kind == LossKind.CoSent) return "Ops.CoSent compares every pair of the batch with every other";
            if (loss.Kind == LossKind.CosineMse) return "its sentence pairs (Ops.CosineMse) are not yet sharded by whole pairs";
        }

        return null;
    }
}
