// expect: DSL318
using Dsl;

namespace Diagnostics.Cases;

[Model(Batch = 8, Input = 20)]
public partial class AccuracyTrained
{
    [Dense(Out = 4)] public partial Tensor A(Tensor x);
    public Tensor Forward(Tensor x) => A(x);
    // DSL318: γ = 1 makes TaiLr the −p loss, whose gradient vanishes on wrong predictions
    [Loss] public Scalar Loss(Tensor x, Labels y) => Ops.TaiLr(Forward(x), y, gamma: 1, minWeight: 0.2);
}
