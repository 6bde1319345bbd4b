// expect: DSL314
using Dsl;

namespace Diagnostics.Cases;

[Model(Batch = 8, Input = 20)]
public partial class FloodedFromTheStart
{
    [Dense(Out = 4)] public partial Tensor A(Tensor x);
    public Tensor Forward(Tensor x) => A(x);
    // DSL314: b = 1.5 ≥ ln 4 = 1.386, the cross-entropy at a uniform initial output: every step is ascent
    [Loss] public Scalar Loss(Tensor x, Labels y) => Ops.Flood(Ops.SoftmaxCrossEntropy(Forward(x), y), 1.5);
}
