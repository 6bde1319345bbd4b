// expect: DSL303
using Dsl;

namespace Diagnostics.Cases;

[Model(Batch = 2, Sequence = 64)]
public partial class UnscaledAttention
{
    [Embedding(Vocabulary = 65, Dim = 128)] public partial Tensor Tokens(Tensor ids);
    // DSL303: no 1/√d and default (unit-variance) projections: initial logits have std √32 ≈ 5.7
    // (code fix: Scale = 1/√32; or keep Scale = 1 and shrink the init, e.g. InitStd = 0.02, as T5 does).
    [Attention(Heads = 4, Causal = true, Scale = 1)] public partial Tensor Attend(Tensor x);
    [Dense(Out = 65, Bias = false, Tied = nameof(Tokens))] public partial Tensor Head(Tensor x);
    public Tensor Forward(Tensor ids) => Head(Attend(Tokens(ids)));
    [Loss] public Scalar Loss(Tensor ids, Labels next) => Ops.SoftmaxCrossEntropy(Forward(ids), next);
}
