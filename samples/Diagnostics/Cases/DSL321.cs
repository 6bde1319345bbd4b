// expect: DSL321
using Dsl;

namespace Diagnostics.Cases;

[Module]
public partial class WholeEncoder
{
    [Dense(Out = 32)] public partial Tensor Up(Tensor x);
    [Relu] public partial Tensor Act(Tensor x);
    [Dense(Out = 20)] public partial Tensor Down(Tensor x);
    public Tensor Forward(Tensor x) => Down(Act(Up(x)));
}

[Model(Batch = 8, Input = 20)]
public partial class RecomputedOnce
{
    // DSL321: one segment still needs a place of its own for its activations: the arena does not shrink
    [Recompute] public partial WholeEncoder Encoder { get; }
    [Dense(Out = 4)] public partial Tensor Head(Tensor x);
    public Tensor Forward(Tensor x) => Head(Encoder.Forward(x));
    [Loss] public Scalar Loss(Tensor x, Labels y) => Ops.SoftmaxCrossEntropy(Forward(x), y);
}
