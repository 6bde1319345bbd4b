using System.Linq;
using Dsl.Generators.Planning;
using static Dsl.Generators.Emit.Literals;

namespace Dsl.Generators.Emit;

// TrainStep, Evaluate and Stage of a model trained with one per-row loss. Unpooled, the targets hold one row per
// input row (Sequence per example); after a [MeanPool] (sequence classification or regression) one row per
// example: one label, or OutputFeatures values.
internal static partial class ModelEmitter
{
    private static void RowTraining(CodeWriter w, ModelPlan plan, string inputType, string staging,
        string targetType, string targetName, string targetWidth)
    {
        bool pooled = plan.Model.Pooled;
        string per = targetWidth == "1" ? "one label per example" : "OutputFeatures values per example";
        string trainSummary = pooled
            ? $"""
              One training step on up to MaxBatch examples: <paramref name="inputs"/> holds Sequence rows per
              /// example, <paramref name="{targetName}"/> {per} (the model pools each sequence to one row).
              /// Returns the mean loss per example. Allocates nothing.
              """
            : """
              One training step: forward, loss, backward and one <paramref name="optimizer"/> update on a
              /// batch of up to MaxBatch examples. Returns the mean loss per row. Allocates nothing.
              """;
        // Evaluate's names for the target rows: all rows, or one per example.
        var (rows, first, count, each) = pooled ? ("examples", "start", "batch", "example") : ("rows", "first", "count", "row");
        string stage = pooled
            ? $$"""
                  global::Dsl.Runtime.ShapeChecks.Batch(inputs.Length, targetLength, Sequence * InputFeatures, {{targetWidth}}, MaxBatch, {{String(targetName + " (one row per example)")}});
                  inputs.CopyTo({{staging}});
                  return targetLength / {{targetWidth}};
              """
            : $$"""
                  global::Dsl.Runtime.ShapeChecks.Batch(inputs.Length, targetLength, InputFeatures, {{targetWidth}}, MaxBatch * Sequence, {{String(targetName)}});
                  int batch = global::Dsl.Runtime.ShapeChecks.Examples(targetLength / {{targetWidth}}, Sequence, {{String(targetName)}});
                  inputs.CopyTo({{staging}});
                  return batch;
              """;
        w.Lines($$"""
            /// <summary>{{trainSummary}}</summary>
            /// <exception cref="global::System.ArgumentException">The shapes of the inputs and {{targetName}} do not agree.</exception>
            public float TrainStep({{inputType}} inputs, {{targetType}} {{targetName}}, global::Dsl.Optimizers.Optimizer optimizer)
            {
                global::System.ArgumentNullException.ThrowIfNull(optimizer);
                int batch = Stage(inputs, {{targetName}}.Length);
                double loss = _engine.{{(plan.Adversarial is null ? "TrainingPass" : "AdversarialPass")}}(batch, {{targetName}});
                {{GuardedUpdate(plan.Model.Type.Name, targetName)}}
                _engine.DropoutStep++;
                return (float)loss;
            }

            /// <summary>The mean loss per {{each}} over any number of examples (in chunks of MaxBatch), without dropout or updates.</summary>
            public float Evaluate({{inputType}} inputs, {{targetType}} {{targetName}})
            {
                int rows = global::Dsl.Runtime.ShapeChecks.Rows(inputs.Length, InputFeatures, nameof(inputs));
                int examples = global::Dsl.Runtime.ShapeChecks.Examples(rows, Sequence, nameof(inputs));
                global::Dsl.Runtime.ShapeChecks.Length({{targetName}}.Length, {{rows}}, {{targetWidth}}, nameof({{targetName}}));
                double total = 0;
                for (int start = 0; start < examples; start += MaxBatch)
                {
                    int batch = global::System.Math.Min(MaxBatch, examples - start);
                    int first = start * Sequence, count = batch * Sequence;
                    inputs.Slice(first * InputFeatures, count * InputFeatures).CopyTo({{staging}});
                    total += {{count}} * _engine.Loss(batch, {{targetName}}.Slice({{first}} * {{targetWidth}}, {{count}} * {{targetWidth}}));
                }

                return {{rows}} == 0 ? 0f : (float)(total / {{rows}});
            }

            private int Stage({{inputType}} inputs, int targetLength)
            {
            {{stage}}
            }

            """);
        DiagnoseMethod(w, $"{targetType} {targetName}", targetName,
            targetWidth == "1" ? Enumerable.Empty<(string, string, string)>() : new[] { (targetName, targetName, targetWidth) });
    }
}
