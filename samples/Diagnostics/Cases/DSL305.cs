// expect: DSL305
using Dsl;

namespace Diagnostics.Cases;

// DSL305: InitStd = 1/√784 gives Hidden variance 1/fan_in (LeCun), but it feeds a ReLU: He needs 2/fan_in
// (InitStd = 0.0505). Without InitStd the generator picks He or LeCun per layer itself.
[Model(Batch = 8, Input = 784, InitStd = 0.0357142857)]
public partial class LeCunBeforeRelu
{
    [Dense(Out = 256)] public partial Tensor Hidden(Tensor x);
    [Relu] public partial Tensor Act(Tensor x);
    [Dense(Out = 10)] public partial Tensor Classes(Tensor x);
    public Tensor Forward(Tensor x) => Classes(Act(Hidden(x)));
    [Loss] public Scalar Loss(Tensor x, Labels y) => Ops.SoftmaxCrossEntropy(Forward(x), y);
}
