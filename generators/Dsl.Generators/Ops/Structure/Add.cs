using Dsl.Generators.Diagnostics;
using Dsl.Generators.Emit;
using Dsl.Generators.Emit.Cuda;
using Dsl.Generators.Model;
using Dsl.Generators.Planning;
using Dsl.Generators.Shapes;
using static Dsl.Generators.Emit.Literals;

namespace Dsl.Generators.Ops;

/// <summary>A residual add x₁ + x₂ (written <c>a + b</c> in a forward): both widths must agree (DSL202). A norm that
/// first reads the sum may compute it in its own pass (LayerNorm), and then this step is not scheduled.</summary>
internal sealed class Add : Op
{
    public const string Key = "Add";

    public override string Name => Key;

    public override bool IsResidualAdd => true;

    public override int InferShape(ShapeContext shapes, NodeSpec node, LayerSpec? layer)
    {
        int a = shapes.In(node, 0), b = shapes.In(node, 1);
        if (a >= 0 && b >= 0 && a != b)
        {
            shapes.Error(DiagnosticCatalog.AddShapeMismatch, Site.Node(node.Id), a, b);
            return -1;
        }

        return a >= 0 ? a : b;
    }

    public override string Label(NodeSpec node) => $"add#{Int(node.Id)}";

    public override PlanStep? Forward(PlanBuilder plan, NodeSpec node) =>
        plan.AddIntoNorm[node.Id] >= 0 ? null // computed by the norm that reads it
        : new ForwardStep(node.Id, node.Layer, plan.Width(node), plan.InputValue(node, 0), plan.InputValue(node, 1), plan.Value[node.Id]);

    public override PlanStep? Backward(PlanBuilder plan, NodeSpec node)
    {
        int da = plan.InputGrad(node, 0), db = plan.InputGrad(node, 1);
        bool accumulateA = da >= 0 && !plan.Overwrites(da);
        bool accumulateB = db >= 0 && !plan.Overwrites(db);
        return new BackwardStep(node.Id, node.Layer, plan.Width(node), da, db, plan.Grad[node.Id], accumulateA, accumulateB);
    }

    /// <summary>Y = X + X2.</summary>
    internal sealed record ForwardStep(int Node, string Layer, int Width, int X, int X2, int Y) : PlanStep(Node, Layer)
    {
        public override void Cpu(CpuWriter w)
        {
            string n = $"rows * {Int(Width)}";
            w.Line("// residual: y = x₁ + x₂");
            w.Line($"{CpuWriter.Kernels}.Elementwise.Add<T>({w.Span(X, n)}, {w.Span(X2, n)}, {w.Span(Y, n)});");
        }

        public override void Cuda(CudaWriter w) =>
            w.Elementwise($"{w.Prefix}_add", "residual: y = x₁ + x₂", Width, false, $"arena[{Int(Y)} + i] = arena[{Int(X)} + i] + arena[{Int(X2)} + i];");
    }

    /// <summary>DX (+)= DY; DX2 (+)= DY.</summary>
    internal sealed record BackwardStep(int Node, string Layer, int Width, int DX, int DX2, int DY, bool AccumulateDX, bool AccumulateDX2) : PlanStep(Node, Layer)
    {
        public override void Cpu(CpuWriter w)
        {
            string n = $"rows * {Int(Width)}";
            w.Line("// residual backward — forward: y = x₁ + x₂; ∂x₁ and ∂x₂ receive ∂y");
            foreach (var (dx, accumulate) in new[] { (DX, AccumulateDX), (DX2, AccumulateDX2) })
            {
                if (dx < 0) continue;
                w.Line(accumulate
                    ? $"{CpuWriter.Kernels}.Elementwise.AddInPlace<T>({w.Span(dx, n)}, {w.Span(DY, n)});"
                    : $"{w.Span(DY, n)}.CopyTo({w.Span(dx, n)});");
            }
        }

        public override void Cuda(CudaWriter w)
        {
            var body = new System.Collections.Generic.List<string> { $"const float g = arena[{Int(DY)} + i];" };
            if (DX >= 0) body.Add(CudaWriter.Store(DX, "g", AccumulateDX));
            if (DX2 >= 0) body.Add(CudaWriter.Store(DX2, "g", AccumulateDX2));
            w.Elementwise($"{w.Prefix}_add_backward", $"residual backward: ∂x₁ {CudaWriter.Op(AccumulateDX)} ∂y, ∂x₂ {CudaWriter.Op(AccumulateDX2)} ∂y", Width, false, body.ToArray());
        }
    }
}
