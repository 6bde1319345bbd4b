using System.Linq;
using Dsl.Generators.Model;
using Dsl.Generators.Ops;
using Dsl.Generators.Planning;
using static Dsl.Generators.Emit.Literals;

namespace Dsl.Generators.Emit;

// TrainStep and Evaluate of a model trained with Ops.MultiTask: one target span per target parameter of
// the [Loss] method, under the parameter's own name, each checked against the batch the first one gives.
internal static partial class ModelEmitter
{
    private static void MultiTaskTraining(CodeWriter w, ModelPlan plan, string inputType, string staging)
    {
        var model = plan.Model;
        var targets = model.TargetParameters;
        var (parameters, arguments) = MultiTask.TaskTargets(model, "float");
        var first = targets[0];
        string firstVariable = MultiTask.TargetVariable(first.Name);
        string Width(TargetParameter t) => Int(MultiTask.TargetWidth(plan, t));
        string shapes = string.Join(", ", targets.Select(t => $"<paramref name=\"{t.Name}\"/> {(t.Kind == TargetKind.Labels ? "one label per row" : $"{Width(t)} values per row")}"));
        string slices = string.Join(", ", targets.Select(t => $"{MultiTask.TargetVariable(t.Name)}.Slice(first * {Width(t)}, count * {Width(t)})"));
        string pass = plan.Adversarial is null ? "TrainingPass" : "AdversarialPass";

        w.Lines($$"""
            /// <summary>One training step on up to MaxBatch examples: forward, every task's loss ({{shapes}}), the
            /// multi-task weighting, backward and one <paramref name="optimizer"/> update. Returns the combined loss; each task's
            /// own loss is then in <c>Compiled.TaskLosses</c>. Allocates nothing.</summary>
            /// <exception cref="global::System.ArgumentException">The shapes of the inputs and the targets do not agree.</exception>
            public float TrainStep({{inputType}} inputs, {{parameters}}, global::Dsl.Optimizers.Optimizer optimizer)
            {
                global::System.ArgumentNullException.ThrowIfNull(optimizer);
                int batch = Stage(inputs, {{arguments}});
                double loss = _engine.{{pass}}(batch, {{arguments}});
                {{GuardedUpdate(model.Type.Name, arguments)}}
                _engine.DropoutStep++;
                return (float)loss;
            }

            /// <summary>The combined loss over any number of examples (in chunks of MaxBatch), without dropout or updates:
            /// each task's mean over all rows, then the weighting with the current weights.</summary>
            public float Evaluate({{inputType}} inputs, {{parameters}}) => Evaluate(inputs, {{arguments}}, default);

            /// <summary>The combined loss as <c>Evaluate</c> without <paramref name="taskLosses"/> returns it, also writing each
            /// task's mean loss to <paramref name="taskLosses"/> (TaskCount values, or empty to skip).</summary>
            public float Evaluate({{inputType}} inputs, {{parameters}}, global::System.Span<double> taskLosses)
            {
                int rows = global::Dsl.Runtime.ShapeChecks.Rows(inputs.Length, InputFeatures, nameof(inputs));
                int examples = global::Dsl.Runtime.ShapeChecks.Examples(rows, Sequence, nameof(inputs));
            {{string.Concat(targets.Select(t => $"    global::Dsl.Runtime.ShapeChecks.Length({MultiTask.TargetVariable(t.Name)}.Length, rows, {Width(t)}, {String(t.Name)});\n"))}}    if (!taskLosses.IsEmpty) global::Dsl.Runtime.ShapeChecks.Length(taskLosses.Length, 1, Engine<float>.TaskCount, nameof(taskLosses));
                global::System.Span<double> totals = stackalloc double[Engine<float>.TaskCount];
                totals.Clear();
                for (int start = 0; start < examples; start += MaxBatch)
                {
                    int batch = global::System.Math.Min(MaxBatch, examples - start);
                    int first = start * Sequence, count = batch * Sequence;
                    inputs.Slice(first * InputFeatures, count * InputFeatures).CopyTo({{staging}});
                    _engine.Loss(batch, {{slices}});
                    for (int i = 0; i < totals.Length; i++) totals[i] += count * _engine.TaskLosses[i];
                }

                for (int i = 0; i < totals.Length; i++) totals[i] = rows == 0 ? 0 : totals[i] / rows;
                if (!taskLosses.IsEmpty) totals.CopyTo(taskLosses);
                return rows == 0 ? 0f : (float)_engine.CombineTaskLosses(totals);
            }

            private int Stage({{inputType}} inputs, {{parameters}})
            {
                global::Dsl.Runtime.ShapeChecks.Batch(inputs.Length, {{firstVariable}}.Length, InputFeatures, {{Width(first)}}, MaxBatch * Sequence, {{String(first.Name)}});
                int batch = global::Dsl.Runtime.ShapeChecks.Examples({{firstVariable}}.Length / {{Width(first)}}, Sequence, {{String(first.Name)}});
            {{string.Concat(targets.Skip(1).Select(t => $"    global::Dsl.Runtime.ShapeChecks.Length({MultiTask.TargetVariable(t.Name)}.Length, batch * Sequence, {Width(t)}, {String(t.Name)});\n"))}}    inputs.CopyTo({{staging}});
                return batch;
            }

            """);
        DiagnoseMethod(w, parameters, arguments, targets.Where(t => t.Kind != TargetKind.Labels).Select(t => (t.Name, MultiTask.TargetVariable(t.Name), Width(t))));
    }
}
