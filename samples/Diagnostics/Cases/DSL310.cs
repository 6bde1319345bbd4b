// expect: DSL310
using Dsl;

namespace Diagnostics.Cases;

[Module]
public partial class PreLnBlock
{
    // DSL310: DeepNorm's α = (2·8)^¼ = 2 weights the skip, but the block is Pre-LN (no norm after the sum),
    // so the residual stream grows by α per block (code fix: Alpha = 1, Su's Pre-Norm choice).
    [DeepNorm] public partial Tensor Skip(Tensor x);
    [LayerNorm] public partial Tensor Norm(Tensor x);
    [Dense(Out = 32)] public partial Tensor Up(Tensor x);
    [Dense(Out = 16)] public partial Tensor Down(Tensor x);
    public Tensor Forward(Tensor x) => Skip(x) + Down(Ops.Gelu(Up(Norm(x))));
}

[Model(Batch = 2, Input = 16)]
public partial class DeepPreLn
{
    [Repeat(8)] public partial PreLnBlock[] Blocks { get; }
    [LayerNorm] public partial Tensor Final(Tensor x);
    [Dense(Out = 3)] public partial Tensor Head(Tensor x);
    public Tensor Forward(Tensor x)
    {
        foreach (var block in Blocks) x = block.Forward(x);
        return Head(Final(x));
    }
    [Loss] public Scalar Loss(Tensor x, Labels y) => Ops.SoftmaxCrossEntropy(Forward(x), y);
}
