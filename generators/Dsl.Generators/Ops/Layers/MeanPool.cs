using Dsl.Contracts;
using Dsl.Generators.Diagnostics;
using Dsl.Generators.Emit;
using Dsl.Generators.Emit.Cuda;
using Dsl.Generators.Model;
using Dsl.Generators.Parsing;
using Dsl.Generators.Planning;
using static Dsl.Generators.Emit.Literals;

namespace Dsl.Generators.Ops;

/// <summary>
/// Mean pooling over each example's non-pad positions: <c>[MeanPool(Pad = …)] partial Tensor Pool(Tensor x, Tensor ids)</c>,
/// called with the model's input ids; y[b] = mean of x[b, t] over t with ids[b, t] ≠ Pad (0 for an example of pads
/// only). From it on a pass has one row per example.
/// </summary>
internal sealed class MeanPool : Op
{
    public override string Name => "MeanPool";

    public override string? Attribute => "MeanPoolAttribute";

    public override int LayerParameters => 2;

    public override bool PoolsRows => true;

    /// <summary>Its step switches the pass to one row per example: never run again inside a segment.</summary>
    public override bool Recomputable => false;

    /// <summary>The padding token id.</summary>
    internal sealed record Options(int Pad) : OpOptions;

    public override (int In, int Out, OpOptions? Options) ReadLayer(LayerReader attribute) => (0, 0, new Options(attribute.Int("Pad", 0)));

    /// <summary>Pool(x, ids): the second argument must be the model's input ids.</summary>
    public override int CallLayer(LayerCall call)
    {
        if (call.Count != 2) return -1;
        int input = call.Node(0);
        int ids = call.Node(1);
        if (input < 0 || ids < 0) return -1;
        if (call.NodeAt(ids).Op != Input.Key)
        {
            call.ReportArgument(1, DiagnosticCatalog.UnsupportedConstruct, $"the MeanPool ids '{call.Describe(1)}' (pass the model's input token ids)");
            return -1;
        }

        return call.AddNode(Name, new[] { input, ids }, call.Layer.Options);
    }

    public override void PlanParameters(PlanBuilder plan, LayerSpec layer) => plan.Bind(layer.Path, new MeanPoolSlots(layer.OptionsAs<Options>()!.Pad, plan.Model.Sequence));

    public override PlanStep? Forward(PlanBuilder plan, NodeSpec node) =>
        new ForwardStep(node.Id, node.Layer, plan.Width(node), node.OptionsAs<Options>()!.Pad, plan.InputValue(node), plan.Value[node.Id]);

    public override PlanStep? Backward(PlanBuilder plan, NodeSpec node)
    {
        int dx = plan.InputGrad(node);
        return dx < 0 ? null : new BackwardStep(node.Id, node.Layer, plan.Width(node), node.OptionsAs<Options>()!.Pad, dx, plan.Grad[node.Id], !plan.Overwrites(dx));
    }

    public override string Describe(LayerSpec layer, ModelSpec model) =>
        $"MeanPool over each example's non-pad positions (pad id {Int(layer.OptionsAs<Options>()!.Pad)}): batch × {Int(model.Sequence)} rows → batch rows";

    /// <summary>Y[b] = mean of X[b, t] over the positions whose token id is not the pad: batch × Sequence rows → batch rows.</summary>
    internal sealed record ForwardStep(int Node, string Layer, int Width, int Pad, int X, int Y) : PlanStep(Node, Layer)
    {
        public override void Cpu(CpuWriter w)
        {
            w.Line($"// {Layer}: y[b] = mean of x[b, t] over the positions whose id ≠ {Int(Pad)} (batch × Sequence rows → batch rows)");
            w.Line($"{CpuWriter.Kernels}.MeanPool.Forward<T>({w.Span(X, $"rows * {Int(Width)}")}, Tokens, batch, Sequence, {Int(Width)}, {Int(Pad)}, {w.Span(Y, $"batch * {Int(Width)}")});");
            w.Line("rows = batch; // one row per example from here on");
        }

        /// <summary>y[b, c] = mean of x[b, t, c] over the positions whose id ≠ pad (0 when none), one thread per (b, c).</summary>
        public override void Cuda(CudaWriter w)
        {
            int dim = Width, sequence = w.Sequence;
            string name = $"{w.Prefix}_mean_pool";
            string comment = $"{Title}: y[b] = mean of x[b, t] over the positions whose id ≠ {Int(Pad)} (batch × {Int(sequence)} rows → batch rows)";
            var t = w.W;
            t.Line($"/* {comment}, one thread per (example, column) */");
            using (t.Block($"DSL_KERNEL({name})"))
            {
                using (t.Block($"DSL_FOR_ELEMENTS(i, args.batch * {Int(dim)})"))
                {
                    t.Line($"const int b = i / {Int(dim)}, c = i % {Int(dim)};");
                    t.Line("int count = 0;");
                    t.Line("float sum = 0.0f;");
                    using (t.Block($"for (int t = 0; t < {Int(sequence)}; t++)"))
                    {
                        t.Line($"if (ids[b * {Int(sequence)} + t] == {Int(Pad)}) continue;");
                        t.Line("count++;");
                        t.Line($"sum += arena[{Int(X)} + (b * {Int(sequence)} + t) * {Int(dim)} + c];");
                    }

                    // The CPU adds the rows, then multiplies by 1/count.
                    t.Line($"arena[{Int(Y)} + i] = count == 0 ? 0.0f : sum * (1.0f / (float)count);");
                }
            }

            t.Line();
            w.Launch(new CudaLaunchSpec(name, comment, "Batches", (dim + CudaWriter.ElementBlock - 1) / CudaWriter.ElementBlock, CudaWriter.ElementBlock));
        }
    }

    /// <summary>DX[b, t] (+)= mask · DY[b] / n_b.</summary>
    internal sealed record BackwardStep(int Node, string Layer, int Width, int Pad, int DX, int DY, bool AccumulateDX) : PlanStep(Node, Layer)
    {
        public override void Cpu(CpuWriter w)
        {
            w.Line($"// {Layer} backward — forward: y[b] = mean over non-pad t of x[b, t]; ∂x[b, t] {CpuWriter.Op(AccumulateDX)} [id ≠ pad] · ∂y[b] / n_b");
            w.Line($"{CpuWriter.Kernels}.MeanPool.Backward<T>({w.Span(DY, $"batch * {Int(Width)}")}, Tokens, batch, Sequence, {Int(Width)}, {Int(Pad)}, {w.Span(DX, $"batch * Sequence * {Int(Width)}")}, accumulate: {Bool(AccumulateDX)});");
            w.Line("rows = batch * Sequence; // before the MeanPool: Sequence rows per example");
        }

        /// <summary>∂x[b, t] (+)= [id ≠ pad]·∂y[b]/n_b, one thread per element of ∂x.</summary>
        public override void Cuda(CudaWriter w)
        {
            int dim = Width, sequence = w.Sequence;
            string name = $"{w.Prefix}_mean_pool_backward";
            string comment = $"{Title} backward: ∂x[b, t] {CudaWriter.Op(AccumulateDX)} [id ≠ {Int(Pad)}] · ∂y[b] / n_b";
            var t = w.W;
            t.Line($"/* {comment} */");
            using (t.Block($"DSL_KERNEL({name})"))
            {
                using (t.Block($"DSL_FOR_ELEMENTS(i, args.rows * {Int(dim)})"))
                {
                    t.Line($"const int row = i / {Int(dim)}, c = i % {Int(dim)}, b = row / {Int(sequence)};");
                    t.Line("const int keep = ids[row] != " + Int(Pad) + ";");
                    t.Line("int count = 0;");
                    t.Line($"for (int t = 0; t < {Int(sequence)}; t++) count += ids[b * {Int(sequence)} + t] != {Int(Pad)};");
                    t.Line($"const float g = keep && count > 0 ? arena[{Int(DY)} + b * {Int(dim)} + c] * (1.0f / (float)count) : 0.0f;");
                    t.Line(AccumulateDX ? $"arena[{Int(DX)} + i] += g;" : $"arena[{Int(DX)} + i] = g;");
                }
            }

            t.Line();
            w.Launch(new CudaLaunchSpec(name, comment, "RowElements", dim, CudaWriter.ElementBlock));
        }
    }
}
