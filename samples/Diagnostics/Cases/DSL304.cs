// expect: DSL304
using Dsl;

namespace Diagnostics.Cases;

[Module]
public partial class PostLnBlock
{
    // DSL304: these are DeepNet's constants for N = 12 blocks, but the stack has 6
    // (code fix: Alpha = (2·6)^¼ = 1.8612, Beta = (8·6)^−¼ = 0.3799).
    [DeepNorm(Alpha = 2.2134, Beta = 0.3195)] public partial Tensor Skip(Tensor x);
    [Dense(Out = 32)] public partial Tensor Up(Tensor x);
    [Dense(Out = 16)] public partial Tensor Down(Tensor x);
    [LayerNorm] public partial Tensor Norm(Tensor x);
    public Tensor Forward(Tensor x) => Norm(Skip(x) + Down(Ops.Relu(Up(x))));
}

[Model(Batch = 2, Input = 16)]
public partial class DeepNormSix
{
    [Repeat(6)] public partial PostLnBlock[] Blocks { get; }
    [Dense(Out = 3)] public partial Tensor Head(Tensor x);
    public Tensor Forward(Tensor x)
    {
        foreach (var block in Blocks) x = block.Forward(x);
        return Head(x);
    }
    [Loss] public Scalar Loss(Tensor x, Labels y) => Ops.SoftmaxCrossEntropy(Forward(x), y);
}
