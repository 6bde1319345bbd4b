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

/// <summary>RMS normalisation x/√(mean(x²) + ε), times a learned gain unless Gain is false (RoFormerV2 drops it):
/// [RmsNorm(Gain = …, Epsilon = …)], ε ≥ 0. The kernel is Dsl.Kernels.RmsNorm; the eager reference Eager.RmsNorm.</summary>
internal sealed class RmsNorm : Op
{
    public override string Name => "RmsNorm";

    public override string? Attribute => "RmsNormAttribute";

    /// <summary>An RMSNorm's options.</summary>
    /// <param name="Gain">A learned per-feature gain.</param>
    /// <param name="Epsilon">ε inside the square root.</param>
    internal sealed record Options(bool Gain, double Epsilon) : OpOptions;

    /// <summary>What the forward keeps for the backward: per row 1/rms.</summary>
    private sealed record Statistics(int Rstd);

    public override (int In, int Out, OpOptions? Options) ReadLayer(LayerReader attribute)
    {
        bool gain = attribute.Bool("Gain", true);
        double epsilon = attribute.Double("Epsilon", 1e-6);
        if (!(epsilon >= 0)) attribute.Report(DiagnosticCatalog.LayerArgument, "Epsilon", attribute.Path, "Epsilon", ">= 0", LayerReader.Format(epsilon));
        return (0, 0, new Options(gain, epsilon));
    }

    public override int InferShape(ShapeContext shapes, NodeSpec node, LayerSpec? layer)
    {
        int incoming = shapes.In(node, 0);
        if (incoming >= 0 && shapes.FirstUse(node, layer!, incoming)) shapes.Resolve(layer! with { In = incoming, Out = incoming });
        return incoming;
    }

    public override bool Normalizes => true;

    public override bool HasParameters(LayerSpec? layer) => layer?.OptionsAs<Options>()?.Gain == true;

    public override void PlanParameters(PlanBuilder plan, LayerSpec layer)
    {
        var o = layer.OptionsAs<Options>()!;
        int gain = o.Gain ? plan.AddParameter(layer.Path + ".weight", layer.Path, 1, layer.In, false, InitKind.Ones, 0) : -1;
        plan.Bind(layer.Path, new RmsNormSlots(gain, layer.In, o.Epsilon));
    }

    public override void PlanValues(PlanBuilder plan, NodeSpec node)
    {
        string label = Label(node);
        plan.Value[node.Id] = plan.Allocate(label, plan.Rows, plan.Width(node));
        plan.State[node.Id] = new Statistics(plan.Allocate(label + " 1/rms", plan.Rows, 1));
    }

    private static int Gain(PlanBuilder plan, NodeSpec node)
    {
        var binding = plan.BindingOf(node.Layer)!;
        return RmsNormSlots.Read(binding.Ints, binding.Doubles).Gain;
    }

    public override PlanStep? Forward(PlanBuilder plan, NodeSpec node) =>
        new ForwardStep(node.Id, node.Layer, plan.Width(node), plan.LayerOf(node)!.OptionsAs<Options>()!.Epsilon, plan.InputValue(node), plan.Value[node.Id],
            Gain(plan, node), plan.StateOf<Statistics>(node.Id).Rstd);

    public override PlanStep? Backward(PlanBuilder plan, NodeSpec node)
    {
        int gain = Gain(plan, node);
        bool accumulateParams = plan.AccumulateParams(gain);
        int dx = plan.InputGrad(node);
        return new BackwardStep(node.Id, node.Layer, plan.Width(node), plan.InputValue(node), gain, gain >= 0 ? plan.GradientOffset + gain : -1,
            dx, plan.Grad[node.Id], dx >= 0 && !plan.Overwrites(dx), accumulateParams, plan.StateOf<Statistics>(node.Id).Rstd);
    }

    public override string Describe(LayerSpec layer, ModelSpec model)
    {
        var o = layer.OptionsAs<Options>()!;
        return $"RMSNorm {Int(layer.In)}{(o.Gain ? "" : ", no gain")}, ε = {Double(o.Epsilon)}";
    }

    /// <summary>Y = X/√(mean(X²) + ε) (⊙ Gain); Rstd kept.</summary>
    internal sealed record ForwardStep(int Node, string Layer, int Width, double Epsilon, int X, int Y, int Gain, int Rstd) : PlanStep(Node, Layer)
    {
        public override void Cpu(CpuWriter w)
        {
            string n = $"rows * {Int(Width)}";
            w.Line($"// {Layer}: y = x / √(mean(x²) + ε){(Gain >= 0 ? " ⊙ g" : "")}, ε = {Double(Epsilon)}");
            w.Line($"{CpuWriter.Kernels}.RmsNorm.Forward<T>({w.Span(X, n)}, rows, {Int(Width)}, {(Gain >= 0 ? w.Span(Gain, Int(Width)) : CpuWriter.EmptyReadOnly)}, {OfT(Epsilon)}, {w.Span(Y, n)}, {w.Span(Rstd, "rows")});");
        }

        public override void Cuda(CudaWriter w) => RowNorm.Forward(w, Layer, centred: false, Width, Epsilon, X, -1, -1, Y, Gain, -1, -1, Rstd);
    }

    /// <summary>DX (+)= RMSNorm′ᵀ·DY; ∂g (+)= row sums.</summary>
    internal sealed record BackwardStep(int Node, string Layer, int Width, int X, int Gain, int GGain, int DX, int DY, bool AccumulateDX, bool AccumulateParams, int Rstd)
        : PlanStep(Node, Layer)
    {
        public override System.Collections.Generic.IReadOnlyList<(int Start, int Length)>? GradientWrites(ModelPlan plan) =>
            GGain >= 0 ? new[] { (GGain, Width) } : System.Array.Empty<(int, int)>();

        public override void Cpu(CpuWriter w)
        {
            string n = $"rows * {Int(Width)}";
            w.Line($"// {Layer} backward — forward: y = x/r{(Gain >= 0 ? " ⊙ g" : "")}, r = √(mean(x²) + ε); ∂x {CpuWriter.Op(AccumulateDX)} (ĝ − y·mean(ĝ⊙x/r))/r with ĝ = {(Gain >= 0 ? "g⊙" : "")}∂y");
            w.Line($"{CpuWriter.Kernels}.RmsNorm.Backward<T>({w.Span(X, n)}, {w.Span(DY, n)}, rows, {Int(Width)}, {(Gain >= 0 ? w.Span(Gain, Int(Width)) : CpuWriter.EmptyReadOnly)}, {w.Span(Rstd, "rows")},");
            w.Line($"    {(DX >= 0 ? w.Span(DX, n) : CpuWriter.Empty)}, {Bool(AccumulateDX)}, {(GGain >= 0 ? w.Span(GGain, Int(Width)) : CpuWriter.Empty)}, {Bool(AccumulateParams)});");
        }

        public override void Cuda(CudaWriter w) => RowNorm.Backward(w, Layer, centred: false, Width, X, Gain, GGain, -1, DX, DY, -1, Rstd, AccumulateDX, AccumulateParams);
    }
}
