using Dsl;

namespace Dsl.Cuda.Tests;

/// <summary>An MLP with every fused piece of the CUDA path: bias + activation epilogues, dropout, softmax cross-entropy.</summary>
[Model(Batch = 16, Input = 20)]
public partial class GpuMlp
{
    [Dense(Out = 32)] public partial Tensor Hidden(Tensor x);
    [Gelu] public partial Tensor Act(Tensor x);
    [Dropout(0.1)] public partial Tensor Drop(Tensor x);
    [Dense(Out = 5)] public partial Tensor Classes(Tensor x);

    public Tensor Forward(Tensor x) => Classes(Drop(Act(Hidden(x))));

    [Loss] public Scalar Loss(Tensor x, Labels y) => Ops.SoftmaxCrossEntropy(Forward(x), y);
}

/// <summary>A small GPT block: embeddings, LayerNorm, causal attention over more than one key tile.</summary>
[Model(Batch = 2, Sequence = 40)]
public partial class GpuGpt
{
    [Embedding(Vocabulary = 11, Dim = 16)] public partial Tensor Tokens(Tensor ids);
    [PositionEmbedding] public partial Tensor Positions(Tensor x);
    [LayerNorm] public partial Tensor Norm(Tensor x);
    [Attention(Heads = 2, Causal = true)] public partial Tensor Attend(Tensor x);
    [LayerNorm] public partial Tensor Final(Tensor x);
    [Dense(Out = 11)] public partial Tensor Head(Tensor x);

    public Tensor Forward(Tensor ids)
    {
        var x = Positions(Tokens(ids));
        x = x + Attend(Norm(x));
        return Head(Final(x));
    }

    [Loss] public Scalar Loss(Tensor ids, Labels next) => Ops.SoftmaxCrossEntropy(Forward(ids), next);
}

/// <summary>Two heads weighed by learned uncertainty (Ops.MultiTask): a 5-class classifier and a 3-value regression.</summary>
[Model(Batch = 16, Input = 20)]
public partial class GpuMultiTask
{
    [Dense(Out = 32)] public partial Tensor Hidden(Tensor x);
    [Tanh] public partial Tensor Act(Tensor x);
    [Dense(Out = 5)] public partial Tensor Classes(Tensor h);
    [Dense(Out = 3)] public partial Tensor Box(Tensor h);

    public Tensor Shared(Tensor x) => Act(Hidden(x));
    public Tensor Forward(Tensor x) => Classes(Shared(x));

    [Loss] public Scalar Loss(Tensor x, Labels y, Tensor box) =>
        Ops.MultiTask(TaskWeighting.Uncertainty, Ops.SoftmaxCrossEntropy(Forward(x), y), Ops.MeanSquaredError(Box(Shared(x)), box));
}
