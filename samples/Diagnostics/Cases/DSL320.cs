// expect: DSL320
using Dsl;

namespace Diagnostics.Cases;

[Model(Batch = 8, Input = 20)]
public partial class UnscaledTasks
{
    [Dense(Out = 16)] public partial Tensor Trunk(Tensor x);
    [Dense(Out = 4)] public partial Tensor Classes(Tensor h);
    [Dense(Out = 2)] public partial Tensor Box(Tensor h);
    public Tensor Forward(Tensor x) => Classes(Trunk(x));
    // DSL320: a cross-entropy and a squared error summed with equal weights
    [Loss] public Scalar Loss(Tensor x, Labels y, Tensor t) =>
        Ops.MultiTask(TaskWeighting.Sum, Ops.SoftmaxCrossEntropy(Forward(x), y), Ops.MeanSquaredError(Box(Trunk(x)), t));
}
