using Dsl.Contracts;
using Dsl.Generators.Emit;
using Dsl.Generators.Emit.Cuda;
using Dsl.Generators.Model;
using Dsl.Generators.Planning;
using Dsl.Generators.Shapes;
using static Dsl.Generators.Emit.Literals;

namespace Dsl.Generators.Ops;

/// <summary>A learned absolute position embedding y[b, t] = x[b, t] + P[t], P of shape [Sequence, width]
/// ([PositionEmbedding]; the model needs Sequence &gt; 1).</summary>
internal sealed class PositionEmbedding : Op
{
    public override string Name => "PositionEmbedding";

    public override string? Attribute => "PositionEmbeddingAttribute";

    public override bool NeedsSequence => true;

    public override int InferShape(ShapeContext shapes, NodeSpec node, LayerSpec? layer)
    {
        int incoming = shapes.In(node, 0);
        if (incoming >= 0 && shapes.FirstUse(node, layer!, incoming)) shapes.Resolve(layer! with { In = incoming, Out = incoming });
        return incoming;
    }

    public override bool HasParameters(LayerSpec? layer) => true;

    public override void PlanParameters(PlanBuilder plan, LayerSpec layer)
    {
        int table = plan.AddParameter(layer.Path + ".weight", layer.Path, plan.Model.Sequence, layer.In, true, InitKind.Normal, plan.Std > 0 ? plan.Std : 1);
        plan.Bind(layer.Path, new PositionEmbeddingSlots(table, plan.Model.Sequence, layer.In));
    }

    private static int Table(PlanBuilder plan, NodeSpec node) => PositionEmbeddingSlots.Read(plan.BindingOf(node.Layer)!.Ints).Table;

    public override PlanStep? Forward(PlanBuilder plan, NodeSpec node) =>
        new ForwardStep(node.Id, node.Layer, plan.Width(node), plan.InputValue(node), plan.Value[node.Id], Table(plan, node));

    public override PlanStep? Backward(PlanBuilder plan, NodeSpec node)
    {
        int table = Table(plan, node);
        int dx = plan.InputGrad(node);
        bool accumulateDx = dx >= 0 && !plan.Overwrites(dx);
        return new BackwardStep(node.Id, node.Layer, plan.Width(node), plan.GradientOffset + table, dx, plan.Grad[node.Id], accumulateDx, plan.AccumulateParams(table));
    }

    public override string Describe(LayerSpec layer, ModelSpec model) => $"learned positions [{Int(model.Sequence)}, {Int(layer.In)}]";

    /// <summary>Y[b, t] = X[b, t] + P[t].</summary>
    internal sealed record ForwardStep(int Node, string Layer, int Width, int X, int Y, int W) : PlanStep(Node, Layer)
    {
        public override void Cpu(CpuWriter w)
        {
            string n = $"rows * {Int(Width)}";
            w.Line($"// {Layer}: learned positions: y[b, t] = x[b, t] + P[t]");
            w.Line($"{CpuWriter.Kernels}.PositionEmbedding.Forward<T>({w.Span(X, n)}, {w.Span(W, $"Sequence * {Int(Width)}")}, rows, Sequence, {Int(Width)}, {w.Span(Y, n)});");
        }

        public override void Cuda(CudaWriter w)
        {
            w.W.Line($"/* ==== {Layer}: learned positions: y[b, t] = x[b, t] + P[t] ==== */");
            w.Elementwise($"{w.Prefix}_position", $"{Layer}: y[b, t] = x[b, t] + P[t]", Width, false,
                $"const int t = (i / {Int(Width)}) % {Int(w.Sequence)};",
                $"arena[{Int(Y)} + i] = arena[{Int(X)} + i] + arena[{Int(W)} + t * {Int(Width)} + c];");
        }
    }

    /// <summary>DX (+)= DY; ∂P[t] (+)= Σ_b DY[b, t].</summary>
    internal sealed record BackwardStep(int Node, string Layer, int Width, int GW, int DX, int DY, bool AccumulateDX, bool AccumulateParams) : PlanStep(Node, Layer)
    {
        public override System.Collections.Generic.IReadOnlyList<(int Start, int Length)>? GradientWrites(ModelPlan plan) => new[] { (GW, plan.Model.Sequence * Width) };

        public override void Cpu(CpuWriter w)
        {
            string n = $"rows * {Int(Width)}";
            w.Line($"// {Layer} backward — forward: y[b, t] = x[b, t] + P[t]; ∂P[t] {CpuWriter.Op(AccumulateParams)} Σ_b ∂y[b, t]; ∂x {CpuWriter.Op(AccumulateDX)} ∂y");
            w.Line($"{CpuWriter.Kernels}.PositionEmbedding.Backward<T>({w.Span(DY, n)}, rows, Sequence, {Int(Width)}, {w.Span(GW, $"Sequence * {Int(Width)}")}, {Bool(AccumulateParams)});");
            if (DX >= 0)
                w.Line(AccumulateDX ? $"{CpuWriter.Kernels}.Elementwise.AddInPlace<T>({w.Span(DX, n)}, {w.Span(DY, n)});" : $"{w.Span(DY, n)}.CopyTo({w.Span(DX, n)});");
        }

        public override void Cuda(CudaWriter w)
        {
            int sequence = w.Sequence;
            w.Elementwise($"{w.Prefix}_position_backward", $"{Layer} backward: ∂P[t] {CudaWriter.Op(AccumulateParams)} Σ_b ∂y[b, t]", sequence * Width, true,
                "float sum = 0.0f;",
                $"for (int b = 0; b < args.batch; b++) sum += arena[{Int(DY)} + b * {Int(sequence * Width)} + i];",
                AccumulateParams ? $"arena[{Int(GW)} + i] += sum;" : $"arena[{Int(GW)} + i] = sum;");
            if (DX >= 0)
            {
                w.Elementwise($"{w.Prefix}_position_backward_input", $"{Layer} backward: ∂x {CudaWriter.Op(AccumulateDX)} ∂y", Width, false,
                    $"const float g = arena[{Int(DY)} + i];", CudaWriter.Store(DX, "g", AccumulateDX));
            }
        }
    }
}
