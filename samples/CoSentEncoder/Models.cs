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

/// <summary>
/// A sentence encoder trained from scratch with CoSENT: word embeddings, a per-word Dense + tanh,
/// mean pooling over the words (pads excluded), a linear projection. Examples 2i and 2i + 1 of a
/// batch are the two sentences of pair i; the loss ranks the pairs' cosines by their gold scores.
/// Like every pair model it is a Dsl.ISupervisedModel&lt;int, float&gt; whose examples are pairs (2 × 32 ids,
/// one score), which is what Dsl.Training's Trainer batches.
/// </summary>
[Model(Batch = EncoderShape.PairsPerBatch * 2, Sequence = EncoderShape.Sequence)]
public partial class CoSentModel
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
public partial class CosineMseModel
{
    [Embedding(Vocabulary = EncoderShape.Vocabulary, Dim = 128)] public partial Tensor Words(Tensor ids);
    [Dense(Out = 256)] public partial Tensor Mix(Tensor x);
    [Tanh] public partial Tensor Act(Tensor x);
    [MeanPool(Pad = 0)] public partial Tensor Pool(Tensor x, Tensor ids);
    [Dense(Out = 128)] public partial Tensor Project(Tensor x);

    public Tensor Forward(Tensor ids) => Project(Pool(Act(Mix(Words(ids))), ids));

    [Loss] public Scalar Loss(Tensor pairs, Scores s) => Ops.CosineMse(Forward(pairs), s);
}
