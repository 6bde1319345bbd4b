// expect: DSL311
using Dsl;

namespace Diagnostics.Cases;

[Model(Batch = 2, Sequence = 64)]
public partial class LongBaseRope
{
    [Embedding(Vocabulary = 65, Dim = 128)] public partial Tensor Tokens(Tensor ids);
    // DSL311 (info): base 500000 instead of RoFormer's 10000; fine from scratch, not for a 10000-base checkpoint.
    [Attention(Heads = 4, Causal = true, Rope = true, RopeBase = 500000)] public partial Tensor Attend(Tensor x);
    [Dense(Out = 65, Bias = false, Tied = nameof(Tokens))] public partial Tensor Head(Tensor x);
    public Tensor Forward(Tensor ids) => Head(Attend(Tokens(ids)));
    [Loss] public Scalar Loss(Tensor ids, Labels next) => Ops.SoftmaxCrossEntropy(Forward(ids), next);
}
