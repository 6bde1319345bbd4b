namespace Dsl.Generators.Ops;

/// <summary>Tanh: tanh(x). The kernel is Dsl.Kernels.Tanh; the eager reference Dsl.Ops.Tanh.</summary>
internal sealed class Tanh : ActivationOp
{
    public override string Name => "Tanh";

    public override string? Attribute => "TanhAttribute";

    public override bool DerivativeNeedsInput => Contracts.ActivationFacts.TanhNeedsInput;

    public override double InitGain => 5.0 / 3.0;

    public override InitFamily Family => InitFamily.LinearLike;

    public override string Short => "tanh";

    public override string Kernel => "Tanh";

    public override string CudaDevice => """
        static __device__ inline float dsl_tanh(float x) { return DSL_TANHF(x); }
        static __device__ inline float dsl_tanh_d(float x, float y) { (void)x; return 1.0f - y * y; }
        """;

    public override string CudaForward(string x, Model.OpOptions? options) => $"dsl_tanh({x})";

    public override string CudaDerivative(string x, string y, Model.OpOptions? options) => $"dsl_tanh_d({x}, {y})";
}
