using System;
using System.Collections.Generic;
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

/// <summary>
/// A fully connected layer y = x·Wᵀ + b, W of shape [Out, In] (PyTorch's layout): [Dense(Out = …)]. In is inferred
/// (or checked, DSL201); Tied names an [Embedding] of the same type whose table is the weight (DSL206 checks the
/// shapes); SpectralNorm uses W/σ(W) (<see cref="SpectralNorm"/>). An activation that reads the layer alone runs in
/// the GEMM's epilogue (on a GPU, cuBLASLt's bias and GELU epilogues where they compute the same function).
/// </summary>
internal sealed class Dense : Op
{
    public const string Key = "Dense";

    public override string Name => Key;

    public override string? Attribute => "DenseAttribute";

    /// <summary>A Dense's options.</summary>
    /// <param name="Bias">The layer has a bias.</param>
    /// <param name="Tied">The path of the embedding whose table is its weight, or empty.</param>
    /// <param name="SpectralNorm">The forward uses W/σ(W).</param>
    internal sealed record Options(bool Bias, string Tied, bool SpectralNorm) : OpOptions;

    /// <summary>Where a Dense's parameters lie.</summary>
    private sealed record Params(int Weight, int Bias);

    public static Options Of(LayerSpec layer) => layer.OptionsAs<Options>()!;

    public override (int In, int Out, OpOptions? Options) ReadLayer(LayerReader attribute)
    {
        int outFeatures = attribute.Positive("Out");
        int inFeatures = attribute.NonNegative("In");
        bool bias = attribute.Bool("Bias", true);
        string tied = "";
        if (attribute.String("Tied") is { Length: > 0 } tiedName)
        {
            if (attribute.Sibling(tiedName) != Embedding.Key)
                attribute.Report(DiagnosticCatalog.LayerArgument, "Tied", attribute.Path, "Tied", "the name of an [Embedding] layer of the same type", $"'{tiedName}'");
            else
                tied = attribute.Prefix + tiedName;
        }

        // With Tied it is a DSL106: the table is not this layer's to normalise.
        bool spectral = attribute.Bool("SpectralNorm", false);
        if (spectral && tied.Length > 0)
        {
            attribute.Report(DiagnosticCatalog.LayerArgument, "SpectralNorm", attribute.Path, "SpectralNorm", "false on a layer tied to an embedding", "true");
            spectral = false;
        }

        return (inFeatures, outFeatures, new Options(bias, tied, spectral));
    }

    public override bool TakesBlockInitGain => true;

    public override int InferShape(ShapeContext shapes, NodeSpec node, LayerSpec? layer)
    {
        int incoming = shapes.In(node, 0);
        int width = layer!.Out > 0 ? layer.Out : -1;
        if (incoming < 0 || !shapes.FirstUse(node, layer, incoming)) return width;
        if (layer.In > 0 && layer.In != incoming)
        {
            shapes.Error(DiagnosticCatalog.DenseInMismatch, Site.Layer(layer.Path, "In"), layer.Path, layer.In, incoming);
            return width;
        }

        string tied = Of(layer).Tied;
        if (tied.Length > 0 && shapes.Layer(tied) is { } table)
        {
            if (table.In > 0 && layer.Out > 0 && table.In != layer.Out)
                shapes.Error(DiagnosticCatalog.TiedShape, Site.Layer(layer.Path, "Out"), layer.Path, tied, "Out (the vocabulary)", layer.Out, table.In);
            else if (table.Out > 0 && table.Out != incoming)
                shapes.Error(DiagnosticCatalog.TiedShape, Site.Node(node.Id), layer.Path, tied, "input width (the embedding Dim)", incoming, table.Out);
        }

        shapes.Resolve(layer with { In = incoming });
        return width;
    }

    public override bool HasParameters(LayerSpec? layer) => true;

    public override bool IsResidualBranch => true;

    public override bool OffersEpilogue => true;

    /// <summary>Tied layers last: they point at their embedding's table.</summary>
    public override int ParameterOrder(LayerSpec layer) => Of(layer).Tied.Length > 0 ? 1 : 0;

    public override void PlanParameters(PlanBuilder plan, LayerSpec layer)
    {
        var options = Of(layer);
        var firstUse = plan.FirstUse(layer);
        bool residual = firstUse is not null && plan.FeedsResidual(firstUse);
        var activation = firstUse is not null && plan.FusedInto[firstUse.Id] >= 0 ? OpRegistry.Get<ActivationOp>(plan.Model.Nodes[plan.FusedInto[firstUse.Id]].Op) : null;
        int weight;
        if (options.Tied.Length > 0)
        {
            weight = plan.TensorOffset(options.Tied + ".weight");
        }
        else
        {
            var (init, bound) = layer.InitGain > 0 ? (InitKind.Normal, layer.InitGain * Math.Sqrt(2.0 / Math.Max(1, layer.In + layer.Out)))
                : plan.Std > 0 ? (InitKind.Normal, residual ? plan.ResidualStd : plan.Std)
                : (InitKind.Uniform, (activation?.InitGain ?? 1) * Math.Sqrt(3.0 / Math.Max(1, layer.In)));
            weight = plan.AddParameter(layer.Path + ".weight", layer.Path, layer.Out, layer.In, true, init, bound);
        }

        int bias = options.Bias ? plan.AddParameter(layer.Path + ".bias", layer.Path, 1, layer.Out, false, InitKind.Zeros, 0) : -1;
        plan.LayerState[layer.Path] = new Params(weight, bias);
        plan.Bind(layer.Path, new DenseSlots(weight, bias, layer.In, layer.Out));
    }

    public override void PlanValues(PlanBuilder plan, NodeSpec node)
    {
        int act = plan.FusedInto[node.Id];
        if (act < 0)
        {
            base.PlanValues(plan, node);
            return;
        }

        // Fused: its value is the pre-activation z, stored by the epilogue only when f′ needs it.
        if (OpRegistry.Get<ActivationOp>(plan.Model.Nodes[act].Op)!.DerivativeNeedsInput)
            plan.Value[node.Id] = plan.Allocate(Label(node) + " (pre-activation)", plan.Rows, plan.Width(node));
    }

    public override void PlanGradient(PlanBuilder plan, NodeSpec node)
    {
        // Fused: the activation's gradient becomes ∂z in place.
        if (plan.FusedInto[node.Id] < 0) base.PlanGradient(plan, node);
    }

    public override void PlanExtras(PlanBuilder plan, LayerSpec layer)
    {
        if (!Of(layer).SpectralNorm || Of(layer).Tied.Length > 0) return;
        var p = (Params)plan.LayerState[layer.Path];
        if (p.Weight < 0) return;
        var sn = SpectralNorm.PlanFor(plan, layer.Path, p.Weight, layer.Out, layer.In);
        // The forward and backward products and the eager body read W/σ; the gradient stays W's.
        plan.Bind(layer.Path, new DenseSlots(sn.Normalized, p.Bias, layer.In, layer.Out));
    }

    /// <summary>The weight the layer's products read: W, or W/σ under spectral normalisation.</summary>
    private static int ProductWeight(PlanBuilder plan, LayerSpec layer, int weight) =>
        plan.SpectralNorms.Find(s => s.Layer == layer.Path) is { } sn ? sn.Normalized : weight;

    /// <summary>The activation fused into the node's epilogue, or null (none, or the identity).</summary>
    private static NodeSpec? Fused(PlanBuilder plan, NodeSpec node) =>
        plan.FusedInto[node.Id] >= 0 && plan.Model.Nodes[plan.FusedInto[node.Id]] is { } act && act.Op != Identity.Key ? act : null;

    public override PlanStep? Forward(PlanBuilder plan, NodeSpec node)
    {
        var layer = plan.LayerOf(node)!;
        var p = (Params)plan.LayerState[layer.Path];
        int act = plan.FusedInto[node.Id];
        int y = act >= 0 ? plan.Value[act] : plan.Value[node.Id];
        int z = act >= 0 ? plan.Value[node.Id] : -1;
        var fused = Fused(plan, node);
        return new ForwardStep(node.Id, node.Layer, layer.In, layer.Out, fused, plan.InputValue(node), y, z, ProductWeight(plan, layer, p.Weight), p.Bias,
            Epilogue(fused, p.Bias, z, layer.Out));
    }

    public override PlanStep? Backward(PlanBuilder plan, NodeSpec node)
    {
        var layer = plan.LayerOf(node)!;
        var p = (Params)plan.LayerState[layer.Path];
        int act = plan.FusedInto[node.Id];
        int dx = plan.InputGrad(node);
        bool accumulateDx = dx >= 0 && !plan.Overwrites(dx);
        bool accumulateParams = plan.AccumulateParams(p.Weight);
        if (p.Bias >= 0 && !accumulateParams) plan.ParamsWritten(p.Bias);
        int g = plan.GradientOffset;
        return new BackwardStep(node.Id, node.Layer, layer.In, layer.Out, Fused(plan, node), plan.InputValue(node),
            act >= 0 ? plan.Value[act] : plan.Value[node.Id], act >= 0 ? plan.Value[node.Id] : -1, ProductWeight(plan, layer, p.Weight), p.Bias,
            g + p.Weight, p.Bias >= 0 ? g + p.Bias : -1, dx, act >= 0 ? plan.Grad[act] : plan.Grad[node.Id], accumulateDx, accumulateParams);
    }

    /// <summary>
    /// The cuBLASLt epilogue a Dense forward's bias and activation can become, or null. cuBLASLt offers a bias
    /// (added per output column) and GELU in its tanh form, which is our GeluTanh (x·σ(2√(2/π)(x + 0.044715x³)),
    /// the same function as ½x(1 + tanh(√(2/π)(x + 0.044715x³)))); the exact (erf) GELU and the other activations
    /// stay in our kernel. When the backward needs z, cuBLASLt's GELU_AUX writes it with a leading dimension
    /// that must be a multiple of 8, and z's is the layer's width, so a width that is not is not fused.
    /// </summary>
    private static CudaEpilogue Epilogue(NodeSpec? activation, int bias, int z, int width)
    {
        if (activation is null) return bias >= 0 && z < 0 ? CudaEpilogue.Bias : CudaEpilogue.None;
        if (OpRegistry.Get<ActivationOp>(activation.Op) is not { CublasLtGelu: true }) return CudaEpilogue.None;
        if (z >= 0 && width % 8 != 0) return CudaEpilogue.None;
        return bias >= 0 ? CudaEpilogue.GeluBias : CudaEpilogue.Gelu;
    }

    public override string Describe(LayerSpec layer, ModelSpec model)
    {
        var o = Of(layer);
        return $"Dense {Int(layer.In)} → {Int(layer.Out)}{(o.Bias ? " + bias" : ", no bias")}{(o.Tied.Length > 0 ? $", weight tied to {o.Tied}" : "")}";
    }

    private static ActivationOp? ActivationOf(NodeSpec? node) => node is null ? null : OpRegistry.Get<ActivationOp>(node.Op);

    /// <summary>Y = X·Wᵀ (+ B) (then f, fused in the GEMM epilogue, storing Z when f′ needs it).</summary>
    /// <param name="Epilogue">What cuBLASLt may fuse into the product on a GPU (None: nothing).</param>
    internal sealed record ForwardStep(int Node, string Layer, int In, int Out, NodeSpec? Activation, int X, int Y, int Z, int W, int B, CudaEpilogue Epilogue)
        : PlanStep(Node, Layer)
    {
        public override void Cpu(CpuWriter w)
        {
            var f = ActivationOf(Activation);
            string k = CpuWriter.Kernels;
            string act = f is null ? "" : $"{f.Short}(";
            w.Line($"// {Layer}: Dense {Int(In)} → {Int(Out)}{(B >= 0 ? " with bias" : "")}{(f is not null ? $", {f.Name} fused in the GEMM epilogue" : "")}");
            w.Line($"//   y[batch, {Int(Out)}] = {act}x[batch, {Int(In)}] · W[{Int(Out)}, {Int(In)}]ᵀ{(B >= 0 ? " + b" : "")}{(act.Length > 0 ? ")" : "")}{(Z >= 0 ? $"   (z kept at {w.At(Z)} for the backward)" : "")}");
            string epilogue = f is not null
                ? $"new {k}.BiasActivationEpilogue<T, {f.KernelType}>(a, {w.At(B)}, {f.KernelValue(Activation!.Options)}, {w.At(Z)}, {Int(Out)})"
                : B >= 0 ? $"new {k}.BiasEpilogue<T>(a, {w.At(B)})" : $"new {k}.NoEpilogue<T>()";
            w.Gemm($"a, {w.At(X)}, {Int(In)}, false", $"a, {w.At(W)}, {Int(In)}, true", $"a, {w.At(Y)}, {Int(Out)}",
                $"rows, {Int(Out)}, {Int(In)}, false, {epilogue}");
        }

        public override void Cuda(CudaWriter w)
        {
            var f = ActivationOf(Activation);
            string act = f is null ? "" : f.CudaShort;
            string formula = $"y[rows, {Int(Out)}] = {(act.Length > 0 ? act + "(" : "")}x[rows, {Int(In)}]·W[{Int(Out)}, {Int(In)}]ᵀ{(B >= 0 ? " + b" : "")}{(act.Length > 0 ? ")" : "")}";
            var fused = Epilogue;
            w.W.Line($"/* ==== {Layer}: Dense {Int(In)} → {Int(Out)}: {formula} ==== */");
            w.W.Line($"/* cuBLAS: y = x·Wᵀ (x at {Int(X)}, W at {Int(W)}, y at {Int(Y)}) */");
            var gemm = new CudaGemmSpec(false, true, X, In, W, In, Y, Out, 0, Out, In, RowsAreM: true, Accumulate: false);
            if (fused != CudaEpilogue.None)
            {
                bool keepsZ = fused != CudaEpilogue.Bias && Z >= 0;
                gemm = gemm with { Epilogue = fused, Bias = fused is CudaEpilogue.Bias or CudaEpilogue.GeluBias ? B : -1, Aux = keepsZ ? Z : -1 };
                w.W.Line($"/* cuBLASLt fuses the epilogue into the product ({LtEpilogueName(fused, keepsZ)}{(keepsZ ? $", z kept at {Int(Z)}" : "")});");
                w.W.Line("   the kernel below runs only on the plain cublasSgemm path (cuBLASLt missing, or no algorithm for the shape). */");
            }

            w.Launch(new CudaLaunchSpec($"{w.Prefix}_gemm", $"{Layer}: y = x·Wᵀ{(fused == CudaEpilogue.None ? "" : $" with the {fused} epilogue on cuBLASLt")}", "Single", 0, 0, gemm));
            if (B < 0 && f is null) return;
            var body = new List<string> { B >= 0 ? $"const float z = arena[{Int(Y)} + i] + arena[{Int(B)} + c];" : $"const float z = arena[{Int(Y)} + i];" };
            if (Z >= 0) body.Add($"arena[{Int(Z)} + i] = z;");
            body.Add($"arena[{Int(Y)} + i] = {(f is null ? "z" : f.CudaForward("z", Activation!.Options))};");
            string comment = $"{Layer} epilogue: {(B >= 0 ? "z = y + b" : "z = y")}{(Z >= 0 ? $" (kept at {Int(Z)})" : "")}, y = {(act.Length > 0 ? act + "(z)" : "z")}";
            w.Elementwise($"{w.Prefix}_dense_epilogue", comment, Out, false, body.ToArray());
            if (fused != CudaEpilogue.None) w.Launches[w.Launches.Count - 1] = w.Launches[w.Launches.Count - 1] with { UnlessFused = true };
        }

        private static string LtEpilogueName(CudaEpilogue fused, bool aux) => fused switch
        {
            CudaEpilogue.Bias => "CUBLASLT_EPILOGUE_BIAS",
            CudaEpilogue.Gelu => aux ? "CUBLASLT_EPILOGUE_GELU_AUX" : "CUBLASLT_EPILOGUE_GELU",
            _ => aux ? "CUBLASLT_EPILOGUE_GELU_AUX_BIAS" : "CUBLASLT_EPILOGUE_GELU_BIAS",
        };
    }

    /// <summary>DZ = DY ⊙ f′(Z) in place (when fused), GW (+)= DZᵀ·X, GB (+)= Σ DZ, DX (+)= DZ·W.</summary>
    internal sealed record BackwardStep(int Node, string Layer, int In, int Out, NodeSpec? Activation, int X, int Y, int Z, int W, int B, int GW, int GB,
        int DX, int DY, bool AccumulateDX, bool AccumulateParams) : PlanStep(Node, Layer)
    {
        public override IReadOnlyList<(int Start, int Length)>? GradientWrites(ModelPlan plan) =>
            GB >= 0 ? new[] { (GW, Out * In), (GB, Out) } : new[] { (GW, Out * In) };

        public override void Cpu(CpuWriter w)
        {
            var f = ActivationOf(Activation);
            string k = CpuWriter.Kernels;
            string n = $"rows * {Int(Out)}";
            w.Line($"// {Layer} backward — forward: y = {(f is not null ? $"{f.Short}(z), z = " : "")}x·Wᵀ{(B >= 0 ? " + b" : "")}");
            if (f is not null)
            {
                w.Line($"//   ∂z = ∂y ⊙ {f.Short}′(z)   (in place)");
                string x = Z >= 0 ? w.Span(Z, n) : CpuWriter.EmptyReadOnly;
                w.Line($"{k}.Activation.Backward<T, {f.KernelType}>({f.KernelValue(Activation!.Options)}, {x}, {w.Span(Y, n)}, {w.Span(DY, n)}, {w.Span(DY, n)});");
            }

            w.Line($"//   ∂W {CpuWriter.Op(AccumulateParams)} ∂zᵀ·x");
            w.Gemm($"a, {w.At(DY)}, {Int(Out)}, true", $"a, {w.At(X)}, {Int(In)}, false", $"a, {w.At(GW)}, {Int(In)}",
                $"{Int(Out)}, {Int(In)}, rows, {Bool(AccumulateParams)}, new {k}.NoEpilogue<T>()");
            if (GB >= 0)
            {
                w.Line($"//   ∂b {CpuWriter.Op(AccumulateParams)} Σ_rows ∂z");
                w.Line($"{k}.Elementwise.ColumnSums<T>({w.Span(DY, n)}, rows, {Int(Out)}, {w.Span(GB, Int(Out))}, {Bool(AccumulateParams)});");
            }

            if (DX >= 0)
            {
                w.Line($"//   ∂x {CpuWriter.Op(AccumulateDX)} ∂z·W");
                w.Gemm($"a, {w.At(DY)}, {Int(Out)}, false", $"a, {w.At(W)}, {Int(In)}, false", $"a, {w.At(DX)}, {Int(In)}",
                    $"rows, {Int(In)}, {Int(Out)}, {Bool(AccumulateDX)}, new {k}.NoEpilogue<T>()");
            }
        }

        public override void Cuda(CudaWriter w)
        {
            var f = ActivationOf(Activation);
            string op(bool accumulate) => CudaWriter.Op(accumulate);
            w.W.Line($"/* ---- {Layer} backward: ∂W {op(AccumulateParams)} ∂zᵀ·x{(GB >= 0 ? $", ∂b {op(AccumulateParams)} Σ ∂z" : "")}{(DX >= 0 ? $", ∂x {op(AccumulateDX)} ∂z·W" : "")} ---- */");
            if (f is not null)
            {
                string x = Z >= 0 ? $"arena[{Int(Z)} + i]" : "0.0f";
                w.Elementwise($"{w.Prefix}_dense_activation_backward", $"{Layer}: ∂z = ∂y ⊙ {f.CudaShort}′(z), in place", Out, false,
                    $"arena[{Int(DY)} + i] *= {f.CudaDerivative(x, $"arena[{Int(Y)} + i]", Activation!.Options)};");
            }

            w.Launch(new CudaLaunchSpec($"{w.Prefix}_gemm_weight", $"{Layer}: ∂W {op(AccumulateParams)} ∂zᵀ·x", "Single", 0, 0,
                new CudaGemmSpec(true, false, DY, Out, X, In, GW, In, Out, In, 0, RowsAreM: false, Accumulate: AccumulateParams)));
            if (GB >= 0) w.ColumnSums($"{w.Prefix}_bias_gradient", $"{Layer}: ∂b {op(AccumulateParams)} Σ_rows ∂z", DY, Out, GB, AccumulateParams);

            if (DX >= 0)
            {
                w.Launch(new CudaLaunchSpec($"{w.Prefix}_gemm_input", $"{Layer}: ∂x {op(AccumulateDX)} ∂z·W", "Single", 0, 0,
                    new CudaGemmSpec(false, false, DY, Out, W, In, DX, In, 0, In, Out, RowsAreM: true, Accumulate: AccumulateDX)));
            }
        }
    }
}
