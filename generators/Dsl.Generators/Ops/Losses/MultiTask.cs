using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using Dsl.Generators.Diagnostics;
using Dsl.Generators.Emit;
using Dsl.Generators.Model;
using Dsl.Generators.Parsing;
using Dsl.Generators.Planning;
using Dsl.Generators.Rules;
using static Dsl.Generators.Emit.Literals;

namespace Dsl.Generators.Ops;

/// <summary>
/// Multi-task loss weighting (SEEDS §1.4 MTL 1): Ops.MultiTask(weighting, loss₁, loss₂, …) combines several loss ops,
/// each on its own head and target parameter, by a declared weighting (fixed weights, the initial loss, the log sum,
/// learned uncertainty). Here: recognition, the NNS023 rules (DSL319, DSL320), the learned log-variances' parameter,
/// and the engine's weighting of the tasks' fused losses before one backward; the CUDA part is in MultiTask.Cuda.cs.
/// </summary>
internal sealed partial class MultiTask : Op
{
    private const string TaskWeightingName = "Dsl.TaskWeighting";

    /// <summary>Checkpoint name of the learned log-variances of <see cref="TaskWeightingKind.Uncertainty"/>.</summary>
    public const string TaskLogVarianceName = "tasks.log_variance";

    public override string Name => "MultiTask";

    public override IReadOnlyList<string> Methods => new[] { "MultiTask" };

    /// <summary>Why a weighting cannot be sharded across ranks, or null.</summary>
    public static string? DataParallelIssue(TaskWeightingKind weighting) => weighting switch
    {
        TaskWeightingKind.InitialLoss => "TaskWeighting.InitialLoss divides by the first batch's losses, which would be each rank's own",
        TaskWeightingKind.LogSum => "TaskWeighting.LogSum weights each task by 1/L over the whole batch, which is not a mean of per-row terms",
        _ => null,
    };

    public override int ReadCall(CallReader call)
    {
        if (!call.Bound || call.ParameterCount != 2) return -1;
        if (call.MultiTask is not null)
        {
            call.Report(DiagnosticCatalog.LossForm, "Loss", "a model has one Ops.MultiTask, the value its [Loss] method returns");
            return -1;
        }

        int count = call.Count;
        bool named = false;
        for (int i = 1; i < count; i++) named |= call.ArgumentName(i) is not null;
        if (count < 3 || named || call.ArgumentName(0) is { } first && first != call.ParameterName(0))
        {
            call.Report(DiagnosticCatalog.LossForm, "Loss", "Ops.MultiTask takes the weighting (or the weights), then two or more loss ops as separate arguments");
            return -1;
        }

        // The weighting: a TaskWeighting member, or constant weights (one per loss, the fixed form Σ α_i L_i).
        var kind = TaskWeightingKind.Fixed;
        double[]? weights = null;
        if (call.ParameterType(0) == TaskWeightingName)
        {
            string? member = call.EnumMember(0, TaskWeightingName);
            if (member is null)
            {
                call.ReportExpression(0, DiagnosticCatalog.UnsupportedConstruct, $"the weighting '{call.Describe(0)}' (write a TaskWeighting member, e.g. TaskWeighting.LogSum)");
                return -1;
            }

            kind = member switch
            {
                "InitialLoss" => TaskWeightingKind.InitialLoss,
                "LogSum" => TaskWeightingKind.LogSum,
                "Uncertainty" => TaskWeightingKind.Uncertainty,
                _ => TaskWeightingKind.Fixed,
            };
        }
        else
        {
            weights = call.ConstantArrayAt(0);
            if (weights is null)
            {
                call.ReportExpression(0, DiagnosticCatalog.UnsupportedConstruct, $"the task weights '{call.Describe(0)}' (write constant numbers, e.g. [1.0, 0.5], one per loss)");
                return -1;
            }

            if (weights.Length != count - 1)
            {
                call.ReportExpression(0, DiagnosticCatalog.LossForm, "Loss",
                    $"Ops.MultiTask has {(count - 1).ToString(CultureInfo.InvariantCulture)} losses but {weights.Length.ToString(CultureInfo.InvariantCulture)} weights; give one weight per loss");
                return -1;
            }
        }

        var tasks = new List<TaskSpec>();
        var predictions = new HashSet<int>();
        for (int i = 1; i < count; i++)
        {
            int node = call.Node(i);
            if (node < 0) return -1;
            var spec = call.NodeAt(node).Options as LossOptions;
            if (spec is null)
            {
                call.ReportArgument(i, DiagnosticCatalog.LossForm, "Loss", $"argument {(i + 1).ToString(CultureInfo.InvariantCulture)} of Ops.MultiTask, '{call.Describe(i)}', is not a loss op");
                return -1;
            }

            if (OpRegistry.Get<LossOp>(call.NodeAt(node).Op) is { ComparesPairs: true })
            {
                call.ReportArgument(i, DiagnosticCatalog.LossForm, "Loss", $"a pair loss ({PairLossOp.Named(", ")}) cannot be a task of Ops.MultiTask yet: the tasks are per-row losses");
                return -1;
            }

            if (!predictions.Add(call.NodeAt(node).Inputs[0]))
            {
                call.ReportArgument(i, DiagnosticCatalog.LossForm, "Loss", "two tasks of Ops.MultiTask read the same prediction; give each task its own head (each writes its own gradient)");
                return -1;
            }

            tasks.Add(new TaskSpec(node, spec, spec.Target, call.TargetKindOf(spec.Target), weights?[i - 1] ?? 1));
            call.RecordCall(node, "MultiTask");
        }

        if (tasks.Count(t => OpRegistry.Get(call.NodeAt(t.LossNode).Op) is LogitAdjusted) > 1)
        {
            call.Report(DiagnosticCatalog.LossForm, "Loss", "Ops.MultiTask has more than one Ops.LogitAdjustedCrossEntropy task (SetClassPriors sets one set of priors)");
            return -1;
        }

        call.MultiTask = new MultiTaskSpec(kind, tasks.ToEquatableArray());
        return tasks[0].LossNode;
    }

    // ---- NNS023: multi-task weighting ----------------------------------------------------------------

    /// <summary>
    /// SEEDS.md §2 NNS023 on the parsed <see cref="ModelSpec.MultiTask"/>: a negative or non-finite fixed weight is
    /// <see cref="DiagnosticCatalog.TaskWeight"/> (an Error); classification and regression losses summed with equal weights
    /// get <see cref="DiagnosticCatalog.UnscaledTasks"/> (an Info). NNS023's other error, L_i / L_i without a stop-gradient,
    /// cannot be written here: the DSL has no division of losses, and TaskWeighting.LogSum is that weighting with the
    /// stop-gradient built in. Never throws.
    /// </summary>
    public static void Check(RuleContext rules)
    {
        var model = rules.Model;
        if (model.MultiTask is not { Tasks.Count: > 0 } multi) return;
        // The weighting or the weights: Ops.MultiTask's first argument, whatever its name; a weight, one element of it.
        int first = multi.Tasks[0].LossNode;
        Site Weights(int element = -1) => Site.CallArgument(first, null, 0, element, around: "MultiTask");
        string Describe(TaskSpec task) => $"{OpRegistry.Get<LossOp>(model.Nodes[task.LossNode].Op)!.Method}(…, {task.Target})";
        bool Regression(TaskSpec task) => OpRegistry.Get<LossOp>(model.Nodes[task.LossNode].Op)!.IsRegression;

        if (multi.Weighting != TaskWeightingKind.Fixed) return;
        for (int i = 0; i < multi.Tasks.Count; i++)
        {
            double w = multi.Tasks[i].Weight;
            if (w >= 0 && !double.IsInfinity(w)) continue;
            rules.Report(DiagnosticCatalog.TaskWeight, Weights(i), i, RuleValues.Show(w), Describe(multi.Tasks[i]));
        }

        // Equal weights on a mix of classification and regression losses (NNS023's Info).
        var weights = multi.Tasks.Select(t => t.Weight).Distinct().ToList();
        var classification = multi.Tasks.Where(t => !Regression(t)).ToList();
        var regression = multi.Tasks.Where(Regression).ToList();
        if (weights.Count == 1 && weights[0] > 0 && !double.IsInfinity(weights[0]) && classification.Count > 0 && regression.Count > 0)
        {
            int k = RuleValues.Classes(model, classification[0].LossNode);
            rules.Report(DiagnosticCatalog.UnscaledTasks, Weights(),
                string.Join(", ", classification.Select(Describe)),
                string.Join(", ", regression.Select(Describe)),
                k >= 2 ? $"ln {k} = {RuleValues.Show(Math.Log(k))}" : "ln K");
        }
    }

    // ---- plan ---------------------------------------------------------------------------------------

    /// <summary>Uncertainty weighting: one learned s_i = ln σ_i² per task, after the layers' tensors.</summary>
    public override void PlanModelParameters(PlanBuilder plan)
    {
        if (plan.Model.MultiTask is { Weighting: TaskWeightingKind.Uncertainty } uncertain)
            plan.TaskLogVariance = plan.AddParameter(TaskLogVarianceName, "tasks", 1, uncertain.Tasks.Count, false, InitKind.Zeros, 0);
    }

    // ---- the engine's loss ----------------------------------------------------------------------------

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
        return ((LossStep)plan.Forward.First(s => s.Node == task.LossNode)).In;
    }

    /// <summary>The multi-task loss of <c>Engine&lt;T&gt;</c>: members, TrainingPass, Loss and CombineTaskLosses.</summary>
    public static void CpuLoss(CpuWriter w)
    {
        var plan = w.Plan;
        var model = plan.Model;
        var multi = model.MultiTask!;
        var tasks = multi.Tasks;
        var steps = tasks.Select(t => (LossStep)plan.Forward.First(s => s.Node == t.LossNode)).ToList();
        var (parameters, _) = TaskTargets(model, "T");
        int count = tasks.Count;

        w.Line("/// <summary>Number of tasks of the multi-task loss.</summary>");
        w.Line($"public const int TaskCount = {Int(count)};");
        w.Line();
        w.Line("private readonly double[] _taskLosses = new double[TaskCount];");
        w.Line("private readonly double[] _taskScales = new double[TaskCount];");
        w.Line();
        w.Line("/// <summary>Each task's own loss L_i (unweighted; flooded if declared so) from the last <see cref=\"TrainingPass\"/> or <see cref=\"Loss\"/>,");
        w.Line($"/// in the order of Ops.MultiTask's arguments: {string.Join(", ", tasks.Select((t, i) => $"{Int(i)}: {TaskTitle(plan, t)}"))}.</summary>");
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
                w.Line($"public global::System.Span<T> TaskLogVariance => {w.SpanA(plan.TaskLogVariance, "TaskCount")};");
                w.Line();
                break;
        }

        if (tasks.FirstOrDefault(t => OpRegistry.Get(plan.Model.Nodes[t.LossNode].Op) is LogitAdjusted) is { } adjusted)
            OpRegistry.Get<LossOp>(plan.Model.Nodes[adjusted.LossNode].Op)!.CpuMembers(w, adjusted.Loss, (LossStep)plan.Forward.First(s => s.Node == adjusted.LossNode));

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
                var op = LossOf(plan, task);
                w.Line($"// task {Int(i)} ({TaskTitle(plan, task)}): {op.Formula(task.Loss)}, fused with its unweighted gradient");
                w.Line($"_taskLosses[{Int(i)}] = {op.Kernel(w, task.Loss, step, TargetVariable(task.Target), gradient: true)};");
                if (task.Loss.Flood >= 0)
                    w.Line($"_taskLosses[{Int(i)}] = {Flood.Apply(w, $"_taskLosses[{Int(i)}]", task.Loss.Flood, step)};");
            }

            w.Line($"// {WeightingFormula(multi.Weighting)}; each task's gradient × ∂L/∂L_i before the shared backward");
            w.Line($"double loss = {Combine(w, plan, multi.Weighting, "_taskLosses", "_taskScales", training: true)};");
            for (int i = 0; i < count; i++)
            {
                string dx = w.Span(steps[i].DX, $"rows * {Int(steps[i].In)}");
                w.Line($"{CpuWriter.Kernels}.Elementwise.Scale<T>({dx}, T.CreateChecked(_taskScales[{Int(i)}]), {dx});");
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
                string value = LossOf(plan, task).Kernel(w, task.Loss, steps[i], TargetVariable(task.Target), gradient: false);
                w.Line($"_taskLosses[{Int(i)}] = {(task.Loss.Flood >= 0 ? Flood.Value(value, task.Loss.Flood) : value)};");
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
            w.Line($"return {Combine(w, plan, multi.Weighting, "taskLosses", "scales", training: false)};");
        }

        w.Line();
        w.Line("private ulong DropoutStream(int layer) => unchecked((DropoutStep << 12) | (uint)layer);");
        w.Line();
    }

    /// <summary>The weighting call over the span <paramref name="losses"/>, writing the factors to <paramref name="scales"/>;
    /// a training pass records InitialLoss's L_i⁰ and writes ∂L/∂s_i of Uncertainty.</summary>
    private static string Combine(CpuWriter w, ModelPlan plan, TaskWeightingKind weighting, string losses, string scales, bool training) => weighting switch
    {
        TaskWeightingKind.InitialLoss => $"{CpuWriter.Kernels}.MultiTask.InitialLoss({losses}, _initialTaskLosses, record: {Bool(training)}, {scales})",
        TaskWeightingKind.LogSum => $"{CpuWriter.Kernels}.MultiTask.LogSum({losses}, {scales})",
        TaskWeightingKind.Uncertainty => $"{CpuWriter.Kernels}.MultiTask.Uncertainty<T>({losses}, {w.SpanA(plan.TaskLogVariance, "TaskCount")}, " +
            $"{(training ? w.Span(plan.GradientOffset + plan.TaskLogVariance, "TaskCount") : "default")}, {scales})",
        _ => $"{CpuWriter.Kernels}.MultiTask.Fixed({losses}, s_taskWeights, {scales})",
    };

    private static string WeightingFormula(TaskWeightingKind weighting) => weighting switch
    {
        TaskWeightingKind.InitialLoss => "L = Σ L_i / L_i⁰ (L_i⁰: task i's loss on the first training batch)",
        TaskWeightingKind.LogSum => "L = Σ ln L_i (gradient Σ ∇L_i / L_i)",
        TaskWeightingKind.Uncertainty => "L = Σ ½e^{−s_i} L_i + ½s_i (s_i learned)",
        _ => "L = Σ α_i L_i",
    };

    /// <summary>"Focal on y": the task's loss and target, in comments and in the CUDA program.</summary>
    public static string TaskTitle(ModelPlan plan, TaskSpec task) => $"{plan.Model.Nodes[task.LossNode].Op} on {task.Target}";

    private static LossOp LossOf(ModelPlan plan, TaskSpec task) => OpRegistry.Get<LossOp>(plan.Model.Nodes[task.LossNode].Op)!;
}
