// expect: DSL108
using Dsl;

namespace Diagnostics.Cases;

[Module]
public partial class Inner
{
    [Dense(Out = 20)] public partial Tensor Up(Tensor x);
    public Tensor Forward(Tensor x) => Up(x);
}

[Module]
public partial class Outer
{
    public partial Inner Nested { get; } // DSL108: modules may contain layers only
    [Relu] public partial Tensor Act(Tensor x);
    public Tensor Forward(Tensor x) => Act(x);
}
