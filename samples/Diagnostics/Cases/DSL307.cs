// expect: DSL307
using Dsl;

namespace Diagnostics.Cases;

[Model(Batch = 2, Sequence = 64)]
public partial class NarrowKeys
{
    [Embedding(Vocabulary = 65, Dim = 128)] public partial Tensor Tokens(Tensor ids);
    // DSL307 (info): 8 key dimensions per head (values keep 32): each head's QKᵀ has rank ≤ 8 over 64 keys.
    [Attention(Heads = 4, Causal = true, KeySize = 8)] public partial Tensor Attend(Tensor x);
    [Dense(Out = 65, Bias = false, Tied = nameof(Tokens))] public partial Tensor Head(Tensor x);
    public Tensor Forward(Tensor ids) => Head(Attend(Tokens(ids)));
    [Loss] public Scalar Loss(Tensor ids, Labels next) => Ops.SoftmaxCrossEntropy(Forward(ids), next);
}
