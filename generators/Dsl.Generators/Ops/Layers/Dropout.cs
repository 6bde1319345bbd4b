using Dsl.Generators.Diagnostics;
using Dsl.Generators.Emit;
using Dsl.Generators.Emit.Cuda;
using Dsl.Generators.Model;
using Dsl.Generators.Parsing;
using Dsl.Generators.Planning;
using static Dsl.Generators.Emit.Literals;

namespace Dsl.Generators.Ops;

/// <summary>Inverted dropout in training, the identity otherwise: [Dropout(p)], p in [0, 1). The mask is a counter hash
/// of (seed, step, layer, index), the same on the CPU and the GPU and in the backward.</summary>
internal sealed class Dropout : Op
{
    public override string Name => "Dropout";

    public override string? Attribute => "DropoutAttribute";

    /// <summary>The rate p.</summary>
    internal sealed record Options(double Rate) : OpOptions;

    public override (int In, int Out, OpOptions? Options) ReadLayer(LayerReader attribute)
    {
        double rate = attribute.ConstructorDouble(0);
        if (!(rate >= 0 && rate < 1)) attribute.Report(DiagnosticCatalog.LayerArgument, "", attribute.Path, "the rate", "in [0, 1)", LayerReader.Format(rate));
        return (0, 0, new Options(rate));
    }

    public override PlanStep? Forward(PlanBuilder plan, NodeSpec node) =>
        new ForwardStep(node.Id, node.Layer, plan.Width(node), node.OptionsAs<Options>()!.Rate, plan.InputValue(node), plan.Value[node.Id], plan.LayerIndex(node.Layer));

    public override PlanStep? Backward(PlanBuilder plan, NodeSpec node)
    {
        int dx = plan.InputGrad(node);
        if (dx < 0) return null;
        return new BackwardStep(node.Id, node.Layer, plan.Width(node), node.OptionsAs<Options>()!.Rate, dx, plan.Grad[node.Id], !plan.Overwrites(dx), plan.LayerIndex(node.Layer));
    }

    public override string Describe(LayerSpec layer, ModelSpec model) => $"Dropout p = {Double(layer.OptionsAs<Options>()!.Rate)}";

    public override string EagerBody(LayerMemberSpec member, string? binding) => $"global::Dsl.Runtime.Eager.Dropout({member.ParameterName})";

    public override bool EagerWithoutBinding => true;

    /// <summary>⌈rate·2⁵³⌉: element i is kept iff (hash >> 11) ≥ threshold (Dsl.Kernels.Dropout's decision, in integers).</summary>
    private static ulong Threshold(double rate) => (ulong)System.Math.Ceiling(rate * (1UL << 53));

    /// <summary>Y = dropout(X) in training, a copy otherwise; the mask stream is the layer's index.</summary>
    internal sealed record ForwardStep(int Node, string Layer, int Width, double Rate, int X, int Y, int Stream) : PlanStep(Node, Layer)
    {
        public override void Cpu(CpuWriter w)
        {
            string n = $"rows * {Int(Width)}";
            w.Line($"// {Layer}: dropout p = {Double(Rate)} in training, identity otherwise");
            w.Line($"if (training) {CpuWriter.Kernels}.Dropout.Forward<T>({w.Span(X, n)}, {w.Span(Y, n)}, {Double(Rate)}, Seed, DropoutStream({Int(Stream)}), (ulong)FirstRow * {Int(Width)});");
            w.Line($"else {w.Span(X, n)}.CopyTo({w.Span(Y, n)});");
        }

        public override void Cuda(CudaWriter w)
        {
            string comment = $"{Layer}: dropout p = {Double(Rate)} in training (mask from seed and step), a copy otherwise";
            if (Rate == 0)
            {
                w.Elementwise($"{w.Prefix}_dropout", comment, Width, false, $"arena[{Int(Y)} + i] = arena[{Int(X)} + i];");
                return;
            }

            w.Elementwise($"{w.Prefix}_dropout", comment, Width, false,
                $"const float x = arena[{Int(X)} + i];",
                $"const unsigned long long key = dsl_stream_key(args.seed, (args.dropoutStep << 12) | {Int(Stream)}ULL);",
                $"arena[{Int(Y)} + i] = !args.training ? x : dsl_keep(key, i, {CudaLiterals.ULong(Threshold(Rate))}) ? x * {CudaLiterals.Float(1.0 / (1.0 - Rate))} : 0.0f;");
        }
    }

    /// <summary>DX (+)= mask ⊙ DY / (1 − p).</summary>
    internal sealed record BackwardStep(int Node, string Layer, int Width, double Rate, int DX, int DY, bool AccumulateDX, int Stream) : PlanStep(Node, Layer)
    {
        public override void Cpu(CpuWriter w)
        {
            string n = $"rows * {Int(Width)}";
            w.Line($"// {Layer} backward — forward: y = mask ⊙ x/(1 − p); ∂x {CpuWriter.Op(AccumulateDX)} mask ⊙ ∂y/(1 − p), same mask");
            w.Line($"{CpuWriter.Kernels}.Dropout.Backward<T>({w.Span(DY, n)}, {w.Span(AccumulateDX ? DY : DX, n)}, {Double(Rate)}, Seed, DropoutStream({Int(Stream)}), (ulong)FirstRow * {Int(Width)});");
            if (AccumulateDX) w.Line($"{CpuWriter.Kernels}.Elementwise.AddInPlace<T>({w.Span(DX, n)}, {w.Span(DY, n)});");
        }

        public override void Cuda(CudaWriter w)
        {
            string comment = $"{Layer} backward: ∂x {CudaWriter.Op(AccumulateDX)} mask ⊙ ∂y/(1 − p), the forward's mask";
            if (Rate == 0)
            {
                w.Elementwise($"{w.Prefix}_dropout_backward", comment, Width, false, $"const float g = arena[{Int(DY)} + i];", CudaWriter.Store(DX, "g", AccumulateDX));
                return;
            }

            w.Elementwise($"{w.Prefix}_dropout_backward", comment, Width, false,
                $"const unsigned long long key = dsl_stream_key(args.seed, (args.dropoutStep << 12) | {Int(Stream)}ULL);",
                $"const float g = dsl_keep(key, i, {CudaLiterals.ULong(Threshold(Rate))}) ? arena[{Int(DY)} + i] * {CudaLiterals.Float(1.0 / (1.0 - Rate))} : 0.0f;",
                CudaWriter.Store(DX, "g", AccumulateDX));
        }
    }
}
