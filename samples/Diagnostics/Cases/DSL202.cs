// expect: DSL202
using Dsl;

namespace Diagnostics.Cases;

[Model(Batch = 8, Input = 20)]
public partial class WrongResidual
{
    [Dense(Out = 4)] public partial Tensor A(Tensor x);
    public Tensor Forward(Tensor x) => A(x) + x; // DSL202: 4 features added to 20
}
