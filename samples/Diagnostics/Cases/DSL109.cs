// expect: DSL109
using Dsl;
using Dsl.Optimizers;

namespace Diagnostics.Cases;

[Model(Batch = 8, Input = 20)]
public partial class NoLoss
{
    [Dense(Out = 4)] public partial Tensor A(Tensor x);
    public Tensor Forward(Tensor x) => A(x);
}

public static class NoLossTraining
{
    // DSL109 (and CS1061): NoLoss has no [Loss] method, so there is no TrainStep (code fix: add one)
    public static float Step(NoLoss model, float[] x, int[] y, Optimizer optimizer) => model.TrainStep(x, y, optimizer);
}
