using Dsl.Generators.Emit;
using Dsl.Generators.Emit.Cuda;
using Dsl.Generators.Model;
using Dsl.Generators.Planning;
using static Dsl.Generators.Emit.Literals;

namespace Dsl.Generators.Ops;

/// <summary>A product by a constant, s·x (written <c>x * 0.5</c>; also a DeepNorm skip's α·x).</summary>
internal sealed class Scale : Op
{
    public const string Key = "Scale";

    public override string Name => Key;

    /// <summary>The constant factor.</summary>
    internal sealed record Options(double Factor) : OpOptions;

    public override string Label(NodeSpec node) => node.Layer.Length == 0 ? $"scale#{Int(node.Id)}" : base.Label(node);

    public override PlanStep? Forward(PlanBuilder plan, NodeSpec node) =>
        new ForwardStep(node.Id, node.Layer, plan.Width(node), node.OptionsAs<Options>()!.Factor, plan.InputValue(node), plan.Value[node.Id]);

    public override PlanStep? Backward(PlanBuilder plan, NodeSpec node)
    {
        int dx = plan.InputGrad(node);
        if (dx < 0) return null;
        return new BackwardStep(node.Id, node.Layer, plan.Width(node), node.OptionsAs<Options>()!.Factor, dx, plan.Grad[node.Id], !plan.Overwrites(dx));
    }

    /// <summary>Y = s·X.</summary>
    internal sealed record ForwardStep(int Node, string Layer, int Width, double Factor, int X, int Y) : PlanStep(Node, Layer)
    {
        public override void Cpu(CpuWriter w)
        {
            string n = $"rows * {Int(Width)}";
            w.Line($"// y = {Double(Factor)} · x");
            w.Line($"{CpuWriter.Kernels}.Elementwise.Scale<T>({w.Span(X, n)}, {OfT(Factor)}, {w.Span(Y, n)});");
        }

        public override void Cuda(CudaWriter w) =>
            w.Elementwise($"{w.Prefix}_scale", $"y = {Double(Factor)}·x", Width, false, $"arena[{Int(Y)} + i] = {CudaLiterals.Float(Factor)} * arena[{Int(X)} + i];");
    }

    /// <summary>DX (+)= s·DY.</summary>
    internal sealed record BackwardStep(int Node, string Layer, int Width, double Factor, int DX, int DY, bool AccumulateDX) : PlanStep(Node, Layer)
    {
        public override void Cpu(CpuWriter w)
        {
            string n = $"rows * {Int(Width)}";
            w.Line($"// scale backward — forward: y = {Double(Factor)}·x; ∂x {CpuWriter.Op(AccumulateDX)} {Double(Factor)}·∂y");
            w.Line(AccumulateDX
                ? $"{CpuWriter.Kernels}.Elementwise.ScaleAdd<T>({w.Span(DY, n)}, {OfT(Factor)}, {w.Span(DX, n)});"
                : $"{CpuWriter.Kernels}.Elementwise.Scale<T>({w.Span(DY, n)}, {OfT(Factor)}, {w.Span(DX, n)});");
        }

        public override void Cuda(CudaWriter w) =>
            w.Elementwise($"{w.Prefix}_scale_backward", $"scale backward: ∂x {CudaWriter.Op(AccumulateDX)} {Double(Factor)}·∂y", Width, false,
                $"const float g = {CudaLiterals.Float(Factor)} * arena[{Int(DY)} + i];", CudaWriter.Store(DX, "g", AccumulateDX));
    }
}
