// expect: DSL308
using Dsl;

namespace Diagnostics.Cases;

[Model(Batch = 8, Input = 20)]
public partial class NarrowClassifier
{
    [Dense(Out = 4)] public partial Tensor Bottleneck(Tensor x);
    // DSL308 (info): 10 classes scored from 4 features: some class vectors may lie inside the others' hull.
    [Dense(Out = 10, Bias = false)] public partial Tensor Classes(Tensor x);
    public Tensor Forward(Tensor x) => Classes(Bottleneck(x));
    [Loss] public Scalar Loss(Tensor x, Labels y) => Ops.SoftmaxCrossEntropy(Forward(x), y);
}
