// expect: DSL103
using Dsl;

namespace Diagnostics.Cases;

[Model(Batch = 8, Input = 20)]
public partial class StaticLayer
{
    [Dense(Out = 4)] public static partial Tensor A(Tensor x); // DSL103: it is static (code fix: make it an instance method)
    public Tensor Forward(Tensor x) => A(x);
}
