using System;
using System.Buffers;
using System.Linq;
using System.Numerics.Tensors;
using Dsl.Runtime;
using Dsl.Tests.Checkpoints;
using Dsl.Tests.EndToEnd;
using Xunit;
using NumericTensor = System.Numerics.Tensors.Tensor;

namespace Dsl.Tests.Runtime;

/// <summary>Predict and Evaluate on System.Numerics.Tensors' types: the same numbers as the span API, dense or
/// strided, in the documented shapes, and clear errors for shapes that are not whole examples.</summary>
public sealed class TensorExtensionsTests
{
    private static float[] Random(int n, ulong seed)
    {
        var random = new SeededRandom(seed);
        var values = new float[n];
        for (int i = 0; i < n; i++) values[i] = (float)random.NextGaussian();
        return values;
    }

    [Fact]
    public void Predict_on_a_tensor_is_the_span_predict_with_examples_first()
    {
        var model = new ResumePlain(3);
        const int n = 37;
        float[] x = Random(n * 12, 1);
        var expected = new float[n * 5];
        model.Predict(x, expected);

        Tensor<float> result = model.Predict(NumericTensor.Create(x, [n, 12]));
        Assert.Equal(new nint[] { n, 5 }, result.Lengths.ToArray());
        Assert.True(expected.AsSpan().SequenceEqual(result.AsReadOnlyTensorSpan().GetSpan([0, 0], n * 5)));

        // Any shape of whole examples: [n, 3, 4] and a flat [n * 12] read the same rows.
        var into = NumericTensor.Create(new float[n * 5], [n, 5]);
        model.Predict(NumericTensor.Create(x, [n, 3, 4]), into.AsTensorSpan());
        Assert.True(expected.AsSpan().SequenceEqual(into.AsReadOnlyTensorSpan().GetSpan([0, 0], n * 5)));
        Assert.Equal(n, model.Predict(NumericTensor.Create(x, [n * 12])).Lengths[0]);
    }

    [Fact]
    public void A_strided_input_or_output_gives_the_same_numbers_as_a_dense_one()
    {
        var model = new ResumePlain(3);
        const int n = 20;
        // Every example's 12 features sit in the first half of a 24-wide row: a slice with row stride 24.
        float[] wide = Random(n * 24, 2);
        var dense = new float[n * 12];
        for (int r = 0; r < n; r++) wide.AsSpan(r * 24, 12).CopyTo(dense.AsSpan(r * 12));
        var expected = new float[n * 5];
        model.Predict(dense, expected);

        ReadOnlyTensorSpan<float> strided = NumericTensor.Create(wide, [n, 24]).AsReadOnlyTensorSpan().Slice([NRange.All, new NRange(0, 12)]);
        Assert.False(strided.IsDense);
        // Outputs into every other column of a [n, 10] tensor.
        var outputs = NumericTensor.Create(new float[n * 10], [n, 10]);
        TensorSpan<float> everyOther = outputs.AsTensorSpan().Slice([NRange.All, new NRange(0, 5)]);
        model.Predict(strided, everyOther);
        for (int r = 0; r < n; r++)
        {
            for (int c = 0; c < 5; c++)
            {
                Assert.Equal(expected[(r * 5) + c], outputs[r, c]);
                Assert.Equal(0f, outputs[r, c + 5]); // the other half is untouched
            }
        }
    }

    [Fact]
    public void Evaluate_on_tensors_is_the_span_evaluate()
    {
        var model = new ResumePlain(4);
        const int n = 33;
        float[] x = Random(n * 12, 3);
        int[] y = Enumerable.Range(0, n).Select(i => i % 5).ToArray();
        Assert.Equal(model.Evaluate(x, y), model.Evaluate(NumericTensor.Create(x, [n, 12]), NumericTensor.Create(y, [n])));
        var e = Assert.Throws<ArgumentException>(() => model.Evaluate(NumericTensor.Create(x, [n, 12]), NumericTensor.Create(y[..^1], [n - 1])));
        Assert.Contains("the inputs hold 33 examples, the targets 32", e.Message);
    }

    [Fact]
    public void Shapes_that_are_not_examples_first_are_refused_naming_the_shape()
    {
        var model = new ResumePlain(3);
        float[] x = Random(12 * 8, 4);
        var e = Assert.Throws<ArgumentException>(() => model.Predict(NumericTensor.Create(x, [12, 8])));
        Assert.Contains("inputs of shape [12, 8] hold 8 examples of 12 values, but the first dimension is 12: examples go first", e.Message);
        e = Assert.Throws<ArgumentException>(() => model.Predict(NumericTensor.Create(x[..^1], [95])));
        Assert.Contains("95 values, not a whole number of examples of 12", e.Message);
        e = Assert.Throws<ArgumentException>(() => model.Predict(NumericTensor.Create(x, [8, 12]), NumericTensor.Create(new float[35], [7, 5]).AsTensorSpan()));
        Assert.Contains("the inputs hold 8 examples, the outputs have room for 7", e.Message);
    }

    [Fact]
    public void A_pair_model_predicts_two_embeddings_per_pair_and_a_multi_task_model_its_forward_outputs()
    {
        var pairs = new CoSentPairs(2);
        int[] ids = LossGradientCheckTests.PairIds(10, CoSentPairs.Sequence, 11, 5); // 5 pairs
        var expected = new float[10 * CoSentPairs.OutputFeatures];
        pairs.Predict(ids, expected);
        Tensor<float> embeddings = pairs.Predict(NumericTensor.Create(ids, [5, 2 * CoSentPairs.Sequence]));
        Assert.Equal(new nint[] { 5, 2, CoSentPairs.OutputFeatures }, embeddings.Lengths.ToArray());
        Assert.True(expected.AsSpan().SequenceEqual(embeddings.AsReadOnlyTensorSpan().GetSpan([0, 0, 0], expected.Length)));

        var multi = new MultiTaskUncertaintyNet(1);
        float[] x = Random(9 * 5, 6);
        var logits = new float[9 * 4];
        multi.Predict(x, logits);
        Tensor<float> viaTensor = multi.Predict(NumericTensor.Create(x, [9, 5]));
        Assert.Equal(new nint[] { 9, 4 }, viaTensor.Lengths.ToArray());
        Assert.True(logits.AsSpan().SequenceEqual(viaTensor.AsReadOnlyTensorSpan().GetSpan([0, 0], logits.Length)));
    }
}
