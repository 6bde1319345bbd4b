using Dsl.Generators.Diagnostics;
using Dsl.Generators.Model;
using Dsl.Generators.Parsing;
using static Dsl.Generators.Emit.Literals;

namespace Dsl.Generators.Ops;

/// <summary>SquarePlus (Barron 2021): (x + √(x² + b))/2 with b &gt; 0 (default 4; DSL301 otherwise): [SquarePlus(B = …)],
/// Ops.SquarePlus(x, b). b rides in the kernel struct and as a CUDA constant.</summary>
internal sealed class SquarePlus : ActivationOp
{
    /// <summary>The default b, as JAX's and Keras's squareplus.</summary>
    private const double DefaultB = 4;

    public override string Name => "SquarePlus";

    public override bool DerivativeNeedsInput => Contracts.ActivationFacts.SquarePlusNeedsInput;

    public override string? Attribute => "SquarePlusAttribute";

    public override double InitGain => System.Math.Sqrt(2);

    public override InitFamily Family => InitFamily.ReluLike;

    public override string Short => "squareplus";

    public override string Kernel => "SquarePlus";

    /// <summary>The smoothing constant.</summary>
    internal sealed record Options(double B) : OpOptions;

    private static double B(OpOptions? options) => (options as Options)?.B ?? DefaultB;

    public override (int In, int Out, OpOptions? Options) ReadLayer(LayerReader attribute)
    {
        double b = attribute.Double("B", DefaultB);
        if (!(b > 0)) attribute.Report(DiagnosticCatalog.SquarePlusB, "B", attribute.Path, LayerReader.Format(b));
        return (0, 0, new Options(b));
    }

    public override int ReadCall(CallReader call)
    {
        double b = DefaultB;
        if (call.Count > 1)
        {
            double? constant = call.Constant(1);
            if (constant is null)
            {
                call.ReportArgument(1, DiagnosticCatalog.UnsupportedConstruct, $"the non-constant SquarePlus b '{call.Text(1)}'");
                return -1;
            }

            b = constant.Value;
            if (!(b > 0)) call.ReportArgument(1, DiagnosticCatalog.SquarePlusB, "Ops.SquarePlus", LayerReader.Format(b));
        }

        int input = call.Node(0);
        return input < 0 ? -1 : call.AddNode(Name, new[] { input }, new Options(b));
    }

    public override string KernelValue(OpOptions? options) => $"new {KernelType}({OfT(B(options))})";

    public override string CudaDevice => """
        static __device__ inline float dsl_squareplus(float x, float b) { float s = DSL_SQRTF(x * x + b); return x < 0.0f ? b / ((s - x) + (s - x)) : (x + s) * 0.5f; }
        static __device__ inline float dsl_squareplus_d(float x, float y, float b) { float s = DSL_SQRTF(x * x + b); return s == 0.0f ? 0.0f : y / s; }
        """;

    public override string CudaForward(string x, OpOptions? options) => $"dsl_squareplus({x}, {Emit.CudaLiterals.Float(B(options))})";

    public override string CudaDerivative(string x, string y, OpOptions? options) => $"dsl_squareplus_d({x}, {y}, {Emit.CudaLiterals.Float(B(options))})";

    public override string EagerCall(string x, OpOptions? options) => $"global::Dsl.Ops.SquarePlus({x}, {Double(B(options))})";

    public override string Describe(LayerSpec layer, ModelSpec model) => $"SquarePlus b = {Double(B(layer.Options))}";
}
