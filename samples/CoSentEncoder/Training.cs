using System;
using System.Collections.Generic;
using System.Linq;
using Dsl.Cuda;
using Dsl.IO;
using Dsl.Optimizers;
using Dsl.Runtime;

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
/// Trains one encoder on the training split: shuffled batches of <see cref="StsData.PairsPerBatch"/>
/// pairs (the order drawn from the seed, so both losses see the same batches), AdamW; evaluates by
/// the Spearman correlation between the cosines of the embeddings and the gold scores. With a device trainer
/// the steps run on the GPU (the model's parameters then live there: download them before evaluating).
/// </summary>
public sealed class PairTrainer
{
    private readonly IPairEncoder _model;
    private readonly CudaTrainer? _device;
    private readonly Optimizer _optimizer;
    private readonly StsData _train;
    private readonly float _scoreScale;
    private readonly SeededRandom _random;
    private readonly int[] _order;
    private readonly int[] _batchIds = new int[2 * StsData.PairsPerBatch * StsData.Sequence];
    private readonly float[] _batchScores = new float[StsData.PairsPerBatch];
    private int _next;

    /// <summary>Creates the trainer; <paramref name="scoreScale"/> multiplies the gold scores given to the loss
    /// (1/5 for cosine-MSE, whose targets are cosines; CoSENT only uses their order). With <paramref name="device"/>
    /// (a <see cref="CudaTrainer.ForTokens"/> trainer on the model's CUDA program) the steps run there instead.</summary>
    public PairTrainer(IPairEncoder model, Optimizer optimizer, StsData train, float scoreScale, ulong seed, CudaTrainer? device = null)
    {
        _model = model;
        _device = device;
        _optimizer = optimizer;
        _train = train;
        _scoreScale = scoreScale;
        _random = new SeededRandom(seed);
        _order = Enumerable.Range(0, train.Count).ToArray();
        _next = _order.Length; // shuffle on the first step
    }

    /// <summary>Steps per pass over the training split.</summary>
    public int StepsPerEpoch => (_train.Count + StsData.PairsPerBatch - 1) / StsData.PairsPerBatch;

    /// <summary>One training step on the next batch; returns its loss.</summary>
    public float Step()
    {
        if (_next >= _order.Length)
        {
            // Fisher–Yates with the seeded generator: the same sequence of batches for every model.
            for (int i = _order.Length - 1; i > 0; i--)
            {
                int j = (int)(_random.NextDouble() * (i + 1));
                (_order[i], _order[j]) = (_order[j], _order[i]);
            }

            _next = 0;
        }

        int pairs = Math.Min(StsData.PairsPerBatch, _order.Length - _next);
        int width = 2 * StsData.Sequence;
        for (int k = 0; k < pairs; k++)
        {
            int pair = _order[_next + k];
            _train.Ids.AsSpan(pair * width, width).CopyTo(_batchIds.AsSpan(k * width, width));
            _batchScores[k] = _train.Scores[pair] * _scoreScale;
        }

        _next += pairs;
        ReadOnlySpan<int> ids = _batchIds.AsSpan(0, pairs * width);
        ReadOnlySpan<float> scores = _batchScores.AsSpan(0, pairs);
        return _device is null ? _model.TrainStep(ids, scores, _optimizer) : (float)_device.TrainStep(ids, scores, _optimizer);
    }

    /// <summary>Spearman's ρ between cos(u_i, v_i) and the gold scores of <paramref name="split"/>.</summary>
    public static double Spearman(IPairEncoder model, StsData split, int dim)
    {
        var embeddings = new float[2 * split.Count * dim];
        model.Predict(split.Ids, embeddings);
        var cosines = new double[split.Count];
        var gold = new double[split.Count];
        for (int i = 0; i < split.Count; i++)
        {
            ReadOnlySpan<float> u = embeddings.AsSpan(2 * i * dim, dim), v = embeddings.AsSpan((2 * i + 1) * dim, dim);
            double uv = 0, uu = 0, vv = 0;
            for (int k = 0; k < dim; k++)
            {
                uv += u[k] * v[k];
                uu += u[k] * u[k];
                vv += v[k] * v[k];
            }

            cosines[i] = uu > 0 && vv > 0 ? uv / Math.Sqrt(uu * vv) : 0;
            gold[i] = split.Scores[i];
        }

        return RankCorrelation.Spearman(cosines, gold);
    }
}
