// expect: DSL302
using Dsl;

namespace Diagnostics.Cases;

[Model(Batch = 2, Sequence = 64)]
public partial class WidthScaledAttention
{
    [Embedding(Vocabulary = 65, Dim = 128)] public partial Tensor Tokens(Tensor ids);
    // DSL302: 0.0884 = 1/√128 is built from d_model; the logits sum over the 32 key dimensions of a head
    // (code fixes: Scale = 1/√32, or remove Scale so the default 1/√KeySize applies).
    [Attention(Heads = 4, Causal = true, Scale = 0.08838834764831845)] public partial Tensor Attend(Tensor x);
    [Dense(Out = 65, Bias = false, Tied = nameof(Tokens))] public partial Tensor Head(Tensor x);
    public Tensor Forward(Tensor ids) => Head(Attend(Tokens(ids)));
    [Loss] public Scalar Loss(Tensor ids, Labels next) => Ops.SoftmaxCrossEntropy(Forward(ids), next);
}
