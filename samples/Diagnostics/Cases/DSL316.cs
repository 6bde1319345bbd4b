// expect: DSL316
using Dsl.Optimizers;

namespace Diagnostics.Cases;

public static class ChildTuningSetup
{
    // DSL316: p = 0 keeps no gradient entry and divides by zero
    public static Optimizer Create() => new ChildTuningF(new AdamW(2e-5), p: 0, seed: 1);
}
