// expect: DSL209
using Dsl;

namespace Diagnostics.Cases;

[Model(Batch = 8, Input = 20)]
public partial class ThreePriorsFourClasses
{
    [Dense(Out = 4)] public partial Tensor A(Tensor x);
    public Tensor Forward(Tensor x) => A(x);
    // DSL209: 3 priors for 4 classes (the logits are the 4 columns of A)
    [Loss] public Scalar Loss(Tensor x, Labels y) => Ops.LogitAdjustedCrossEntropy(Forward(x), y, 1, new[] { 0.5, 0.3, 0.2 });
}
