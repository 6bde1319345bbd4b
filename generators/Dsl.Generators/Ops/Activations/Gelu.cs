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

    public override string CudaForward(string x, OpOptions? options) => $"dsl_gelu_erf({x})";

    public override string CudaDerivative(string x, string y, OpOptions? options) => $"dsl_gelu_erf_d({x}, {y})";
}
