// expect: DSL313
using Dsl;

namespace Diagnostics.Cases;

[Model(Batch = 8, Input = 20)]
public partial class NegativeFocusing
{
    [Dense(Out = 4)] public partial Tensor A(Tensor x);
    public Tensor Forward(Tensor x) => A(x);
    // DSL313: γ < 0 up-weights the easy examples (code fix: gamma = 2)
    [Loss] public Scalar Loss(Tensor x, Labels y) => Ops.FocalLoss(Forward(x), y, gamma: -1);
}
