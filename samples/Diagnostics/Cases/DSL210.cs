// expect: DSL210
using Dsl;

namespace Diagnostics.Cases;

[Model(Batch = 8, Input = 20)]
public partial class HugeLayer
{
    [Dense(Out = 2147483647)] public partial Tensor A(Tensor x); // DSL210: Out is 2147483647, but the DSL's limit is 1048576 (2^20)
    public Tensor Forward(Tensor x) => A(x);
}
