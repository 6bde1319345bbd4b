using System.Linq;
using Dsl.Generators.Model;
using Dsl.Generators.Planning;
using static Dsl.Generators.Emit.Literals;

namespace Dsl.Generators.Emit;

// The runtime interfaces a generated model and its engine implement (Dsl.IModel,
// Dsl.ISupervisedModel<TInput, TTarget>, Dsl.IMultiTaskModel<TInput>, Dsl.Runtime.IEngine<T>), so code written once — full-state
// checkpoints, Dsl.Training's Trainer — works with every model. Members the public API already has
// implement them implicitly; the rest are explicit, so nothing new shows on the model itself.
internal static partial class ModelEmitter
{
    private const string ModelInterface = "global::Dsl.IModel";

    /// <summary>The interface a model implements: ISupervisedModel for one target kind, IMultiTaskModel for
    /// Ops.MultiTask, IModel otherwise.</summary>
    internal static string ModelInterfaceName(ModelSpec model)
    {
        string input = model.TokenInput ? "int" : "float";
        if (model.LossNode >= 0 && model.MultiTask is not null && model.TargetParameters.Count > 1) return $"global::Dsl.IMultiTaskModel<{input}>";
        if (model.LossNode < 0 || model.MultiTask is not null || model.TargetParameters.Count > 1) return ModelInterface;
        string target = model.Targets == TargetKind.Labels ? "int" : "float";
        return $"global::Dsl.ISupervisedModel<{input}, {target}>";
    }

    /// <summary>The explicit members of <see cref="ModelInterfaceName"/> beyond the public API; <paramref name="plan"/>
    /// is null for an invalid model's stubs.</summary>
    private static void InterfaceMembers(CodeWriter w, ModelSpec model, ModelPlan? plan)
    {
        bool valid = plan is not null;
        string name = ModelInterfaceName(model);
        string fail = $"throw new global::System.InvalidOperationException({String($"{model.Type.Name} has errors in its declaration (see the DSL diagnostics); it cannot run")})";
        w.Line($"global::Dsl.Runtime.IEngine<float> {ModelInterface}.Engine => {(valid ? "_engine" : fail)};");
        if (name == ModelInterface) return;
        if (model.MultiTask is not null)
        {
            MultiTaskInterfaceMembers(w, model, plan, name, fail);
            return;
        }

        bool pairs = model.Targets == TargetKind.Scores;
        string rowsPerExample = model.Pooled ? "1" : "Sequence";
        string examples = pairs ? "MaxBatch / 2" : "MaxBatch";
        string inputs = pairs ? "2 * Sequence * InputFeatures" : "Sequence * InputFeatures";
        string targets = pairs ? "1" : model.Targets == TargetKind.Labels ? rowsPerExample : $"{rowsPerExample} * OutputFeatures";
        string outputs = pairs ? $"2 * {rowsPerExample} * OutputFeatures" : $"{rowsPerExample} * OutputFeatures";
        w.Line($"int {name}.MaxExamples => {(valid ? examples : fail)};");
        w.Line($"int {name}.InputsPerExample => {(valid ? inputs : fail)};");
        w.Line($"int {name}.TargetsPerExample => {(valid ? targets : fail)};");
        w.Line($"int {name}.OutputsPerExample => {(valid ? outputs : fail)};");
        w.Line($"int {name}.OutputFeatures => {(valid ? "OutputFeatures" : fail)};");
        w.Line();
    }
}

internal static partial class ModelEmitter
{
    /// <summary>Dsl.IMultiTaskModel: the tasks (in the engine's TaskLosses order) and TrainStep/Evaluate taking a
    /// Dsl.TaskTargets, which call the public members with each target parameter's span by name.</summary>
    private static void MultiTaskInterfaceMembers(CodeWriter w, ModelSpec model, ModelPlan? plan, string name, string fail)
    {
        string input = model.TokenInput ? "int" : "float";
        string rowsPerExample = model.Pooled ? "1" : "Sequence";
        string arguments = string.Join(", ", model.TargetParameters.Select(t =>
            $"targets.{(t.Kind == TargetKind.Labels ? "Labels" : "Values")}({String(t.Name)})"));
        string Body(string valid) => plan is null ? fail : valid;
        w.Line($"int {name}.MaxExamples => {Body("MaxBatch")};");
        w.Line($"int {name}.InputsPerExample => {Body("Sequence * InputFeatures")};");
        w.Line($"int {name}.OutputsPerExample => {Body($"{rowsPerExample} * OutputFeatures")};");
        w.Line($"int {name}.OutputFeatures => {Body("OutputFeatures")};");
        w.Line($"global::System.ReadOnlySpan<global::Dsl.TaskTarget> {name}.Tasks => {Body("s_tasks")};");
        w.Line($"global::System.ReadOnlySpan<double> {name}.TaskLosses => {Body("_engine.TaskLosses")};");
        w.Line($"global::System.ReadOnlySpan<double> {name}.TaskWeights => {Body("_engine.TaskWeights")};");
        w.Line($"float {name}.TrainStep(global::System.ReadOnlySpan<{input}> inputs, global::Dsl.TaskTargets targets, global::Dsl.Optimizers.Optimizer optimizer) => "
            + Body($"TrainStep(inputs, {arguments}, optimizer)") + ";");
        w.Line($"float {name}.Evaluate(global::System.ReadOnlySpan<{input}> inputs, global::Dsl.TaskTargets targets, global::System.Span<double> taskLosses) => "
            + Body($"Evaluate(inputs, {arguments}, taskLosses)") + ";");
        if (plan is not null)
        {
            // The targets' widths per example, in task order (the order of TaskLosses).
            w.Line("private static readonly global::Dsl.TaskTarget[] s_tasks =");
            w.Line("{");
            foreach (var task in model.MultiTask!.Tasks)
            {
                var target = model.TargetParameters.First(t => t.Name == task.Target);
                bool labels = target.Kind == TargetKind.Labels;
                int width = Dsl.Generators.Ops.MultiTask.TargetWidth(plan, target);
                w.Line($"    new({String(target.Name)}, global::Dsl.TaskTargetKind.{(labels ? "Labels" : "Values")}, {(width == 1 ? "Sequence" : $"Sequence * {Int(width)}")}),");
            }

            w.Line("};");
        }

        w.Line();
    }
}

internal static partial class EngineEmitter
{
    /// <summary>The explicit members of Dsl.Runtime.IEngine&lt;T&gt; beyond the engine's public ones.</summary>
    private static void InterfaceMembers(CodeWriter w, ModelPlan plan)
    {
        const string engine = "global::Dsl.Runtime.IEngine<T>";
        w.Line($"string {engine}.ModelName => {String(plan.Model.Type.Name)};");
        w.Line($"T[] {engine}.Arena => Arena;");
        w.Line($"int {engine}.StateSlots => StateSlots;");
        w.Line($"global::System.ReadOnlySpan<global::Dsl.Optimizers.ParameterTensor> {engine}.ParameterTensors => s_tensors;");
        w.Line($"global::System.ReadOnlySpan<int[]> {engine}.ParameterShapes => s_shapes;");
        if (plan.SpectralNorms.Count > 0)
        {
            // Power-iteration vectors: training changes them and no gradient does, so a resumed run needs them.
            w.Line($"global::System.ReadOnlySpan<global::Dsl.Runtime.StateBuffer> {engine}.StateBuffers => s_stateBuffers;");
            w.Line("private static readonly global::Dsl.Runtime.StateBuffer[] s_stateBuffers =");
            w.Line("{");
            foreach (var sn in plan.SpectralNorms)
            {
                w.Line($"    new({String(sn.Layer + ".spectral_u")}, {Int(sn.U)}, {Int(sn.Rows)}),");
                w.Line($"    new({String(sn.Layer + ".spectral_v")}, {Int(sn.V)}, {Int(sn.Columns)}),");
            }

            w.Line("};");
        }

        w.Line();
    }
}
