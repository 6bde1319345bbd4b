using Dsl;

namespace CoSentEncoder;

/// <summary>The encoders' compile-time sizes (attribute arguments must be constants).</summary>
public static class EncoderShape
{
    /// <summary>Words per sentence (longer sentences are cut; 99 % of the training sentences fit).</summary>
    public const int Sequence = 32;
    /// <summary>Ids of the vocabulary, pad and unknown included (the [Embedding] Vocabulary).</summary>
    public const int Vocabulary = 8192;
    /// <summary>Sentence pairs per training step (two examples each).</summary>
    public const int PairsPerBatch = 64;
}

/// <summary>What the trainer needs from either encoder (both generated classes implement it).</summary>
public interface IPairEncoder
{
    /// <summary>One optimizer step on P pairs: 2P examples of <see cref="EncoderShape.Sequence"/> token ids, interleaved.</summary>
    float TrainStep(System.ReadOnlySpan<int> inputs, System.ReadOnlySpan<float> scores, Dsl.Optimizers.Optimizer optimizer);
    /// <summary>One embedding per example.</summary>
    void Predict(System.ReadOnlySpan<int> inputs, System.Span<float> outputs);
}

/// <summary>
/// A sentence encoder trained from scratch with CoSENT: word embeddings, a per-word Dense + tanh,
/// mean pooling over the words (pads excluded), a linear projection. Examples 2i and 2i + 1 of a
/// batch are the two sentences of pair i; the loss ranks the pairs' cosines by their gold scores.
/// </summary>
[Model(Batch = EncoderShape.PairsPerBatch * 2, Sequence = EncoderShape.Sequence)]
public partial class CoSentModel : IPairEncoder
{
    [Embedding(Vocabulary = EncoderShape.Vocabulary, Dim = 128)] public partial Tensor Words(Tensor ids);
    [Dense(Out = 256)] public partial Tensor Mix(Tensor x);
    [Tanh] public partial Tensor Act(Tensor x);
    [MeanPool(Pad = 0)] public partial Tensor Pool(Tensor x, Tensor ids);
    [Dense(Out = 128)] public partial Tensor Project(Tensor x);

    public Tensor Forward(Tensor ids) => Project(Pool(Act(Mix(Words(ids))), ids));

    [Loss] public Scalar Loss(Tensor pairs, Scores s) => Ops.CoSent(Forward(pairs), s, lambda: 20);
}

/// <summary>The same encoder trained with Sentence-BERT's regression objective, (cos(u, v) − s/5)².</summary>
[Model(Batch = EncoderShape.PairsPerBatch * 2, Sequence = EncoderShape.Sequence)]
public partial class CosineMseModel : IPairEncoder
{
    [Embedding(Vocabulary = EncoderShape.Vocabulary, Dim = 128)] public partial Tensor Words(Tensor ids);
    [Dense(Out = 256)] public partial Tensor Mix(Tensor x);
    [Tanh] public partial Tensor Act(Tensor x);
    [MeanPool(Pad = 0)] public partial Tensor Pool(Tensor x, Tensor ids);
    [Dense(Out = 128)] public partial Tensor Project(Tensor x);

    public Tensor Forward(Tensor ids) => Project(Pool(Act(Mix(Words(ids))), ids));

    [Loss] public Scalar Loss(Tensor pairs, Scores s) => Ops.CosineMse(Forward(pairs), s);
}
