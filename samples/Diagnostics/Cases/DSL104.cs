// expect: DSL104
using Dsl;

namespace Diagnostics.Cases;

[Model(Batch = 0, Input = 20)] // DSL104: Batch must be > 0
public partial class NoBatch
{
    [Dense(Out = 4)] public partial Tensor A(Tensor x);
    public Tensor Forward(Tensor x) => A(x);
}
