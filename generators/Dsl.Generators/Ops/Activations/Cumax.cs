using System.Collections.Generic;
using Dsl.Generators.Emit;
using Dsl.Generators.Emit.Cuda;
using Dsl.Generators.Model;
using Dsl.Generators.Parsing;
using Dsl.Generators.Planning;
using static Dsl.Generators.Emit.Literals;

namespace Dsl.Generators.Ops;

/// <summary>
/// cumax, the ON-LSTM master gate (Shen et al., ICLR 2019; SEEDS §1.1): y = cs→(softmax(x)) per row, the prefix sum of
/// the softmax over the features. Ops.Cumax(x). Not elementwise, so it never fuses into a product; its backward
/// transposes the prefix sum into a suffix sum, s = cs←(∂y), then takes the softmax backward, ∂x = p ⊙ (s − p·s), with
/// p recomputed from the saved input. The kernel is Dsl.Kernels.Cumax; the eager reference Dsl.Ops.Cumax.
/// </summary>
internal sealed class Cumax : Op
{
    public override string Name => "Cumax";

    public override IReadOnlyList<string> Methods => new[] { "Cumax" };

    public override int ReadCall(CallReader call)
    {
        int input = call.Node(0);
        return input < 0 ? -1 : call.AddNode(Name, new[] { input }, null);
    }

    public override PlanStep? Forward(PlanBuilder plan, NodeSpec node) =>
        new ForwardStep(node.Id, node.Layer, plan.Width(node), plan.InputValue(node), plan.Value[node.Id]);

    public override PlanStep? Backward(PlanBuilder plan, NodeSpec node)
    {
        int dx = plan.InputGrad(node);
        return dx < 0 ? null : new BackwardStep(node.Id, node.Layer, plan.Width(node), plan.InputValue(node), dx, plan.Grad[node.Id], !plan.Overwrites(dx));
    }

    /// <summary>The row's softmax denominator, in CUDA C: m = max x, sum = Σ e^(x − m), x the row at <paramref name="x"/>.</summary>
    private static string[] CudaSoftmax(int x, int width) => new[]
    {
        $"const int row = i * {Int(width)};",
        $"float m = arena[{Int(x)} + row];",
        $"for (int j = 1; j < {Int(width)}; j++) m = arena[{Int(x)} + row + j] > m ? arena[{Int(x)} + row + j] : m;",
        "float sum = 0.0f;",
        $"for (int j = 0; j < {Int(width)}; j++) sum += DSL_EXPF(arena[{Int(x)} + row + j] - m);",
        "const float inverse = 1.0f / sum;",
    };

    /// <summary>Y = cs→(softmax(X)) per row.</summary>
    internal sealed record ForwardStep(int Node, string Layer, int Width, int X, int Y) : PlanStep(Node, Layer)
    {
        public override void Cpu(CpuWriter w)
        {
            string n = $"rows * {Int(Width)}";
            w.Line($"// {Title}: y = cumax(x) = cs→(softmax(x)) per row of {Int(Width)}");
            w.Line($"{CpuWriter.Kernels}.Cumax.Forward<T>({w.Span(X, n)}, {w.Span(Y, n)}, rows, {Int(Width)});");
        }

        // One thread per row: the row is a scan, and master gates have tens of levels.
        public override void Cuda(CudaWriter w) =>
            w.Elementwise($"{w.Prefix}_cumax", $"{Title}: y = cumax(x) = cs→(softmax(x)), one thread per row", 1, false,
            [
                .. CudaSoftmax(X, Width),
                "float running = 0.0f;",
                $"for (int j = 0; j < {Int(Width)}; j++) {{ running += DSL_EXPF(arena[{Int(X)} + row + j] - m) * inverse; arena[{Int(Y)} + row + j] = running; }}",
            ]);
    }

    /// <summary>DX (+)= p ⊙ (cs←(DY) − p·cs←(DY)), p = softmax(X).</summary>
    internal sealed record BackwardStep(int Node, string Layer, int Width, int X, int DX, int DY, bool AccumulateDX) : PlanStep(Node, Layer)
    {
        public override void Cpu(CpuWriter w)
        {
            string n = $"rows * {Int(Width)}";
            w.Line($"// {Title} backward — forward: y = cs→(p), p = softmax(x); s = cs←(∂y), ∂x {CpuWriter.Op(AccumulateDX)} p ⊙ (s − p·s)");
            w.Line($"{CpuWriter.Kernels}.Cumax.Backward<T>({w.Span(X, n)}, {w.Span(DY, n)}, {w.Span(DX, n)}, rows, {Int(Width)}, {Bool(AccumulateDX)});");
        }

        public override void Cuda(CudaWriter w) =>
            w.Elementwise($"{w.Prefix}_cumax_backward", $"{Title} backward: s = cs←(∂y), ∂x {CudaWriter.Op(AccumulateDX)} p ⊙ (s − p·s), one thread per row", 1, false,
            [
                .. CudaSoftmax(X, Width),
                "float suffix = 0.0f, dot = 0.0f;",
                $"for (int k = {Int(Width - 1)}; k >= 0; k--) {{ suffix += arena[{Int(DY)} + row + k]; dot += DSL_EXPF(arena[{Int(X)} + row + k] - m) * inverse * suffix; }}",
                "suffix = 0.0f;",
                $"for (int k = {Int(Width - 1)}; k >= 0; k--) {{ suffix += arena[{Int(DY)} + row + k]; arena[{Int(DX)} + row + k] {CudaWriter.Op(AccumulateDX)} DSL_EXPF(arena[{Int(X)} + row + k] - m) * inverse * (suffix - dot); }}",
            ]);
    }
}
