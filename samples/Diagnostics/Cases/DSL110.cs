// expect: DSL110
using Dsl;

namespace Diagnostics.Cases;

[Module]
public partial class Block
{
    [Dense(Out = 20)] public partial Tensor Up(Tensor x);
    public Tensor Forward(Tensor x) => Up(x);
}

[Model(Batch = 8, Input = 20)]
public partial class StaticBlocks
{
    [Repeat(2)] public static partial Block[] Blocks { get; } // DSL110: it is static; each model instance has its own blocks
    public Tensor Forward(Tensor x)
    {
        foreach (var block in Blocks) x = block.Forward(x);
        return x;
    }
}
