// expect: DSL105
using Dsl;

namespace Diagnostics.Cases;

[Model(Batch = 8, Input = 20)]
public partial class NoForward // DSL105: no Forward(Tensor) method
{
    [Dense(Out = 4)] public partial Tensor A(Tensor x);
    public Tensor Run(Tensor x) => A(x);
}
