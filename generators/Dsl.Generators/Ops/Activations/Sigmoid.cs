namespace Dsl.Generators.Ops;

/// <summary>The logistic sigmoid σ(x) = 1/(1 + e⁻ˣ); σ′ = y(1 − y) needs only y.</summary>
internal sealed class Sigmoid : ActivationOp
{
    public override string Name => "Sigmoid";

    public override string? Attribute => "SigmoidAttribute";

    public override bool DerivativeNeedsInput => Contracts.ActivationFacts.SigmoidNeedsInput;

    public override string Short => "σ";

    public override string CudaShort => "sigmoid";

    public override string Kernel => "Sigmoid";

    public override string CudaDevice => """
        static __device__ inline float dsl_sigmoid_d(float x, float y) { (void)x; return y * (1.0f - y); }
        """;

    public override string CudaForward(string x, Model.OpOptions? options) => $"dsl_sigmoid({x})";

    public override string CudaDerivative(string x, string y, Model.OpOptions? options) => $"dsl_sigmoid_d({x}, {y})";
}
