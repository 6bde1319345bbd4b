// expect: DSL102
using Dsl;

namespace Diagnostics.Cases;

[Model(Batch = 8, Input = 20)]
public partial class Product
{
    [Dense(Out = 4)] public partial Tensor A(Tensor x);
    [Dense(Out = 4)] public partial Tensor B(Tensor x);
    public Tensor Forward(Tensor x) => A(x) * B(x); // DSL102: a product must have one constant side
}
