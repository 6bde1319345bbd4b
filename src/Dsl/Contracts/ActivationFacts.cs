// A contract shared by the runtime and the generator: this file is compiled into both (the generator and the
// analyzers link it), so the kernels and the plan agree on what each activation's backward reads.
namespace Dsl.Contracts;

/// <summary>
/// Per activation: whether f′(x) needs the input x, or is a function of y = f(x) alone. The kernel structs
/// (Dsl.Kernels) answer <c>IActivation.DerivativeNeedsInput</c> from here, and the generator's activation ops
/// plan from here: only when x is needed does a fused Dense keep its pre-activation z for the backward.
/// </summary>
internal static class ActivationFacts
{
    /// <summary>The identity: f′ = 1.</summary>
    public const bool IdentityNeedsInput = false;

    /// <summary>ReLU: f′ = [y &gt; 0].</summary>
    public const bool ReluNeedsInput = false;

    /// <summary>tanh: f′ = 1 − y².</summary>
    public const bool TanhNeedsInput = false;

    /// <summary>σ: f′ = y(1 − y).</summary>
    public const bool SigmoidNeedsInput = false;

    /// <summary>GELU, tanh form: f′ is a function of x.</summary>
    public const bool GeluTanhNeedsInput = true;

    /// <summary>GELU, exact (erf) form: f′ = Φ(x) + xφ(x).</summary>
    public const bool GeluErfNeedsInput = true;

    /// <summary>SiLU: f′ = σ(x)(1 + x(1 − σ(x))).</summary>
    public const bool SiluNeedsInput = true;

    /// <summary>softplus: f′ = σ(x).</summary>
    public const bool SoftplusNeedsInput = true;

    /// <summary>SquarePlus: f′ = (1 + x/√(x² + b))/2.</summary>
    public const bool SquarePlusNeedsInput = true;
}
