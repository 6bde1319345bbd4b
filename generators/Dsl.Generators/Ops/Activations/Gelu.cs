using Dsl.Generators.Model;
using Dsl.Generators.Parsing;

namespace Dsl.Generators.Ops;

/// <summary>GELU in its tanh approximation, 0.5x(1 + tanh(√(2/π)(x + 0.044715x³))): [Gelu], Ops.Gelu. cuBLASLt's GELU
/// epilogue computes the same function, so a Dense's product can fuse it on the GPU.</summary>
internal sealed class GeluTanh : ActivationOp
{
    public override string Name => "GeluTanh";

    public override bool DerivativeNeedsInput => Contracts.ActivationFacts.GeluTanhNeedsInput;

    public override string Method => "Gelu";

    public override string? Attribute => "GeluAttribute";

    public override bool Claims(LayerReader attribute) => !attribute.Bool("Exact", false);

    public override double InitGain => System.Math.Sqrt(2);

    public override InitFamily Family => InitFamily.ReluLike;

    public override bool CublasLtGelu => true;

    public override string Short => "gelu";

    public override string Kernel => "GeluTanh";

    public override string CudaDevice => """
        static __device__ inline float dsl_gelu(float x) { return x * dsl_sigmoid(1.59576912160573071f * x * (0.044715f * x * x + 1.0f)); }
        static __device__ inline float dsl_gelu_d(float x, float y)
        {
            (void)y;
            float x2 = x * x;
            float s = dsl_sigmoid(1.59576912160573071f * x * (0.044715f * x2 + 1.0f));
            float du = 1.59576912160573071f * (0.134145f * x2 + 1.0f);
            return s + x * s * (1.0f - s) * du;
        }
        """;

    public override string CudaForward(string x, OpOptions? options) => $"dsl_gelu({x})";

    public override string CudaDerivative(string x, string y, OpOptions? options) => $"dsl_gelu_d({x}, {y})";
}

/// <summary>GELU, exact: 0.5x(1 + erf(x/√2)): [Gelu(Exact = true)], Ops.GeluExact.</summary>
internal sealed class GeluErf : ActivationOp
{
    public override string Name => "GeluErf";

    public override bool DerivativeNeedsInput => Contracts.ActivationFacts.GeluErfNeedsInput;

    public override string Method => "GeluExact";

    public override string? Attribute => "GeluAttribute";

    public override bool Claims(LayerReader attribute) => attribute.Bool("Exact", false);

    public override double InitGain => System.Math.Sqrt(2);

    public override InitFamily Family => InitFamily.ReluLike;

    public override string Short => "gelu_erf";

    public override string Kernel => "GeluErf";

    public override string CudaDevice => """
        static __device__ inline float dsl_gelu_erf(float x) { return x * (0.5f + 0.5f * DSL_ERFF(x * 0.707106781186547524f)); }
        static __device__ inline float dsl_gelu_erf_d(float x, float y)
        {
            (void)y;
            return (0.5f + 0.5f * DSL_ERFF(x * 0.707106781186547524f)) + x * 0.398942280401432678f * DSL_EXPF(-0.5f * x * x);
        }
        """;

    public override string CudaForward(string x, OpOptions? options) => $"dsl_gelu_erf({x})";

    public override string CudaDerivative(string x, string y, OpOptions? options) => $"dsl_gelu_erf_d({x}, {y})";
}
