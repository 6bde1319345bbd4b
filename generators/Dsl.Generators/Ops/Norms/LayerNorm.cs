using Dsl.Contracts;
using Dsl.Generators.Diagnostics;
using Dsl.Generators.Emit;
using Dsl.Generators.Emit.Cuda;
using Dsl.Generators.Model;
using Dsl.Generators.Parsing;
using Dsl.Generators.Planning;
using Dsl.Generators.Shapes;
using static Dsl.Generators.Emit.Literals;

namespace Dsl.Generators.Ops;

/// <summary>Layer normalisation over each row's features, (x − μ)/√(σ² + ε) ⊙ γ + β ([LayerNorm(Bias = …, Epsilon = …)],
/// ε &gt; 0). When it is the first reader of a residual add it computes the sum in the same pass, keeping it (the
/// residual stream).</summary>
internal sealed class LayerNorm : Op
{
    public override string Name => "LayerNorm";

    public override string? Attribute => "LayerNormAttribute";

    /// <summary>A LayerNorm's options.</summary>
    /// <param name="Bias">A learned β.</param>
    /// <param name="Epsilon">ε inside the square root.</param>
    internal sealed record Options(bool Bias, double Epsilon) : OpOptions;

    /// <summary>What the forward keeps for the backward: per row μ and 1/σ.</summary>
    private sealed record Statistics(int Mean, int Rstd);

    public override (int In, int Out, OpOptions? Options) ReadLayer(LayerReader attribute)
    {
        bool bias = attribute.Bool("Bias", true);
        double epsilon = attribute.Double("Epsilon", 1e-5);
        if (!(epsilon > 0)) attribute.Report(DiagnosticCatalog.LayerArgument, "Epsilon", attribute.Path, "Epsilon", "> 0", LayerReader.Format(epsilon));
        return (0, 0, new Options(bias, epsilon));
    }

    public override int InferShape(ShapeContext shapes, NodeSpec node, LayerSpec? layer)
    {
        int incoming = shapes.In(node, 0);
        if (incoming >= 0 && shapes.FirstUse(node, layer!, incoming)) shapes.Resolve(layer! with { In = incoming, Out = incoming });
        return incoming;
    }

    public override bool Normalizes => true;

    public override bool AbsorbsResidualAdd => true;

    public override bool HasParameters(LayerSpec? layer) => true;

    public override void PlanParameters(PlanBuilder plan, LayerSpec layer)
    {
        var o = layer.OptionsAs<Options>()!;
        int gamma = plan.AddParameter(layer.Path + ".weight", layer.Path, 1, layer.In, false, InitKind.Ones, 0);
        int beta = o.Bias ? plan.AddParameter(layer.Path + ".bias", layer.Path, 1, layer.In, false, InitKind.Zeros, 0) : -1;
        plan.Bind(layer.Path, new LayerNormSlots(gamma, beta, layer.In, o.Epsilon));
    }

    public override void PlanValues(PlanBuilder plan, NodeSpec node)
    {
        string label = Label(node);
        plan.Value[node.Id] = plan.Allocate(label, plan.Rows, plan.Width(node));
        plan.State[node.Id] = new Statistics(plan.Allocate(label + " mean", plan.Rows, 1), plan.Allocate(label + " 1/σ", plan.Rows, 1));
    }

    private static LayerNormSlots Slots(PlanBuilder plan, NodeSpec node)
    {
        var binding = plan.BindingOf(node.Layer)!;
        return LayerNormSlots.Read(binding.Ints, binding.Doubles);
    }

    public override PlanStep? Forward(PlanBuilder plan, NodeSpec node)
    {
        var b = Slots(plan, node);
        var stats = plan.StateOf<Statistics>(node.Id);
        var input = plan.Model.Nodes[node.Inputs[0]];
        bool fused = OpRegistry.Get(input.Op).IsResidualAdd && plan.AddIntoNorm[input.Id] == node.Id;
        int x = plan.InputValue(node);
        // Fused: x = first addend, x2 = second addend, sum = the residual sum (written), y = LN(sum).
        return new ForwardStep(node.Id, node.Layer, plan.Width(node), plan.LayerOf(node)!.OptionsAs<Options>()!.Epsilon,
            fused ? plan.InputValue(input, 0) : x, fused ? plan.InputValue(input, 1) : -1, fused ? x : -1, plan.Value[node.Id], b.Gamma, b.Beta, stats.Mean, stats.Rstd);
    }

    public override PlanStep? Backward(PlanBuilder plan, NodeSpec node)
    {
        var b = Slots(plan, node);
        var stats = plan.StateOf<Statistics>(node.Id);
        int gamma = b.Gamma, beta = b.Beta, g = plan.GradientOffset;
        bool accumulateParams = plan.AccumulateParams(gamma);
        if (beta >= 0 && !accumulateParams) plan.ParamsWritten(beta);
        int dx = plan.InputGrad(node);
        return new BackwardStep(node.Id, node.Layer, plan.Width(node), plan.InputValue(node), gamma, beta, g + gamma, beta >= 0 ? g + beta : -1,
            dx, plan.Grad[node.Id], dx >= 0 && !plan.Overwrites(dx), accumulateParams, stats.Mean, stats.Rstd);
    }

    public override string Describe(LayerSpec layer, ModelSpec model)
    {
        var o = layer.OptionsAs<Options>()!;
        return $"LayerNorm {Int(layer.In)}{(o.Bias ? "" : ", no bias")}, ε = {Double(o.Epsilon)}";
    }

    /// <summary>Y = LayerNorm(X), or, fused, Sum ← X + X2 then Y = LayerNorm(Sum); Mean and Rstd kept.</summary>
    internal sealed record ForwardStep(int Node, string Layer, int Width, double Epsilon, int X, int X2, int Sum, int Y, int Gain, int Bias, int Mean, int Rstd)
        : PlanStep(Node, Layer)
    {
        public override void Cpu(CpuWriter w)
        {
            string n = $"rows * {Int(Width)}";
            string gamma = w.Span(Gain, Int(Width)), beta = Bias >= 0 ? w.Span(Bias, Int(Width)) : CpuWriter.EmptyReadOnly;
            if (Sum >= 0)
            {
                w.Line($"// {Layer}: residual add fused with LayerNorm: s = x₁ + x₂ (kept: the residual stream), y = (s − μ)/√(σ² + ε) ⊙ γ{(Bias >= 0 ? " + β" : "")}");
                w.Line($"{CpuWriter.Kernels}.LayerNorm.AddForward<T>({w.Span(X, n)}, {w.Span(X2, n)}, {w.Span(Sum, n)}, rows, {Int(Width)}, {gamma}, {beta}, {OfT(Epsilon)}, {w.Span(Y, n)}, {w.Span(Mean, "rows")}, {w.Span(Rstd, "rows")});");
            }
            else
            {
                w.Line($"// {Layer}: y = (x − μ)/√(σ² + ε) ⊙ γ{(Bias >= 0 ? " + β" : "")}, ε = {Double(Epsilon)}");
                w.Line($"{CpuWriter.Kernels}.LayerNorm.Forward<T>({w.Span(X, n)}, rows, {Int(Width)}, {gamma}, {beta}, {OfT(Epsilon)}, {w.Span(Y, n)}, {w.Span(Mean, "rows")}, {w.Span(Rstd, "rows")});");
            }
        }

        public override void Cuda(CudaWriter w) => RowNorm.Forward(w, Layer, centred: true, Width, Epsilon, X, X2, Sum, Y, Gain, Bias, Mean, Rstd);
    }

    /// <summary>DX (+)= LayerNorm′ᵀ·DY; ∂γ, ∂β (+)= row sums.</summary>
    internal sealed record BackwardStep(int Node, string Layer, int Width, int X, int Gain, int Bias, int GGain, int GBias, int DX, int DY, bool AccumulateDX,
        bool AccumulateParams, int Mean, int Rstd) : PlanStep(Node, Layer)
    {
        public override System.Collections.Generic.IReadOnlyList<(int Start, int Length)>? GradientWrites(ModelPlan plan) =>
            GBias >= 0 ? new[] { (GGain, Width), (GBias, Width) } : new[] { (GGain, Width) };

        public override void Cpu(CpuWriter w)
        {
            string n = $"rows * {Int(Width)}";
            string op(bool accumulate) => CpuWriter.Op(accumulate);
            w.Line($"// {Layer} backward — forward: y = (x − μ)/√(σ² + ε) ⊙ γ{(Bias >= 0 ? " + β" : "")}; ∂x {op(AccumulateDX)} (γ⊙∂y − mean(γ⊙∂y) − x̂·mean(γ⊙∂y⊙x̂))/σ; ∂γ {op(AccumulateParams)} Σ ∂y⊙x̂");
            w.Line($"{CpuWriter.Kernels}.LayerNorm.Backward<T>({w.Span(X, n)}, {w.Span(DY, n)}, rows, {Int(Width)}, {w.Span(Gain, Int(Width))}, {w.Span(Mean, "rows")}, {w.Span(Rstd, "rows")},");
            w.Line($"    {(DX >= 0 ? w.Span(DX, n) : CpuWriter.Empty)}, {Bool(AccumulateDX)}, {w.Span(GGain, Int(Width))}, {(GBias >= 0 ? w.Span(GBias, Int(Width)) : CpuWriter.Empty)}, {Bool(AccumulateParams)});");
        }

        public override void Cuda(CudaWriter w) => RowNorm.Backward(w, Layer, centred: true, Width, X, Gain, GGain, GBias, DX, DY, Mean, Rstd, AccumulateDX, AccumulateParams);
    }
}
