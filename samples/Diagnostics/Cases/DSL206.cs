// expect: DSL206
using Dsl;

namespace Diagnostics.Cases;

[Model(Batch = 2, Sequence = 4)]
public partial class TiedMismatch
{
    [Embedding(Vocabulary = 10, Dim = 24)] public partial Tensor Tokens(Tensor ids);
    [Dense(Out = 9, Bias = false, Tied = nameof(Tokens))] public partial Tensor Head(Tensor x); // DSL206: 9 ≠ vocabulary 10
    public Tensor Forward(Tensor ids) => Head(Tokens(ids));
}
