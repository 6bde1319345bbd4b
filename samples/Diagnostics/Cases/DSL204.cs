// expect: DSL204
using Dsl;

namespace Diagnostics.Cases;

[Model(Batch = 2, Input = 6, Sequence = 8)]
public partial class HeadsDoNotDivide
{
    [Dense(Out = 12)] public partial Tensor In(Tensor x);
    [Attention(Heads = 5, Causal = true)] public partial Tensor Attend(Tensor x); // DSL204: 5 heads do not divide 12
    public Tensor Forward(Tensor x) => Attend(In(x));
}
