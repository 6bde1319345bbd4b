// expect: DSL208
using Dsl;
using Dsl.Optimizers;

namespace Diagnostics.Cases;

[Model(Batch = 8, Input = 20)]
public partial class SmallBatch
{
    [Dense(Out = 4)] public partial Tensor A(Tensor x);
    public Tensor Forward(Tensor x) => A(x);
    [Loss] public Scalar Loss(Tensor x, Labels y) => Ops.SoftmaxCrossEntropy(Forward(x), y);
}

public static class SmallBatchTraining
{
    // DSL208: 16 examples of 20 values, but the model takes at most Batch = 8 per step
    public static float Step(SmallBatch model, int[] y, Optimizer optimizer) => model.TrainStep(new float[16 * 20], y, optimizer);
}
