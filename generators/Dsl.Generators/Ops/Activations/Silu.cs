namespace Dsl.Generators.Ops;

/// <summary>Silu: x·σ(x) (swish). The kernel is Dsl.Kernels.Silu; the eager reference Dsl.Ops.Silu.</summary>
internal sealed class Silu : ActivationOp
{
    public override string Name => "Silu";

    public override string? Attribute => "SiluAttribute";

    public override bool DerivativeNeedsInput => Contracts.ActivationFacts.SiluNeedsInput;

    public override double InitGain => System.Math.Sqrt(2);

    public override InitFamily Family => InitFamily.ReluLike;

    public override string Short => "silu";

    public override string Kernel => "Silu";

    public override string CudaDevice => """
        static __device__ inline float dsl_silu(float x) { return x * dsl_sigmoid(x); }
        static __device__ inline float dsl_silu_d(float x, float y) { (void)y; float s = dsl_sigmoid(x); return s * (1.0f + x * (1.0f - s)); }
        """;

    public override string CudaForward(string x, Model.OpOptions? options) => $"dsl_silu({x})";

    public override string CudaDerivative(string x, string y, Model.OpOptions? options) => $"dsl_silu_d({x}, {y})";
}
