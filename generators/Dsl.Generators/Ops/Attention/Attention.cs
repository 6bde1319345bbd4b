using System;
using System.Collections.Generic;
using System.Linq;
using Dsl.Contracts;
using Dsl.Generators.Diagnostics;
using Dsl.Generators.Emit;
using Dsl.Generators.Emit.Cuda;
using Dsl.Generators.Model;
using Dsl.Generators.Parsing;
using Dsl.Generators.Planning;
using Dsl.Generators.Rules;
using Dsl.Generators.Shapes;
using static Dsl.Generators.Emit.Literals;

namespace Dsl.Generators.Ops;

/// <summary>
/// Multi-head self-attention with its projections (q|k|v = x·W_qkvᵀ, the heads, y = heads·W_oᵀ), in two forms:
/// softmax attention ([Attention]: causal, a local window, a fixed or entropy-invariant scale, RoPE, talking heads)
/// and linear attention ([LinearAttention], φ = elu + 1). The heads are computed per (example, head) tile with an
/// online softmax: the attention matrix is never stored, only each row's ln-sum-exp (or denominator) for the
/// backward. Here: recognition, shapes, the NNS001/003/007/009 rules, the plan and the CPU emission; the CUDA
/// kernels are in Attention.Cuda.cs and TalkingHeads.Cuda.cs.
/// </summary>
internal abstract partial class AttentionOp : Op
{
    /// <summary>An attention layer's options. Sizes of 0 are inferred from the input width by shape inference.</summary>
    /// <param name="Heads">Heads.</param>
    /// <param name="KeySize">Query/key width per head.</param>
    /// <param name="ValueSize">Value width per head.</param>
    /// <param name="Causal">Causal mask.</param>
    /// <param name="Window">Local window (0 = none).</param>
    /// <param name="EntropyInvariant">λ_i = ln n_i / (ln 512 √d).</param>
    /// <param name="Scale">Explicit λ (0 = 1/√KeySize).</param>
    /// <param name="Rope">Rotary position embedding on q and k.</param>
    /// <param name="RotaryDim">Rotary dimensions per head (0 = KeySize).</param>
    /// <param name="RopeBase">RoPE base.</param>
    /// <param name="TalkingHeads">Talking-heads mixing.</param>
    /// <param name="Linear">Linear attention (φ = elu + 1) instead of softmax.</param>
    /// <param name="Bias">Biases on the projections.</param>
    /// <param name="Alibi">ALiBi: a fixed bias −m_h·|i − j| on head h's scores (causal softmax attention only).</param>
    internal sealed record Options(int Heads, int KeySize, int ValueSize, bool Causal, int Window, bool EntropyInvariant, double Scale,
        bool Rope, int RotaryDim, double RopeBase, bool TalkingHeads, bool Linear, bool Bias, bool Alibi) : OpOptions;

    /// <summary>Where an attention layer's parameters and buffers lie (all element offsets; −1 absent).</summary>
    /// <param name="Options">Resolved sizes and options.</param>
    /// <param name="Scale">λ for a fixed scale (1/√KeySize unless given).</param>
    /// <param name="QkvWidth">Columns of the packed q|k|v buffer: 2·H·KeySize + H·ValueSize.</param>
    /// <param name="Wqkv">Contiguous query, key and value weights: one [QkvWidth, In] matrix.</param>
    /// <param name="Bqkv">Contiguous biases [QkvWidth], or −1.</param>
    /// <param name="Wo">Output projection [Out, H·ValueSize].</param>
    /// <param name="Bo">Output bias, or −1.</param>
    /// <param name="PreMix">Talking-heads pre-softmax mix [H, H], or −1.</param>
    /// <param name="PostMix">Talking-heads post-softmax mix [H, H], or −1.</param>
    /// <param name="Qkv">Packed q|k|v activations [rows, QkvWidth] (q and k after RoPE).</param>
    /// <param name="Heads">Attention output before the projection [rows, H·ValueSize].</param>
    /// <param name="Stats">Per-row statistics kept for the backward [batch, H, T].</param>
    /// <param name="RopeTable">cos/sin table, or −1.</param>
    /// <param name="DQkv">∂ of <paramref name="Qkv"/>.</param>
    /// <param name="DHeads">∂ of <paramref name="Heads"/>.</param>
    internal sealed record Buffers(Options Options, double Scale, int QkvWidth, int Wqkv, int Bqkv, int Wo, int Bo, int PreMix, int PostMix,
        int Qkv, int Heads, int Stats, int RopeTable, int DQkv, int DHeads);

    /// <summary>Where a layer's parameters lie.</summary>
    private sealed record Params(int Wqkv, int Bqkv, int Wo, int Bo, int Pre, int Post);

    /// <summary>Whether this is the linear form.</summary>
    protected abstract bool IsLinear { get; }

    public static Options Of(LayerSpec layer) => layer.OptionsAs<Options>()!;

    public override (int In, int Out, OpOptions? Options) ReadLayer(LayerReader attribute)
    {
        bool linear = IsLinear;
        string path = attribute.Path;
        int heads = attribute.Positive("Heads");
        int keySize = attribute.NonNegative("KeySize"), valueSize = attribute.NonNegative("ValueSize");
        int outFeatures = attribute.NonNegative("Out");
        bool bias = attribute.Bool("Bias", true);
        int window = linear ? 0 : attribute.NonNegative("Window");
        int rotary = linear ? 0 : attribute.NonNegative("RotaryDim");
        double scale = linear ? 0 : attribute.Double("Scale", 0);
        double ropeBase = linear ? 10000 : attribute.Double("RopeBase", 10000);
        bool entropy = !linear && attribute.Bool("EntropyInvariant", false);
        bool rope = !linear && attribute.Bool("Rope", false);
        if (!(scale >= 0) || double.IsInfinity(scale)) attribute.Report(DiagnosticCatalog.LayerArgument, "Scale", path, "Scale", ">= 0 and finite (0 is 1/√KeySize)", LayerReader.Format(scale));
        if (entropy && scale != 0) attribute.Report(DiagnosticCatalog.LayerArgument, "Scale", path, "Scale", "0 when EntropyInvariant is set (the scale is then ln n / (ln 512 √d))", LayerReader.Format(scale));
        if (!(ropeBase > 1)) attribute.Report(DiagnosticCatalog.LayerArgument, "RopeBase", path, "RopeBase", "> 1", LayerReader.Format(ropeBase));
        // The q, k and v projections are Heads × KeySize and Heads × ValueSize wide: each a row width.
        if (keySize > 0) attribute.WithinLimit("Heads × KeySize", Rules.Limits.Product(heads, keySize), Rules.Limits.MaxWidth, "the q and k projections are that wide");
        if (valueSize > 0) attribute.WithinLimit("Heads × ValueSize", Rules.Limits.Product(heads, valueSize), Rules.Limits.MaxWidth, "the v projection is that wide");
        bool causal = attribute.Bool("Causal", false), talking = !linear && attribute.Bool("TalkingHeads", false);
        bool alibi = !linear && attribute.Bool("Alibi", false);
        if (alibi && !causal) attribute.Report(DiagnosticCatalog.LayerArgument, "Alibi", path, "Alibi", "false unless Causal is set (bidirectional ALiBi cannot tell left from right)", "true");
        if (alibi && talking) attribute.Report(DiagnosticCatalog.LayerArgument, "Alibi", path, "Alibi", "false with TalkingHeads (the talking-heads kernels have no ALiBi)", "true");
        var options = new Options(heads, keySize, valueSize, causal, window, entropy, scale,
            rope, rotary, ropeBase, talking, linear, bias, alibi);
        return (0, outFeatures, options);
    }

    public override bool TakesBlockInitGain => true;

    public override int InferShape(ShapeContext shapes, NodeSpec node, LayerSpec? layer)
    {
        int incoming = shapes.In(node, 0);
        var a = Of(layer!);
        int outWidth = layer!.Out > 0 ? layer.Out : incoming;
        if (incoming < 0 || !shapes.FirstUse(node, layer, incoming)) return outWidth;
        int valueSize = a.ValueSize;
        if (valueSize == 0)
        {
            if (a.Heads > 0 && incoming % a.Heads != 0)
            {
                shapes.Error(DiagnosticCatalog.HeadsWidth, Site.Layer(layer.Path, "Heads"), layer.Path, a.Heads, incoming);
                return outWidth;
            }

            valueSize = incoming / Math.Max(1, a.Heads);
        }

        int keySize = a.KeySize > 0 ? a.KeySize : valueSize;
        int rotary = a.Rope ? (a.RotaryDim > 0 ? a.RotaryDim : keySize) : 0;
        if (a.Rope && (rotary % 2 != 0 || rotary > keySize))
        {
            shapes.Error(DiagnosticCatalog.RotaryDim, Site.Layer(layer.Path, "RotaryDim"), layer.Path, rotary, keySize);
            return outWidth;
        }

        shapes.Resolve(layer with { In = incoming, Out = outWidth, Options = a with { KeySize = keySize, ValueSize = valueSize, RotaryDim = rotary } });
        return outWidth;
    }

    /// <summary>λ for a fixed-scale attention: the declared value, else 1/√KeySize (linear attention: unused, 1).</summary>
    public static double Scale(Options a) => a.Linear ? 1 : a.Scale > 0 ? a.Scale : 1 / Math.Sqrt(Math.Max(1, a.KeySize));

    /// <summary>Length of a RoPE cos/sin table; must agree with <c>Dsl.Kernels.Rope.TableLength</c> (a test checks it).</summary>
    public static int RopeTableLength(int sequence, int rotaryDim) => sequence * rotaryDim;

    public override bool HasParameters(LayerSpec? layer) => true;

    public override bool IsResidualBranch => true;

    public override void PlanParameters(PlanBuilder plan, LayerSpec layer)
    {
        var a = Of(layer);
        int h = a.Heads, dk = a.KeySize, dv = a.ValueSize;
        var firstUse = plan.FirstUse(layer);
        bool residual = firstUse is not null && plan.FeedsResidual(firstUse);
        // q, k, v weights are laid out back to back (no padding) so one GEMM computes all three.
        (InitKind, double) Projection(bool valueOrOutput, int fanIn, int fanOut, bool residualOutput)
        {
            if (layer.InitGain > 0) return (InitKind.Normal, (valueOrOutput ? layer.InitGain : 1) * Math.Sqrt(2.0 / (fanIn + fanOut)));
            if (plan.Std > 0) return (InitKind.Normal, residualOutput ? plan.ResidualStd : plan.Std);
            return (InitKind.Uniform, Math.Sqrt(3.0 / Math.Max(1, fanIn)));
        }

        var (qi, qb) = Projection(false, layer.In, h * dk, false);
        var (vi, vb) = Projection(true, layer.In, h * dv, false);
        var (oi, ob) = Projection(true, h * dv, layer.Out, residual);
        int wqkv = plan.AddParameter(layer.Path + ".query.weight", layer.Path, h * dk, layer.In, true, qi, qb, align: false);
        plan.AddParameter(layer.Path + ".key.weight", layer.Path, h * dk, layer.In, true, qi, qb, align: false);
        plan.AddParameter(layer.Path + ".value.weight", layer.Path, h * dv, layer.In, true, vi, vb);
        int bqkv = -1;
        if (a.Bias)
        {
            bqkv = plan.AddParameter(layer.Path + ".query.bias", layer.Path, 1, h * dk, false, InitKind.Zeros, 0, align: false);
            plan.AddParameter(layer.Path + ".key.bias", layer.Path, 1, h * dk, false, InitKind.Zeros, 0, align: false);
            plan.AddParameter(layer.Path + ".value.bias", layer.Path, 1, h * dv, false, InitKind.Zeros, 0);
        }

        int wo = plan.AddParameter(layer.Path + ".output.weight", layer.Path, layer.Out, h * dv, true, oi, ob);
        int bo = a.Bias ? plan.AddParameter(layer.Path + ".output.bias", layer.Path, 1, layer.Out, false, InitKind.Zeros, 0) : -1;
        int pre = -1, post = -1;
        if (a.TalkingHeads)
        {
            pre = plan.AddParameter(layer.Path + ".pre_mix", layer.Path, h, h, true, InitKind.Identity, 0);
            post = plan.AddParameter(layer.Path + ".post_mix", layer.Path, h, h, true, InitKind.Identity, 0);
        }

        plan.LayerState[layer.Path] = new Params(wqkv, bqkv, wo, bo, pre, post);
        var slots = new AttentionSlots(wqkv, bqkv, wo, bo, pre, post, layer.In, layer.Out, h, dk, dv, plan.Model.Sequence,
            a.Causal, a.Window, a.EntropyInvariant, a.RotaryDim, a.TalkingHeads, a.Linear, Scale(a), a.RopeBase, a.Alibi);
        plan.Bind(layer.Path, slots);
    }

    public override void PlanValues(PlanBuilder plan, NodeSpec node)
    {
        var layer = plan.LayerOf(node)!;
        var a = Of(layer);
        var p = (Params)plan.LayerState[layer.Path];
        string label = Label(node);
        int sequence = plan.Model.Sequence;
        int qkvWidth = 2 * a.Heads * a.KeySize + a.Heads * a.ValueSize;
        int qkv = plan.Allocate(label + " q|k|v", plan.Rows, qkvWidth);
        int heads = plan.Allocate(label + " heads", plan.Rows, a.Heads * a.ValueSize);
        int stats = plan.Allocate(label + " row statistics", (long)plan.Model.MaxBatch * a.Heads, sequence);
        int table = a.Rope ? plan.AllocateConstant(label + " RoPE cos|sin", 1, (long)sequence * a.RotaryDim) : -1; // RopeTableLength, in long; never in a [Recompute] shared region
        plan.Value[node.Id] = plan.Allocate(label, plan.Rows, plan.Width(node));
        plan.State[node.Id] = new Buffers(a, Scale(a), qkvWidth, p.Wqkv, p.Bqkv, p.Wo, p.Bo, p.Pre, p.Post, qkv, heads, stats, table, -1, -1);
    }

    public override void PlanGradient(PlanBuilder plan, NodeSpec node)
    {
        base.PlanGradient(plan, node);
        var ap = plan.StateOf<Buffers>(node.Id);
        string label = Label(node);
        plan.State[node.Id] = ap with
        {
            DQkv = plan.Allocate("∂loss/∂" + label + " q|k|v", plan.Rows, ap.QkvWidth),
            DHeads = plan.Allocate("∂loss/∂" + label + " heads", plan.Rows, ap.Options.Heads * ap.Options.ValueSize),
        };
    }

    public override PlanStep? Forward(PlanBuilder plan, NodeSpec node)
    {
        var layer = plan.LayerOf(node)!;
        return new ForwardStep(node.Id, node.Layer, layer.In, layer.Out, plan.InputValue(node), plan.Value[node.Id], plan.StateOf<Buffers>(node.Id));
    }

    public override PlanStep? Backward(PlanBuilder plan, NodeSpec node)
    {
        var layer = plan.LayerOf(node)!;
        var ap = plan.StateOf<Buffers>(node.Id);
        bool accumulateParams = plan.AccumulateParams(ap.Wqkv);
        if (!accumulateParams)
            foreach (int t in new[] { ap.Bqkv, ap.Wo, ap.Bo, ap.PreMix, ap.PostMix }.Where(t => t >= 0)) plan.ParamsWritten(t);
        int dx = plan.InputGrad(node);
        return new BackwardStep(node.Id, node.Layer, layer.In, layer.Out, plan.InputValue(node), plan.Value[node.Id], ap,
            plan.GradientOffset, dx, plan.Grad[node.Id], dx >= 0 && !plan.Overwrites(dx), accumulateParams);
    }

    public override string Describe(LayerSpec layer, ModelSpec model)
    {
        var a = Of(layer);
        var parts = new List<string> { $"{(a.Linear ? "LinearAttention" : "Attention")} {Int(layer.In)} → {Int(layer.Out)}, {Int(a.Heads)} heads, key {Int(a.KeySize)}, value {Int(a.ValueSize)}" };
        if (a.Causal) parts.Add("causal");
        if (!a.Linear) parts.Add(a.EntropyInvariant ? "λ = ln n/(ln 512·√d)" : $"λ = {Double(Scale(a))}");
        if (a.Window > 0) parts.Add($"window {Int(a.Window)}");
        if (a.Rope) parts.Add($"RoPE {Int(a.RotaryDim)} dims, base {Double(a.RopeBase)}");
        if (a.TalkingHeads) parts.Add("talking heads");
        if (a.Alibi) parts.Add("ALiBi");
        if (!a.Bias) parts.Add("no biases");
        if (layer.InitGain > 0) parts.Add($"DeepNorm β = {Double(layer.InitGain)}");
        return string.Join(", ", parts);
    }

    /// <summary>What both of an attention layer's steps hold.</summary>
    internal abstract record AttentionStep(int Node, string Layer, int In, int Out, int X, int Y, Buffers Attention) : PlanStep(Node, Layer);

    /// <summary>QKV projection, RoPE, attention (softmax, talking-heads or linear), output projection.</summary>
    internal sealed record ForwardStep(int Node, string Layer, int In, int Out, int X, int Y, Buffers Attention) : AttentionStep(Node, Layer, In, Out, X, Y, Attention)
    {
        public override void Cpu(CpuWriter w) => CpuForward(w, this);

        public override void Cuda(CudaWriter w) => CudaForward(w, this);

        /// <summary>The RoPE cos/sin table, filled once.</summary>
        public override void Initialize(CpuWriter w)
        {
            if (Attention.RopeTable < 0) return;
            var o = Attention.Options;
            string length = Int(RopeTableLength(w.Plan.Model.Sequence, o.RotaryDim));
            w.Line($"{CpuWriter.Kernels}.Rope.BuildTable<T>({w.SpanA(Attention.RopeTable, length)}, Sequence, {Int(o.RotaryDim)}, {Double(o.RopeBase)}); // {Layer} RoPE");
        }
    }

    /// <summary>The reverse of <see cref="ForwardStep"/>; <paramref name="GW"/> is the gradient region's offset (a parameter p's
    /// gradient is at GW + p).</summary>
    internal sealed record BackwardStep(int Node, string Layer, int In, int Out, int X, int Y, Buffers Attention, int GW, int DX, int DY, bool AccumulateDX, bool AccumulateParams)
        : AttentionStep(Node, Layer, In, Out, X, Y, Attention)
    {
        public override void Cpu(CpuWriter w) => CpuBackward(w, this);


        public override IReadOnlyList<(int Start, int Length)>? GradientWrites(ModelPlan plan)
        {
            var a = Attention;
            int g = GW, h = a.Options.Heads, hv = h * a.Options.ValueSize;
            var writes = new List<(int, int)> { (g + a.Wqkv, a.QkvWidth * In) };
            if (a.Bqkv >= 0) writes.Add((g + a.Bqkv, a.QkvWidth));
            writes.Add((g + a.Wo, Out * hv));
            if (a.Bo >= 0) writes.Add((g + a.Bo, Out));
            if (a.PreMix >= 0) writes.Add((g + a.PreMix, h * h));
            if (a.PostMix >= 0) writes.Add((g + a.PostMix, h * h));
            return writes;
        }

        public override void Cuda(CudaWriter w) => CudaBackward(w, this);
    }

    private static string KernelOptions(AttentionStep s)
    {
        var o = s.Attention.Options;
        string mode = o.EntropyInvariant ? "EntropyInvariant" : "Fixed";
        return $"new {CpuWriter.Kernels}.AttentionOptions({Int(o.Heads)}, {Int(o.KeySize)}, {Int(o.ValueSize)}, Sequence, {Bool(o.Causal)}, {Int(o.Window)}, {CpuWriter.Kernels}.AttentionScaleMode.{mode}, {Double(s.Attention.Scale)}{(o.Alibi ? ", Alibi: true" : "")})";
    }

    private static string KernelName(Options o) => o.Linear ? "LinearAttention" : o.TalkingHeads ? "TalkingHeadsAttention" : "Attention";

    private static void CpuForward(CpuWriter w, AttentionStep s)
    {
        var ap = s.Attention;
        var o = ap.Options;
        int hk = o.Heads * o.KeySize, hv = o.Heads * o.ValueSize, width = ap.QkvWidth;
        string all = $"rows * {Int(width)}";
        string kind = o.Linear ? "linear attention, φ = elu + 1" : $"softmax attention, λ = {(o.EntropyInvariant ? "ln n_i / (ln 512 · √d)" : Double(ap.Scale))}";
        w.Line($"// {s.Layer}: {Int(o.Heads)} heads ({kind}{(o.Causal ? ", causal" : "")}{(o.Window > 0 ? $", window {Int(o.Window)}" : "")}{(o.TalkingHeads ? ", talking heads" : "")}{(o.Alibi ? ", ALiBi −m_h·|i − j|" : "")}), key size {Int(o.KeySize)}, value size {Int(o.ValueSize)}");
        w.Line($"//   q|k|v[rows, {Int(width)}] = x[rows, {Int(s.In)}] · W_qkvᵀ{(ap.Bqkv >= 0 ? " + b_qkv" : "")}");
        string qkvEpilogue = ap.Bqkv >= 0 ? $"new {CpuWriter.Kernels}.BiasEpilogue<T>(a, {w.At(ap.Bqkv)})" : $"new {CpuWriter.Kernels}.NoEpilogue<T>()";
        string columnGroup = "";
        if (ap.RopeTable >= 0)
        {
            // RoPE runs in the product's epilogue, on each row's q and k heads while the row is in cache;
            // columnGroup keeps every epilogue segment to whole heads.
            w.Line($"//   epilogue: RoPE on q and k, pairs (j, j + {Int(o.RotaryDim / 2)}) of each head rotated by position·θ_j, θ_j = {Double(o.RopeBase)}^(−2j/{Int(o.RotaryDim)})");
            qkvEpilogue = $"new {CpuWriter.Kernels}.RopeEpilogue<T>(a, {w.At(ap.Bqkv)}, {w.At(ap.RopeTable)}, Sequence, {Int(o.KeySize)}, {Int(o.RotaryDim)}, {Int(2 * hk)})";
            columnGroup = $", columnGroup: {Int(o.KeySize)}";
        }

        w.Gemm($"a, {w.At(s.X)}, {Int(s.In)}, false", $"a, {w.At(ap.Wqkv)}, {Int(s.In)}, true", $"a, {w.At(ap.Qkv)}, {Int(width)}",
            $"rows, {Int(width)}, {Int(s.In)}, false, {qkvEpilogue}{columnGroup}");

        w.Line($"//   heads[rows, {Int(hv)}] per (example, head) tile{(o.Linear ? "" : ", online softmax: no attention matrix is stored")}");
        string mixes = o.TalkingHeads ? $"{w.Span(ap.PreMix, Int(o.Heads * o.Heads))}, {w.Span(ap.PostMix, Int(o.Heads * o.Heads))}, " : "";
        w.Line($"{CpuWriter.Kernels}.{KernelName(o)}.Forward<T>({KernelOptions(s)}, batch,");
        w.Line($"    {w.Span(ap.Qkv, all)}, {w.Span(ap.Qkv + hk, $"{all} - {Int(hk)}")}, {w.Span(ap.Qkv + 2 * hk, $"{all} - {Int(2 * hk)}")}, {Int(width)},");
        w.Line($"    {mixes}{w.Span(ap.Heads, $"rows * {Int(hv)}")}, {Int(hv)}, {w.Span(ap.Stats, $"batch * {Int(o.Heads)} * Sequence")});");
        w.Line($"//   y[rows, {Int(s.Out)}] = heads · W_oᵀ{(ap.Bo >= 0 ? " + b_o" : "")}");
        string outEpilogue = ap.Bo >= 0 ? $"new {CpuWriter.Kernels}.BiasEpilogue<T>(a, {w.At(ap.Bo)})" : $"new {CpuWriter.Kernels}.NoEpilogue<T>()";
        w.Gemm($"a, {w.At(ap.Heads)}, {Int(hv)}, false", $"a, {w.At(ap.Wo)}, {Int(hv)}, true", $"a, {w.At(s.Y)}, {Int(s.Out)}",
            $"rows, {Int(s.Out)}, {Int(hv)}, false, {outEpilogue}");
    }

    private static void CpuBackward(CpuWriter w, BackwardStep s)
    {
        var ap = s.Attention;
        var o = ap.Options;
        int hk = o.Heads * o.KeySize, hv = o.Heads * o.ValueSize, width = ap.QkvWidth;
        int g = s.GW; // the gradient region's offset: parameter p's gradient is at g + p
        string all = $"rows * {Int(width)}";
        string acc = Bool(s.AccumulateParams);
        string op = s.AccumulateParams ? "+=" : "=";
        string no = $"new {CpuWriter.Kernels}.NoEpilogue<T>()";
        w.Line($"// {s.Layer} backward — forward: q|k|v = x·W_qkvᵀ, heads = attention(q, k, v), y = heads·W_oᵀ");
        w.Line($"//   ∂W_o {op} ∂yᵀ·heads{(ap.Bo >= 0 ? $", ∂b_o {op} Σ ∂y" : "")}, ∂heads = ∂y·W_o");
        w.Gemm($"a, {w.At(s.DY)}, {Int(s.Out)}, true", $"a, {w.At(ap.Heads)}, {Int(hv)}, false", $"a, {w.At(g + ap.Wo)}, {Int(hv)}",
            $"{Int(s.Out)}, {Int(hv)}, rows, {acc}, {no}");
        if (ap.Bo >= 0)
            w.Line($"{CpuWriter.Kernels}.Elementwise.ColumnSums<T>({w.Span(s.DY, $"rows * {Int(s.Out)}")}, rows, {Int(s.Out)}, {w.Span(g + ap.Bo, Int(s.Out))}, {acc});");
        w.Gemm($"a, {w.At(s.DY)}, {Int(s.Out)}, false", $"a, {w.At(ap.Wo)}, {Int(hv)}, false", $"a, {w.At(ap.DHeads)}, {Int(hv)}",
            $"rows, {Int(hv)}, {Int(s.Out)}, false, {no}");
        w.Line($"//   ∂q, ∂k, ∂v from the saved row statistics (scores recomputed per tile){(o.TalkingHeads ? $"; ∂mixes {op}" : "")}");
        w.Line($"{CpuWriter.Kernels}.{KernelName(o)}.Backward<T>({KernelOptions(s)}, batch,");
        w.Line($"    {w.Span(ap.Qkv, all)}, {w.Span(ap.Qkv + hk, $"{all} - {Int(hk)}")}, {w.Span(ap.Qkv + 2 * hk, $"{all} - {Int(2 * hk)}")}, {Int(width)},");
        if (o.TalkingHeads)
            w.Line($"    {w.Span(ap.PreMix, Int(o.Heads * o.Heads))}, {w.Span(ap.PostMix, Int(o.Heads * o.Heads))},");
        w.Line($"    {w.Span(ap.Heads, $"rows * {Int(hv)}")}, {w.Span(ap.DHeads, $"rows * {Int(hv)}")}, {Int(hv)}, {w.Span(ap.Stats, $"batch * {Int(o.Heads)} * Sequence")},");
        w.Line($"    {w.Span(ap.DQkv, all)}, {w.Span(ap.DQkv + hk, $"{all} - {Int(hk)}")}, {w.Span(ap.DQkv + 2 * hk, $"{all} - {Int(2 * hk)}")}, {Int(width)}{(o.TalkingHeads ? $"," : ");")}");
        if (o.TalkingHeads)
            w.Line($"    {w.Span(g + ap.PreMix, Int(o.Heads * o.Heads))}, {w.Span(g + ap.PostMix, Int(o.Heads * o.Heads))}, {acc});");
        if (ap.RopeTable >= 0)
        {
            string table = w.Span(ap.RopeTable, $"Sequence * {Int(o.RotaryDim)}");
            w.Line("//   RoPE backward: rotate ∂q and ∂k back by −position·θ");
            w.Line($"{CpuWriter.Kernels}.Rope.Backward<T>({w.Span(ap.DQkv, all)}, rows, {Int(width)}, {Int(o.Heads)}, {Int(o.KeySize)}, {Int(o.RotaryDim)}, Sequence, {table});");
            w.Line($"{CpuWriter.Kernels}.Rope.Backward<T>({w.Span(ap.DQkv + hk, $"{all} - {Int(hk)}")}, rows, {Int(width)}, {Int(o.Heads)}, {Int(o.KeySize)}, {Int(o.RotaryDim)}, Sequence, {table});");
        }

        w.Line($"//   ∂W_qkv {op} ∂qkvᵀ·x{(ap.Bqkv >= 0 ? $", ∂b_qkv {op} Σ ∂qkv" : "")}{(s.DX >= 0 ? $", ∂x {(s.AccumulateDX ? "+=" : "=")} ∂qkv·W_qkv" : "")}");
        w.Gemm($"a, {w.At(ap.DQkv)}, {Int(width)}, true", $"a, {w.At(s.X)}, {Int(s.In)}, false", $"a, {w.At(g + ap.Wqkv)}, {Int(s.In)}",
            $"{Int(width)}, {Int(s.In)}, rows, {acc}, {no}");
        if (ap.Bqkv >= 0)
            w.Line($"{CpuWriter.Kernels}.Elementwise.ColumnSums<T>({w.Span(ap.DQkv, all)}, rows, {Int(width)}, {w.Span(g + ap.Bqkv, Int(width))}, {acc});");
        if (s.DX >= 0)
        {
            w.Gemm($"a, {w.At(ap.DQkv)}, {Int(width)}, false", $"a, {w.At(ap.Wqkv)}, {Int(s.In)}, false", $"a, {w.At(s.DX)}, {Int(s.In)}",
                $"rows, {Int(s.In)}, {Int(width)}, {Bool(s.AccumulateDX)}, {no}");
        }
    }

    // ---- rules: softmax attention only -------------------------------------------------------------------

    /// <summary>The NNS001, NNS007, NNS009 and NNS003 rules, on a layer whose sizes are known.</summary>
    protected static void CheckSoftmax(RuleContext rules, LayerSpec layer)
    {
        if (Of(layer) is not { KeySize: > 0, ValueSize: > 0 } || layer.In <= 0) return;
        ScaleRule(rules, layer);
        KeySizeRule(rules, layer);
        WindowRule(rules, layer);
        RopeRule(layer, rules);
    }

    // ---- NNS001: the attention logit scale ([K-8620], [K-8823]) ----------------------------------------

    private static void ScaleRule(RuleContext rules, LayerSpec layer)
    {
        var a = Of(layer);
        double scale = a.Scale;
        if (a.Linear || a.EntropyInvariant || !(scale > 0) || double.IsInfinity(scale)) return; // 0 is the default 1/√d_k
        int dk = a.KeySize;
        double right = 1 / Math.Sqrt(dk);
        var location = Site.Layer(layer.Path, "Scale");

        // The classic bug: 1/√d built from the model width (or the head split of it, or the value
        // size) while the logits are sums over d_k products.
        var candidates = new List<(int Dimension, string Name)> { (layer.In, "the model width d_model") };
        if (a.Heads > 0 && layer.In % a.Heads == 0) candidates.Add((layer.In / a.Heads, "d_model / heads"));
        candidates.Add((a.ValueSize, "the value size per head"));
        foreach (var (dimension, name) in candidates)
        {
            if (dimension <= 0 || dimension == dk || !RuleContext.Near(scale, 1 / Math.Sqrt(dimension))) continue;
            rules.Report(DiagnosticCatalog.AttentionScaleDimension, location,
                new object?[] { layer.Path, RuleValues.Show(scale), dimension, name, dk, RuleValues.Show(right), right });
            return;
        }

        // The general form: initial logit std = λ·√d_k·s_q·s_k, for unit-variance inputs to the
        // projections (the [K-8620] assumption: the input is normalised). Above ~1 the softmax starts
        // close to one-hot and its gradient vanishes.
        double s = InitialQueryStd(rules.Model, layer);
        double logitStd = scale * Math.Sqrt(dk) * s * s;
        if (logitStd > 1 + RuleContext.Tolerance && scale > right * (1 + RuleContext.Tolerance))
            rules.Report(DiagnosticCatalog.AttentionLogitsLarge, location,
                new object?[] { layer.Path, RuleValues.Show(scale), dk, RuleValues.Show(s), RuleValues.Show(logitStd), RuleValues.Show(right), right });
    }

    /// <summary>The std of a query (and key) entry at initialisation for unit-variance inputs:
    /// σ_w·√fan_in, with σ_w as the planner draws W_q and W_k (DeepNorm: Xavier-normal, gain 1;
    /// InitStd: N(0, InitStd²); default: uniform with variance 1/fan_in).</summary>
    private static double InitialQueryStd(ModelSpec model, LayerSpec layer)
    {
        var a = Of(layer);
        double fanIn = layer.In;
        if (layer.InitGain > 0) return Math.Sqrt(2.0 / (fanIn + (a.Heads * a.KeySize)) * fanIn);
        if (model.InitStd > 0) return model.InitStd * Math.Sqrt(fanIn);
        return 1;
    }

    // ---- NNS007: the key-size bottleneck ([K-7325]) -------------------------------------------------

    private static void KeySizeRule(RuleContext rules, LayerSpec layer)
    {
        // SEEDS' literal trigger, KeySize < sequence length, holds for nearly every transformer (BERT,
        // GPT-2, the nanoGPT configuration of samples/CharGpt) and SEEDS notes they work; the hint is
        // actionable only where the declaration narrows the bottleneck below the usual head width.
        var a = Of(layer);
        int keys = a.Window > 0 ? Math.Min(a.Window, rules.Model.Sequence) : rules.Model.Sequence;
        if (a.Linear || a.KeySize >= a.ValueSize || a.KeySize >= keys) return;
        rules.Report(DiagnosticCatalog.KeySizeBottleneck, Site.Layer(layer.Path, "KeySize"),
            new object?[] { layer.Path, a.KeySize, a.ValueSize, keys });
    }

    // ---- NNS009: the local window versus the training length ([K-9431]) -------------------------------

    private static void WindowRule(RuleContext rules, LayerSpec layer)
    {
        var a = Of(layer);
        if (a.Linear || a.Window <= rules.Model.Sequence || rules.Model.Sequence <= 1) return;
        rules.Report(DiagnosticCatalog.WindowBeyondSequence, Site.Layer(layer.Path, "Window"),
            new object?[] { layer.Path, a.Window, rules.Model.Sequence });
    }

    // ---- NNS003: the RoPE base ([K-8265], [K-9403]) -------------------------------------------------------

    private static void RopeRule(LayerSpec layer, RuleContext rules)
    {
        // Odd or oversized rotary dimensions are DSL205 (an error, in shape inference); SEEDS' layout
        // warning needs a checkpoint-loading declaration the DSL does not have.
        var a = Of(layer);
        if (!a.Rope || a.Linear || !(a.RopeBase > 1) || a.RopeBase == 10000) return;
        rules.Report(DiagnosticCatalog.RopeBase, Site.Layer(layer.Path, "RopeBase"), new object?[] { layer.Path, RuleValues.Show(a.RopeBase) });
    }
}

/// <summary>Softmax attention: [Attention(Heads = …, …)].</summary>
internal sealed class Attention : AttentionOp
{
    public override string Name => "Attention";

    public override string? Attribute => "AttentionAttribute";

    public override bool NeedsSequence => true;

    protected override bool IsLinear => false;

    public override void CheckLayer(RuleContext rules, LayerSpec layer) => CheckSoftmax(rules, layer);
}

/// <summary>Linear attention (Katharopoulos et al. 2020; Su, kexue.fm 7546): [LinearAttention(Heads = …, …)].</summary>
internal sealed class LinearAttention : AttentionOp
{
    public override string Name => "LinearAttention";

    public override string? Attribute => "LinearAttentionAttribute";

    protected override bool IsLinear => true;
}
