// expect: DSL207
using Dsl;

namespace Diagnostics.Cases;

[Module]
public partial class Shrink
{
    [Dense(Out = 4)] public partial Tensor Down(Tensor x);
    public Tensor Forward(Tensor x) => Down(x);
}

[Model(Batch = 2, Input = 6)]
public partial class ShrinkingStack
{
    [Repeat(3)] public partial Shrink[] Blocks { get; }
    public Tensor Forward(Tensor x)
    {
        foreach (var block in Blocks) x = block.Forward(x); // DSL207: each block maps 6 → 4
        return x;
    }
}
