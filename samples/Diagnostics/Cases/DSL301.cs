// expect: DSL301
using Dsl;

namespace Diagnostics.Cases;

[Model(Batch = 8, Input = 20)]
public partial class FlatSquarePlus
{
    [Dense(Out = 4)] public partial Tensor A(Tensor x);
    [SquarePlus(B = 0)] public partial Tensor Act(Tensor x); // DSL301: b = 0 is ReLU (code fix: B = 4)
    public Tensor Forward(Tensor x) => Act(A(x));
}
