// expect: DSL322
using Dsl;

namespace Diagnostics.Cases;

[Module]
public partial class ThinResidual
{
    [Dense(Out = 20)] public partial Tensor Up(Tensor x);
    [LayerNorm] public partial Tensor Norm(Tensor x);
    public Tensor Forward(Tensor x) => Norm(x + Up(x));
}

[Model(Batch = 8, Input = 20)]
public partial class RecomputedThinBlocks
{
    // DSL322: each block recomputes only Up's output (the add is its norm's, kept with it), no more than the input it keeps
    [Recompute, Repeat(3)] public partial ThinResidual[] Blocks { get; }
    [Dense(Out = 4)] public partial Tensor Head(Tensor x);
    public Tensor Forward(Tensor x)
    {
        foreach (var block in Blocks) x = block.Forward(x);
        return Head(x);
    }
    [Loss] public Scalar Loss(Tensor x, Labels y) => Ops.SoftmaxCrossEntropy(Forward(x), y);
}
