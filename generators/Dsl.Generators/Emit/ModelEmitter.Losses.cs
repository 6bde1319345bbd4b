namespace Dsl.Generators.Emit;

// TrainStep and Evaluate of a model trained with a pair loss (a PairLossOp): the inputs hold
// 2·P examples, interleaved (2i: first sentence of pair i, 2i + 1: second), the targets one score per pair.
internal static partial class ModelEmitter
{
    private static void PairTraining(CodeWriter w, string name, string inputType, string staging)
    {
        w.Lines($$"""
            /// <summary>One training step on P sentence pairs: <paramref name="inputs"/> holds 2P examples, interleaved
            /// (example 2i is the first sentence of pair i, 2i + 1 the second), <paramref name="scores"/> one gold score per
            /// pair. Returns the batch loss. Allocates nothing.</summary>
            /// <exception cref="global::System.ArgumentException">The shapes of the inputs and scores do not agree, or 2P &gt; MaxBatch.</exception>
            public float TrainStep({{inputType}} inputs, global::System.ReadOnlySpan<float> scores, global::Dsl.Optimizers.Optimizer optimizer)
            {
                global::System.ArgumentNullException.ThrowIfNull(optimizer);
                int batch = Stage(inputs, scores.Length);
                double loss = _engine.TrainingPass(batch, scores);
                {{GuardedUpdate(name, "scores")}}
                _engine.DropoutStep++;
                return (float)loss;
            }

            /// <summary>The loss over any number of pairs, in chunks of MaxBatch / 2 pairs (a pair loss is not a sum over
            /// pairs, so this is the pair-weighted mean of the chunks' losses), without dropout or updates.</summary>
            public float Evaluate({{inputType}} inputs, global::System.ReadOnlySpan<float> scores)
            {
                int rows = global::Dsl.Runtime.ShapeChecks.Rows(inputs.Length, InputFeatures, nameof(inputs));
                int examples = global::Dsl.Runtime.ShapeChecks.Examples(rows, Sequence, nameof(inputs));
                global::Dsl.Runtime.ShapeChecks.Length(examples, scores.Length, 2, nameof(inputs));
                int chunk = MaxBatch / 2;
                double total = 0;
                for (int start = 0; start < scores.Length; start += chunk)
                {
                    int pairs = global::System.Math.Min(chunk, scores.Length - start);
                    int first = 2 * start * Sequence, count = 2 * pairs * Sequence;
                    inputs.Slice(first * InputFeatures, count * InputFeatures).CopyTo({{staging}});
                    total += pairs * _engine.Loss(2 * pairs, scores.Slice(start, pairs));
                }

                return scores.Length == 0 ? 0f : (float)(total / scores.Length);
            }

            private int Stage({{inputType}} inputs, int pairs)
            {
                global::Dsl.Runtime.ShapeChecks.Batch(inputs.Length, 2 * pairs * Sequence, InputFeatures, 1, MaxBatch * Sequence, "scores (two examples per pair)");
                inputs.CopyTo({{staging}});
                return 2 * pairs;
            }

            """);
        DiagnoseMethod(w, "global::System.ReadOnlySpan<float> scores", "scores", new[] { ("scores", "scores", "1") });
    }
}
