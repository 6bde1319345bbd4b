namespace Dsl.Generators.Ops;

/// <summary>Softplus: ln(1 + eˣ). The kernel is Dsl.Kernels.Softplus; the eager reference Dsl.Ops.Softplus.</summary>
internal sealed class Softplus : ActivationOp
{
    public override string Name => "Softplus";

    public override string? Attribute => "SoftplusAttribute";

    public override bool DerivativeNeedsInput => Contracts.ActivationFacts.SoftplusNeedsInput;

    public override double InitGain => System.Math.Sqrt(2);

    public override InitFamily Family => InitFamily.ReluLike;

    public override string Short => "softplus";

    public override string Kernel => "Softplus";

    public override string CudaDevice => """
        static __device__ inline float dsl_softplus(float x) { return (x > 0.0f ? x : 0.0f) + DSL_LOG1PF(DSL_EXPF(-(x < 0.0f ? -x : x))); }
        static __device__ inline float dsl_softplus_d(float x, float y) { (void)y; return dsl_sigmoid(x); }
        """;

    public override string CudaForward(string x, Model.OpOptions? options) => $"dsl_softplus({x})";

    public override string CudaDerivative(string x, string y, Model.OpOptions? options) => $"dsl_softplus_d({x}, {y})";
}
