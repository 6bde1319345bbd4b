// expect: DSL205
using Dsl;

namespace Diagnostics.Cases;

[Model(Batch = 2, Input = 6, Sequence = 8)]
public partial class OddRotary
{
    [Dense(Out = 16)] public partial Tensor In(Tensor x);
    [Attention(Heads = 2, Rope = true, RotaryDim = 7)] public partial Tensor Attend(Tensor x); // DSL205: 7 is odd
    public Tensor Forward(Tensor x) => Attend(In(x));
}
