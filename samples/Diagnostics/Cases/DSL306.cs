// expect: DSL306
using Dsl;

namespace Diagnostics.Cases;

[Model(Batch = 2, Sequence = 16)]
public partial class NarrowWordVectors
{
    // DSL306 (info): 30000 words need Dim > 8.31·ln 30000 ≈ 86 by the word-vector entropy estimate.
    [Embedding(Vocabulary = 30000, Dim = 48)] public partial Tensor Tokens(Tensor ids);
    [Dense(Out = 3)] public partial Tensor Head(Tensor x);
    public Tensor Forward(Tensor ids) => Head(Tokens(ids));
    [Loss] public Scalar Loss(Tensor ids, Labels y) => Ops.SoftmaxCrossEntropy(Forward(ids), y);
}
