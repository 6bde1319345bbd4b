// expect: DSL315
using Dsl;
using Dsl.Optimizers;

namespace Diagnostics.Cases;

[Model(Batch = 8, Input = 20)]
public partial class LionTrained
{
    [Dense(Out = 4)] public partial Tensor A(Tensor x);
    public Tensor Forward(Tensor x) => A(x);
    [Loss] public Scalar Loss(Tensor x, Labels y) => Ops.SoftmaxCrossEntropy(Forward(x), y);
}

public static class LionSetup
{
    // DSL315: AdamW's learning rate for Lion; it should be 3–10× smaller (code fix: learningRate = 0.0001)
    public static Optimizer Create() => new Lion(1e-3, weightDecay: 0.1);
}
