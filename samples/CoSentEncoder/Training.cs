using System;
using System.Collections.Generic;
using System.Linq;
using Dsl.IO;
using Dsl.Training;

namespace CoSentEncoder;

/// <summary>A split of the STS benchmark as model inputs: two rows of token ids per pair (interleaved)
/// and the gold scores.</summary>
public sealed class StsData
{
    /// <summary>Words per sentence (longer sentences are cut; 99 % of the training sentences fit).</summary>
    public const int Sequence = EncoderShape.Sequence;
    /// <summary>Ids of the vocabulary, pad and unknown included (the [Embedding] Vocabulary).</summary>
    public const int Vocabulary = EncoderShape.Vocabulary;
    /// <summary>Sentence pairs per training step.</summary>
    public const int PairsPerBatch = EncoderShape.PairsPerBatch;
    /// <summary>Words seen fewer times than this in the training split map to the unknown id.</summary>
    public const int MinCount = 2;

    private StsData(int[] ids, float[] scores)
    {
        Ids = ids;
        Scores = scores;
    }

    /// <summary>[2·Count, Sequence] token ids: row 2i is the first sentence of pair i, 2i + 1 the second.</summary>
    public int[] Ids { get; }

    /// <summary>Gold scores, 0–5.</summary>
    public float[] Scores { get; }

    /// <summary>Number of pairs.</summary>
    public int Count => Scores.Length;

    /// <summary>The pairs as the trainer takes them: one example per pair (its two sentences' ids, 2 × <see cref="Sequence"/>),
    /// the gold score times <paramref name="scoreScale"/> as its target (1/5 for cosine-MSE, whose targets are cosines;
    /// CoSENT only uses their order). The ids are not copied.</summary>
    public ArrayDataset<int, float> ToDataset(float scoreScale) =>
        new(Ids, 2 * Sequence, Array.ConvertAll(Scores, s => s * scoreScale), 1);

    /// <summary>Encodes <paramref name="pairs"/> with <paramref name="vocabulary"/>.</summary>
    public static StsData Encode(IReadOnlyList<StsPair> pairs, WordVocabulary vocabulary)
    {
        var ids = new int[2 * pairs.Count * Sequence];
        var scores = new float[pairs.Count];
        for (int i = 0; i < pairs.Count; i++)
        {
            vocabulary.Encode(pairs[i].First, ids.AsSpan(2 * i * Sequence, Sequence));
            vocabulary.Encode(pairs[i].Second, ids.AsSpan((2 * i + 1) * Sequence, Sequence));
            scores[i] = pairs[i].Score;
        }

        return new StsData(ids, scores);
    }

    /// <summary>The training vocabulary: words of the training split seen at least <see cref="MinCount"/> times,
    /// the most frequent <see cref="Vocabulary"/> − 2.</summary>
    public static WordVocabulary BuildVocabulary(IReadOnlyList<StsPair> train) =>
        WordVocabulary.Build(train.SelectMany(p => new[] { p.First, p.Second }), MinCount, Vocabulary);
}

/// <summary>
/// How the sample trains an encoder with <see cref="Trainer"/>: shuffled batches of <see cref="StsData.PairsPerBatch"/>
/// pairs (epoch e's order drawn from (seed, e), so both losses see the same batches; an epoch's last, shorter batch
/// is kept), AdamW 1e-3 with weight decay 0.01, and after every epoch the loss and the Spearman correlation between
/// the pairs' cosines and their gold scores on the validation split ("spearman", the kept-best criterion).
/// </summary>
public static class PairTraining
{
    /// <summary>The name of the Spearman metric in evaluations and metrics.jsonl.</summary>
    public const string Spearman = "spearman";

    /// <summary>The sample's defaults: 6 epochs, seed 1, sts-dev as the validation split, the best by Spearman.</summary>
    public static TrainerOptions Defaults() => new()
    {
        Epochs = 6, Seed = 1, DropLast = false, OutputDirectory = "runs/cosent-encoder", ValidationName = "sts-dev", Monitor = Spearman,
    };

    /// <summary>A trainer of <paramref name="model"/> with the sample's optimizer and the Spearman metric.</summary>
    public static Trainer Create(Dsl.ISupervisedModel<int, float> model, TrainerOptions options)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        var trainer = new Trainer(model, new Dsl.Optimizers.AdamW(1e-3, weightDecay: 0.01), options);
        trainer.AddMetric<float>(Spearman, PairMetrics.CosineSpearman);
        return trainer;
    }
}
