// expect: DSL107
using Dsl;

namespace Diagnostics.Cases;

[Model(Batch = 8, Input = 20)]
public partial class OneParameterLoss
{
    [Dense(Out = 4)] public partial Tensor A(Tensor x);
    public Tensor Forward(Tensor x) => A(x);
    [Loss] public Scalar Loss(Tensor x) => Ops.SoftmaxCrossEntropy(Forward(x), null!); // DSL107: it must take (inputs, labels or targets)
}
