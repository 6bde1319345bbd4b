// expect: DSL201
using Dsl;

namespace Diagnostics.Cases;

[Model(Batch = 8, Input = 20)]
public partial class WrongIn
{
    [Dense(Out = 4, In = 30)] public partial Tensor A(Tensor x); // DSL201: its input has 20 features (code fix: set In = 20)
    public Tensor Forward(Tensor x) => A(x);
}
