using System.Collections.Generic;
using System.Linq;
using Dsl.Generators.Model;
using Dsl.Generators.Planning;
using static Dsl.Generators.Emit.Literals;

namespace Dsl.Generators.Emit;

// A multi-task loss (Ops.MultiTask): every task's fused loss with its unweighted gradient, the weighting
// (Dsl.Kernels.MultiTask), each task's gradient scaled by ∂L/∂L_i, then one backward pass.
internal static partial class EngineEmitter
{
    /// <summary>Names the generated methods use for their own parameters and locals: a target parameter of the
    /// [Loss] method with one of these names is renamed (name + "Target") in the generated signatures.</summary>
    private static readonly HashSet<string> s_reserved = new(System.StringComparer.Ordinal)
    {
        "inputs", "optimizer", "batch", "rows", "a", "loss", "total", "totals", "start", "examples", "first", "count", "taskLosses", "scales", "saved", "T",
    };

    /// <summary>The variable a target parameter becomes in generated code.</summary>
    internal static string TargetVariable(string name) => s_reserved.Contains(name) ? name + "Target" : "@" + name;

    /// <summary>The target parameters of a multi-task TrainingPass/Loss ("ReadOnlySpan&lt;int&gt; @y, ReadOnlySpan&lt;T&gt; @t")
    /// with the given element type for Tensor targets, and the matching argument list.</summary>
    internal static (string Parameters, string Arguments) TaskTargets(ModelSpec model, string tensorElement) =>
        (string.Join(", ", model.TargetParameters.Select(t => $"global::System.ReadOnlySpan<{(t.Kind == TargetKind.Labels ? "int" : tensorElement)}> {TargetVariable(t.Name)}")),
         string.Join(", ", model.TargetParameters.Select(t => TargetVariable(t.Name))));

    /// <summary>Columns per row of a target parameter: 1 for labels, the predicting head's width for a tensor.</summary>
    internal static int TargetWidth(ModelPlan plan, TargetParameter target)
    {
        if (target.Kind == TargetKind.Labels) return 1;
        var task = plan.Model.MultiTask!.Tasks.First(t => t.Target == target.Name);
        return plan.Forward.First(s => s.Node == task.LossNode).In;
    }

    private static void MultiTaskLoss(CodeWriter w, ModelPlan plan)
    {
        var model = plan.Model;
        var multi = model.MultiTask!;
        var tasks = multi.Tasks;
        var steps = tasks.Select(t => plan.Forward.First(s => s.Node == t.LossNode)).ToList();
        var (parameters, _) = TaskTargets(model, "T");
        int count = tasks.Count;

        w.Line("/// <summary>Number of tasks of the multi-task loss.</summary>");
        w.Line($"public const int TaskCount = {Int(count)};");
        w.Line();
        w.Line("private readonly double[] _taskLosses = new double[TaskCount];");
        w.Line("private readonly double[] _taskScales = new double[TaskCount];");
        w.Line();
        w.Line("/// <summary>Each task's own loss L_i (unweighted; flooded if declared so) from the last <see cref=\"TrainingPass\"/> or <see cref=\"Loss\"/>,");
        w.Line($"/// in the order of Ops.MultiTask's arguments: {string.Join(", ", tasks.Select((t, i) => $"{Int(i)}: {TaskTitle(t)}"))}.</summary>");
        w.Line("public global::System.ReadOnlySpan<double> TaskLosses => _taskLosses;");
        w.Line();
        w.Line("/// <summary>Each task's effective weight ∂L/∂L_i in the last <see cref=\"TrainingPass\"/>: the factor its gradient was scaled by.</summary>");
        w.Line("public global::System.ReadOnlySpan<double> TaskWeights => _taskScales;");
        w.Line();
        switch (multi.Weighting)
        {
            case TaskWeightingKind.Fixed:
                w.Line($"private static readonly double[] s_taskWeights = {{ {string.Join(", ", tasks.Select(t => Double(t.Weight)))} }};");
                w.Line();
                break;
            case TaskWeightingKind.InitialLoss:
                w.Line("private readonly double[] _initialTaskLosses = new double[TaskCount];");
                w.Line();
                w.Line("/// <summary>Each task's loss L_i⁰ on the first training batch, its divisor from then on (0 until recorded: the next");
                w.Line("/// <see cref=\"TrainingPass\"/> records it). Set these to resume a run; checkpoints save them.</summary>");
                w.Line("public global::System.Span<double> InitialTaskLosses => _initialTaskLosses;");
                w.Line();
                break;
            case TaskWeightingKind.Uncertainty:
                w.Line("/// <summary>The learned s_i = ln σ_i² (a parameter tensor, tasks.log_variance); task i's weight is ½e^{−s_i}.</summary>");
                w.Line($"public global::System.Span<T> TaskLogVariance => global::System.MemoryExtensions.AsSpan(Arena, {Int(plan.TaskLogVariance)}, TaskCount);");
                w.Line();
                break;
        }

        if (tasks.FirstOrDefault(t => t.Loss.Kind == LossKind.LogitAdjusted) is { } adjusted)
            LogitAdjustmentMembers(w, adjusted.Loss, Int(plan.Forward.First(s => s.Node == adjusted.LossNode).In));

        w.Line("/// <summary>Forward, every task's loss and backward on the first <paramref name=\"batch\"/> examples: returns the combined");
        w.Line($"/// loss {WeightingFormula(multi.Weighting)} and leaves its ∂/∂θ in <see cref=\"Gradients\"/> (overwritten, never accumulated).</summary>");
        using (w.Block($"public double TrainingPass(int batch, {parameters})"))
        {
            w.Line("Forward(batch, training: true);");
            w.Line("var a = Arena;");
            w.Line("int rows = batch * Sequence;");
            for (int i = 0; i < count; i++)
            {
                var task = tasks[i];
                var step = steps[i];
                w.Line($"// task {Int(i)} ({TaskTitle(task)}): {Formula(task.Loss)}, fused with its unweighted gradient");
                w.Line($"_taskLosses[{Int(i)}] = {LossKernel(task.Loss, step, TargetVariable(task.Target), gradient: true)};");
                if (task.Loss.Flood >= 0)
                    w.Line($"_taskLosses[{Int(i)}] = {Kernels}.Flooding.Apply<T>(_taskLosses[{Int(i)}], {Double(task.Loss.Flood)}, {Span(step.DX, $"rows * {Int(step.In)}")});");
            }

            w.Line($"// {WeightingFormula(multi.Weighting)}; each task's gradient × ∂L/∂L_i before the shared backward");
            w.Line($"double loss = {Combine(plan, multi.Weighting, "_taskLosses", "_taskScales", training: true)};");
            for (int i = 0; i < count; i++)
            {
                string dx = Span(steps[i].DX, $"rows * {Int(steps[i].In)}");
                w.Line($"{Kernels}.Elementwise.Scale<T>({dx}, T.CreateChecked(_taskScales[{Int(i)}]), {dx});");
            }

            w.Line("Backward(batch);");
            w.Line("return loss;");
        }

        w.Line();
        w.Line("/// <summary>The combined loss on the first <paramref name=\"batch\"/> examples with the current weights, without dropout or");
        w.Line("/// gradients; each task's own loss is left in <see cref=\"TaskLosses\"/>.</summary>");
        using (w.Block($"public double Loss(int batch, {parameters})"))
        {
            w.Line("Forward(batch, training: false);");
            w.Line("int rows = batch * Sequence;");
            for (int i = 0; i < count; i++)
            {
                var task = tasks[i];
                string value = LossKernel(task.Loss, steps[i], TargetVariable(task.Target), gradient: false);
                w.Line($"_taskLosses[{Int(i)}] = {(task.Loss.Flood >= 0 ? $"{Kernels}.Flooding.Value({value}, {Double(task.Loss.Flood)})" : value)};");
            }

            w.Line("return CombineTaskLosses(_taskLosses);");
        }

        w.Line();
        w.Line("/// <summary>The combined loss of given per-task losses (e.g. each task's mean over a whole evaluation set) with the");
        w.Line("/// current weights; changes nothing.</summary>");
        using (w.Block("public double CombineTaskLosses(global::System.ReadOnlySpan<double> taskLosses)"))
        {
            w.Line($"if (taskLosses.Length != TaskCount) throw new global::System.ArgumentException($\"{{taskLosses.Length}} task losses for {Int(count)} tasks\", nameof(taskLosses));");
            w.Line("global::System.Span<double> scales = stackalloc double[TaskCount];");
            w.Line($"return {Combine(plan, multi.Weighting, "taskLosses", "scales", training: false)};");
        }

        w.Line();
        w.Line("private ulong DropoutStream(int layer) => unchecked((DropoutStep << 12) | (uint)layer);");
        w.Line();
    }

    /// <summary>The weighting call over the span <paramref name="losses"/>, writing the factors to <paramref name="scales"/>;
    /// a training pass records InitialLoss's L_i⁰ and writes ∂L/∂s_i of Uncertainty.</summary>
    private static string Combine(ModelPlan plan, TaskWeightingKind weighting, string losses, string scales, bool training) => weighting switch
    {
        TaskWeightingKind.InitialLoss => $"{Kernels}.MultiTask.InitialLoss({losses}, _initialTaskLosses, record: {Bool(training)}, {scales})",
        TaskWeightingKind.LogSum => $"{Kernels}.MultiTask.LogSum({losses}, {scales})",
        TaskWeightingKind.Uncertainty => $"{Kernels}.MultiTask.Uncertainty<T>({losses}, {SpanA(plan.TaskLogVariance, "TaskCount")}, " +
            $"{(training ? Span(plan.GradientOffset + plan.TaskLogVariance, "TaskCount") : "default")}, {scales})",
        _ => $"{Kernels}.MultiTask.Fixed({losses}, s_taskWeights, {scales})",
    };

    private static string WeightingFormula(TaskWeightingKind weighting) => weighting switch
    {
        TaskWeightingKind.InitialLoss => "L = Σ L_i / L_i⁰ (L_i⁰: task i's loss on the first training batch)",
        TaskWeightingKind.LogSum => "L = Σ ln L_i (gradient Σ ∇L_i / L_i)",
        TaskWeightingKind.Uncertainty => "L = Σ ½e^{−s_i} L_i + ½s_i (s_i learned)",
        _ => "L = Σ α_i L_i",
    };

    private static string TaskTitle(TaskSpec task) => $"{task.Loss.Kind} on {task.Target}";
}
