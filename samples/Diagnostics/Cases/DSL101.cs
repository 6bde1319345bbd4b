// expect: DSL101
using Dsl;

namespace Diagnostics.Cases;

[Model(Batch = 8, Input = 20)]
public class NotPartial // DSL101: the generator cannot add to a class that is not partial
{
    public Tensor Forward(Tensor x) => x;
}
