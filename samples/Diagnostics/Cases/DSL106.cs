// expect: DSL106
using Dsl;

namespace Diagnostics.Cases;

[Model(Batch = 8, Input = 20)]
public partial class NegativeIn
{
    [Dense(Out = 4, In = -1)] public partial Tensor A(Tensor x); // DSL106: In must be >= 0 (code fix: remove it)
    public Tensor Forward(Tensor x) => A(x);
}
