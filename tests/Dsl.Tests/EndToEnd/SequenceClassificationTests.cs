using System;
using System.Linq;
using Dsl.Optimizers;
using Dsl.Runtime;
using Dsl.Training;
using Xunit;

namespace Dsl.Tests.EndToEnd;

/// <summary>
/// Sequence classification and regression: a [MeanPool] followed by more layers and any per-row loss, one target
/// row per sequence. Gradients through the generated code (<c>Engine&lt;double&gt;</c>, central differences as in
/// <see cref="GradientCheckTests"/>), the loss against its formula on the model's own outputs, shape errors that
/// say a pooled model takes one target row per example, no allocation per step, and a model that learns to
/// classify sequences through the training loop.
/// </summary>
public sealed class SequenceClassificationTests
{
    private const int Batch = 8, Classes = 3, Vocabulary = 13;
    private static readonly int[] s_labels = { 0, 2, 1, 1, 0, 2, 2, 1 };

    /// <summary>Sequences of 1 to Sequence tokens (pads, 0, after them) of class c: each token from the class's
    /// own four ids (1 + 4c … 4 + 4c) with probability 0.85, any id otherwise (so a token is its class's with probability 0.9).</summary>
    private static (int[] Ids, int[] Labels) Sequences(int count, ulong seed)
    {
        int sequence = PooledClassifier.Sequence;
        var random = new SeededRandom(seed);
        var ids = new int[count * sequence];
        var labels = new int[count];
        for (int e = 0; e < count; e++)
        {
            int c = (int)(random.NextDouble() * Classes);
            labels[e] = c;
            int length = 1 + (int)(random.NextDouble() * sequence);
            for (int t = 0; t < length; t++)
                ids[(e * sequence) + t] = random.NextDouble() < 0.85
                    ? 1 + (4 * c) + (int)(random.NextDouble() * 4)
                    : 1 + (int)(random.NextDouble() * (Vocabulary - 1));
        }

        return (ids, labels);
    }

    [Fact]
    public void Softmax_cross_entropy_after_mean_pooling_has_the_gradient_of_its_loss()
    {
        var engine = new PooledClassifier.Engine<double>(seed: 11);
        Sequences(Batch, 41).Ids.CopyTo(engine.Tokens, 0);
        double loss = engine.TrainingPass(Batch, s_labels);
        Assert.InRange(loss, 0.5, 2.5); // near ln 3 at initialisation
        GradientCheckTests.Check(engine.Parameters, engine.Gradients.ToArray(), () => engine.TrainingPass(Batch, s_labels), PooledClassifier.Engine<double>.Tensors);
    }

    [Fact]
    public void Mean_squared_error_after_mean_pooling_and_two_more_layers_has_the_gradient_of_its_loss()
    {
        var engine = new PooledRegressor.Engine<double>(seed: 12);
        Sequences(Batch, 42).Ids.CopyTo(engine.Tokens, 0);
        var random = new SeededRandom(43);
        var targets = new double[Batch * 2];
        for (int i = 0; i < targets.Length; i++) targets[i] = random.NextGaussian();
        engine.TrainingPass(Batch, targets);
        GradientCheckTests.Check(engine.Parameters, engine.Gradients.ToArray(), () => engine.TrainingPass(Batch, targets), PooledRegressor.Engine<double>.Tensors);
    }

    [Fact]
    public void A_flooded_focal_loss_after_mean_pooling_has_the_gradient_of_its_loss()
    {
        var engine = new PooledFocal.Engine<double>(seed: 13);
        Sequences(Batch, 44).Ids.CopyTo(engine.Tokens, 0);
        engine.TrainingPass(Batch, s_labels);
        GradientCheckTests.Check(engine.Parameters, engine.Gradients.ToArray(), () => engine.TrainingPass(Batch, s_labels), PooledFocal.Engine<double>.Tensors);
    }

    [Fact]
    public void Evaluate_is_the_mean_cross_entropy_of_the_pooled_logits_over_examples_in_several_chunks()
    {
        var model = new PooledClassifier(seed: 5);
        var (ids, labels) = Sequences(19, 45); // 19 examples: chunks of 8, 8 and 3
        var logits = new float[19 * Classes];
        model.Predict(ids, logits);
        double expected = 0;
        for (int e = 0; e < 19; e++)
        {
            var row = logits.AsSpan(e * Classes, Classes).ToArray().Select(v => (double)v).ToArray();
            double max = row.Max();
            double logSum = max + Math.Log(row.Sum(v => Math.Exp(v - max)));
            expected += logSum - row[labels[e]];
        }

        Assert.Equal(expected / 19, model.Evaluate(ids, labels), 5);
    }

    [Fact]
    public void A_pooled_model_takes_one_label_per_sequence_and_says_so_when_given_one_per_position()
    {
        var model = new PooledClassifier(seed: 1);
        var (ids, labels) = Sequences(4, 46);
        var perPosition = new int[ids.Length];
        var e = Assert.Throws<ArgumentException>(() => model.TrainStep(ids, perPosition, new Sgd(0.1)));
        Assert.Contains("labels (one row per example)", e.Message, StringComparison.Ordinal);
        Assert.Contains("20 rows", e.Message, StringComparison.Ordinal); // 4 × 5 labels read as 20 examples
        e = Assert.Throws<ArgumentException>(() => model.Evaluate(ids, perPosition));
        Assert.Contains("[4, 1]", e.Message, StringComparison.Ordinal);
        e = Assert.Throws<ArgumentException>(() => model.TrainStep(ids.AsSpan(0, 15), labels, new Sgd(0.1)));
        Assert.Contains("[4, 5]", e.Message, StringComparison.Ordinal); // 4 examples of 5 ids expected
        Assert.True(float.IsFinite(model.TrainStep(ids, labels, new Sgd(0.1))));
    }

    [Fact]
    public void A_training_step_of_a_pooled_model_allocates_nothing()
    {
        var classifier = new PooledClassifier(seed: 2);
        var regressor = new PooledRegressor(seed: 3);
        var (ids, labels) = Sequences(Batch, 47);
        var targets = new float[Batch * 2];
        var adamW = new AdamW(1e-3);
        var sgd = new Sgd(0.01, momentum: 0.9);
        for (int i = 0; i < 40; i++)
        {
            classifier.TrainStep(ids, labels, adamW);
            regressor.TrainStep(ids, targets, sgd);
        }

        var (allocated, helperAllocated) = Allocations.PerWindow(() =>
        {
            classifier.TrainStep(ids, labels, adamW);
            regressor.TrainStep(ids, targets, sgd);
        }, 20);
        Assert.Equal(0, allocated);
        Assert.Equal(0, helperAllocated);
    }

    [Fact]
    public void The_trainer_teaches_a_pooled_model_to_classify_sequences()
    {
        var (trainIds, trainLabels) = Sequences(480, 48);
        var (testIds, testLabels) = Sequences(240, 49);
        var model = new PooledClassifier(seed: 7);
        var options = new TrainerOptions { Epochs = 12, Seed = 3, LearningRate = _ => 0.02, Progress = ProgressDisplay.None };
        var result = new Trainer(model, new AdamW(0.02), options).Fit(
            new ArrayDataset<int, int>(trainIds, PooledClassifier.Sequence, trainLabels, 1),
            new ArrayDataset<int, int>(testIds, PooledClassifier.Sequence, testLabels, 1));
        var last = result.LastValidation!;
        // Chance is 1/3 and the initial loss about ln 3 = 1.10; a one-token sequence is classified right at best 90 % of the time.
        Assert.True(last["accuracy"] > 0.85, $"held-out accuracy {last["accuracy"]}");
        Assert.True(last["loss"] < 0.45, $"held-out loss {last["loss"]}");
        Assert.True(result.Epochs[^1].TrainLoss < result.Epochs[0].TrainLoss);
    }
}
