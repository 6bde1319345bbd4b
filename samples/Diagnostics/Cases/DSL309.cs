// expect: DSL309
using Dsl;

namespace Diagnostics.Cases;

[Model(Batch = 2, Input = 8, Sequence = 32)]
public partial class WideWindow
{
    [Dense(Out = 16)] public partial Tensor In(Tensor x);
    // DSL309: a window of 128 over 32 positions restricts nothing (code fix: Window = 32).
    [Attention(Heads = 2, Causal = true, Window = 128)] public partial Tensor Attend(Tensor x);
    [Dense(Out = 3)] public partial Tensor Head(Tensor x);
    public Tensor Forward(Tensor x) => Head(Attend(In(x)));
    [Loss] public Scalar Loss(Tensor x, Labels y) => Ops.SoftmaxCrossEntropy(Forward(x), y);
}
