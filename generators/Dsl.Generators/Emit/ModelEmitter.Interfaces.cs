using Dsl.Generators.Model;
using Dsl.Generators.Planning;
using static Dsl.Generators.Emit.Literals;

namespace Dsl.Generators.Emit;

// The runtime interfaces a generated model and its engine implement (Dsl.IModel,
// Dsl.ISupervisedModel<TInput, TTarget>, Dsl.Runtime.IEngine<T>), so code written once — full-state
// checkpoints, Dsl.Training's Trainer — works with every model. Members the public API already has
// implement them implicitly; the rest are explicit, so nothing new shows on the model itself.
internal static partial class ModelEmitter
{
    private const string ModelInterface = "global::Dsl.IModel";

    /// <summary>The interface a model implements: ISupervisedModel for one target kind, IModel otherwise.</summary>
    internal static string ModelInterfaceName(ModelSpec model)
    {
        if (model.LossNode < 0 || model.MultiTask is not null || model.TargetParameters.Count > 1) return ModelInterface;
        string input = model.TokenInput ? "int" : "float";
        string target = model.Targets == TargetKind.Labels ? "int" : "float";
        return $"global::Dsl.ISupervisedModel<{input}, {target}>";
    }

    /// <summary>The explicit members of <see cref="ModelInterfaceName"/> beyond the public API.</summary>
    private static void InterfaceMembers(CodeWriter w, ModelSpec model, bool valid)
    {
        string name = ModelInterfaceName(model);
        string fail = $"throw new global::System.InvalidOperationException({String($"{model.Type.Name} has errors in its declaration (see the DSL diagnostics); it cannot run")})";
        w.Line($"global::Dsl.Runtime.IEngine<float> {ModelInterface}.Engine => {(valid ? "_engine" : fail)};");
        if (name == ModelInterface) return;

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
