// expect: DSL319
using Dsl;

namespace Diagnostics.Cases;

[Model(Batch = 8, Input = 20)]
public partial class NegativeTaskWeight
{
    [Dense(Out = 16)] public partial Tensor Trunk(Tensor x);
    [Dense(Out = 4)] public partial Tensor Classes(Tensor h);
    [Dense(Out = 2)] public partial Tensor Box(Tensor h);
    public Tensor Forward(Tensor x) => Classes(Trunk(x));
    // DSL319: a negative weight rewards the box task's loss for growing
    [Loss] public Scalar Loss(Tensor x, Labels y, Tensor t) =>
        Ops.MultiTask([1.0, -0.5], Ops.SoftmaxCrossEntropy(Forward(x), y), Ops.MeanSquaredError(Box(Trunk(x)), t));
}
