using Dsl.Generators.Planning;
using static Dsl.Generators.Emit.Literals;

namespace Dsl.Generators.Emit;

// TrainStep and Evaluate of a model with a [MeanPool] trained with a per-row loss (sequence classification or
// regression): the inputs hold Sequence rows per example, the targets one row per example (one label, or
// OutputFeatures values), since after the pool there is one row per example.
internal static partial class ModelEmitter
{
    private static void PooledTraining(CodeWriter w, ModelPlan plan, string inputType, string staging,
        string targetType, string targetName, string targetWidth)
    {
        string name = plan.Model.Type.Name;
        string per = targetWidth == "1" ? "one label per example" : "OutputFeatures values per example";
        w.Lines($$"""
            /// <summary>One training step on up to MaxBatch examples: <paramref name="inputs"/> holds Sequence rows per
            /// example, <paramref name="{{targetName}}"/> {{per}} (the model pools each sequence to one row).
            /// Returns the mean loss per example. Allocates nothing.</summary>
            /// <exception cref="global::System.ArgumentException">The shapes of the inputs and {{targetName}} do not agree.</exception>
            public float TrainStep({{inputType}} inputs, {{targetType}} {{targetName}}, global::Dsl.Optimizers.Optimizer optimizer)
            {
                global::System.ArgumentNullException.ThrowIfNull(optimizer);
                int batch = Stage(inputs, {{targetName}}.Length);
                double loss = _engine.{{(plan.Adversarial is null ? "TrainingPass" : "AdversarialPass")}}(batch, {{targetName}});
                {{GuardedUpdate(name, targetName)}}
                _engine.DropoutStep++;
                return (float)loss;
            }

            /// <summary>The mean loss per example over any number of examples (in chunks of MaxBatch), without dropout or updates.</summary>
            public float Evaluate({{inputType}} inputs, {{targetType}} {{targetName}})
            {
                int rows = global::Dsl.Runtime.ShapeChecks.Rows(inputs.Length, InputFeatures, nameof(inputs));
                int examples = global::Dsl.Runtime.ShapeChecks.Examples(rows, Sequence, nameof(inputs));
                global::Dsl.Runtime.ShapeChecks.Length({{targetName}}.Length, examples, {{targetWidth}}, nameof({{targetName}}));
                double total = 0;
                for (int start = 0; start < examples; start += MaxBatch)
                {
                    int batch = global::System.Math.Min(MaxBatch, examples - start);
                    inputs.Slice(start * Sequence * InputFeatures, batch * Sequence * InputFeatures).CopyTo({{staging}});
                    total += batch * _engine.Loss(batch, {{targetName}}.Slice(start * {{targetWidth}}, batch * {{targetWidth}}));
                }

                return examples == 0 ? 0f : (float)(total / examples);
            }

            private int Stage({{inputType}} inputs, int targetLength)
            {
                global::Dsl.Runtime.ShapeChecks.Batch(inputs.Length, targetLength, Sequence * InputFeatures, {{targetWidth}}, MaxBatch, {{String(targetName + " (one row per example)")}});
                inputs.CopyTo({{staging}});
                return targetLength / {{targetWidth}};
            }

            """);
    }
}
