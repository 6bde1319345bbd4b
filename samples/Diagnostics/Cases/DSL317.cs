// expect: DSL317
using Dsl;
using Dsl.Optimizers;

namespace Diagnostics.Cases;

[Model(Batch = 8, Input = 20)]
public partial class AdamTrained
{
    [Dense(Out = 4)] public partial Tensor A(Tensor x);
    public Tensor Forward(Tensor x) => A(x);
    [Loss] public Scalar Loss(Tensor x, Labels y) => Ops.SoftmaxCrossEntropy(Forward(x), y);
}

public static class AdamSetup
{
    // DSL317: an L2 penalty under Adam is divided by √v̂: it is not weight decay (use weightDecay)
    public static Optimizer Create() => new AdamW(1e-3, weightDecay: 0, l2: 0.01);
}
