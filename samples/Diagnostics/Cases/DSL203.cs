// expect: DSL203
using Dsl;

namespace Diagnostics.Cases;

[Model(Batch = 8, Input = 20)]
public partial class SharedAtTwoWidths
{
    [Dense(Out = 4)] public partial Tensor A(Tensor x);
    [Dense(Out = 10)] public partial Tensor D(Tensor x);
    public Tensor Forward(Tensor x) => A(x) + A(D(x)); // DSL203: A sees 20 features, then 10
}
