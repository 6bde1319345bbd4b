namespace Dsl.Generators.Ops;

/// <summary>Relu: max(x, 0). The kernel is Dsl.Kernels.Relu; the eager reference Dsl.Ops.Relu.</summary>
internal sealed class Relu : ActivationOp
{
    public override string Name => "Relu";

    public override string? Attribute => "ReluAttribute";

    public override bool DerivativeNeedsInput => Contracts.ActivationFacts.ReluNeedsInput;

    public override double InitGain => System.Math.Sqrt(2);

    public override InitFamily Family => InitFamily.ReluLike;

    public override string Short => "relu";

    public override string Kernel => "Relu";

    public override string CudaDevice => """
        static __device__ inline float dsl_relu(float x) { return x > 0.0f ? x : 0.0f; }
        static __device__ inline float dsl_relu_d(float x, float y) { (void)x; return y > 0.0f ? 1.0f : 0.0f; }
        """;

    public override string CudaForward(string x, Model.OpOptions? options) => $"dsl_relu({x})";

    public override string CudaDerivative(string x, string y, Model.OpOptions? options) => $"dsl_relu_d({x}, {y})";
}
