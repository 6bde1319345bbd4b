using System.Linq;
using Dsl.Generators.Emit;
using Dsl.Generators.Emit.Cuda;
using static Dsl.Generators.Emit.CudaLiterals;

namespace Dsl.Generators.Ops;

/// <summary>Attention's CUDA form: the projections are cuBLAS calls; RoPE, the biases and the heads are kernels,
/// softmax and linear attention as flash-style kernels (key/value tiles in shared memory, an online softmax per
/// query, only the log-sum-exp kept for the backward).</summary>
internal abstract partial class AttentionOp
{
    private static void CudaForward(CudaWriter c, ForwardStep s)
    {
        if (s.Attention.Options is { TalkingHeads: true, Linear: true }) c.NotYet($"AttentionForward ({s.Title})");
        else AttentionForward(c, s);
    }

    private static void CudaBackward(CudaWriter c, BackwardStep s)
    {
        if (s.Attention.Options is { TalkingHeads: true, Linear: true }) c.NotYet($"AttentionBackward ({s.Title})");
        else AttentionBackward(c, s);
    }

    // ---------- attention ----------

    /// <summary>Linear attention ignores the window (Dsl.Kernels.LinearAttention).</summary>
    private static int Window(Options o) => o.Linear ? 0 : o.Window;

    private static string Lambda(Buffers ap) => ap.Options.EntropyInvariant
        ? $"DSL_LOGF((float)(hi - lo + 1)) * {Float(1.0 / (System.Math.Log(512) * System.Math.Sqrt(ap.Options.KeySize)))}"
        : Float(ap.Scale);

    private static void Rope(CudaWriter c, AttentionStep s, string name, int buffer, bool inverse)
    {
        var ap = s.Attention;
        var o = ap.Options;
        int half = o.RotaryDim / 2, hk = o.Heads * o.KeySize;
        int pairs = 2 * o.Heads * half;
        string comment = inverse
            ? $"{s.Layer}: RoPE backward on ∂q and ∂k: rotate pairs (j, j + {Int(half)}) back by −t·θ_j"
            : $"{s.Layer}: RoPE on q and k: rotate pairs (j, j + {Int(half)}) of each head by t·θ_j (cos|sin table at {Int(ap.RopeTable)})";
        CudaWriter.Elementwise(c.W, c.Launches, name, comment, pairs, false,
            $"const int r = i / {Int(pairs)}, p = i % {Int(pairs)};",
            $"const int part = p / {Int(o.Heads * half)}, h = (p / {Int(half)}) % {Int(o.Heads)}, j = p % {Int(half)};",
            $"float* a = arena + {Int(buffer)} + r * {Int(ap.QkvWidth)} + part * {Int(hk)} + h * {Int(o.KeySize)};",
            $"const float* row = arena + {Int(ap.RopeTable)} + (r % {Int(c.Sequence)}) * {Int(o.RotaryDim)};",
            $"const float cosine = row[j], sine = row[{Int(half)} + j];",
            "const float x1 = a[j], x2 = a[j + " + Int(half) + "];",
            inverse ? "a[j] = x1 * cosine + x2 * sine;" : "a[j] = x1 * cosine - x2 * sine;",
            inverse ? $"a[j + {Int(half)}] = x2 * cosine - x1 * sine;" : $"a[j + {Int(half)}] = x1 * sine + x2 * cosine;");
    }

    /// <summary>ALiBi's slope of head h, as a constant table of the kernel (the slopes of Dsl.Contracts.AttentionSlots), or nothing.</summary>
    private static void AlibiSlopes(CudaWriter c, Options o)
    {
        if (!o.Alibi) return;
        var slopes = Enumerable.Range(0, o.Heads).Select(h => Float(Contracts.AttentionSlots.AlibiSlope(o.Heads, h)));
        c.W.Line($"const float slopes[{Int(o.Heads)}] = {{ {string.Join(", ", slopes)} }};");
        c.W.Line("const float slope = slopes[h]; /* ALiBi: the score of key j is biased by −slope·|i − j| */");
    }

    /// <summary>" − slope·|i − j|" after a score, with ALiBi.</summary>
    private static string AlibiBias(Options o, string i, string j) => o.Alibi ? $" - slope * (float)({i} > {j} ? {i} - {j} : {j} - {i})" : "";

    private static void BiasEpilogue(CudaWriter c, string name, string comment, int y, int bias, int width) =>
        CudaWriter.Elementwise(c.W, c.Launches, name, comment, width, false, $"arena[{Int(y)} + i] += arena[{Int(bias)} + c];");

    private static void AttentionForward(CudaWriter c, AttentionStep s)
    {
        var ap = s.Attention;
        var o = ap.Options;
        int hk = o.Heads * o.KeySize, hv = o.Heads * o.ValueSize, width = ap.QkvWidth, t = c.Sequence;
        int tiles = (t + CudaWriter.AttentionTile - 1) / CudaWriter.AttentionTile;
        c.W.Line($"/* ==== {s.Layer}: {Int(o.Heads)} heads, {(o.Linear ? "linear attention, φ = elu + 1" : "softmax attention")}{(o.Causal ? ", causal" : "")}{(Window(o) > 0 ? $", window {Int(o.Window)}" : "")}, key size {Int(o.KeySize)}, value size {Int(o.ValueSize)},");
        c.W.Line(o.Linear
            ? "   o_i = Σ_j φ(q_i)·φ(k_j) v_j / Σ_j φ(q_i)·φ(k_j), in its quadratic form over the same tiles; the denominators are kept."
            : $"   λ = {(o.EntropyInvariant ? "ln n_i/(ln 512·√d)" : Literals.Double(ap.Scale))}{(ap.RopeTable >= 0 ? $", RoPE on {Int(o.RotaryDim)} dims" : "")}.");
        c.W.Line($"   q|k|v[rows, {Int(width)}] = x·W_qkvᵀ (cuBLAS){(ap.Bqkv >= 0 ? " + b" : "")}, heads = attention(q, k, v), y = heads·W_oᵀ (cuBLAS){(ap.Bo >= 0 ? " + b" : "")} ==== */");
        c.Launch(new CudaLaunchSpec($"{c.Prefix}_gemm_qkv", $"{s.Layer}: q|k|v = x·W_qkvᵀ", "Single", 0, 0,
            new CudaGemmSpec(false, true, s.X, s.In, ap.Wqkv, s.In, ap.Qkv, width, 0, width, s.In, RowsAreM: true, Accumulate: false)));
        if (ap.Bqkv >= 0) BiasEpilogue(c, $"{c.Prefix}_qkv_bias", $"{s.Layer}: q|k|v += b_qkv", ap.Qkv, ap.Bqkv, width);
        if (ap.RopeTable >= 0) Rope(c, s, $"{c.Prefix}_rope", ap.Qkv, inverse: false);

        if (o.TalkingHeads) TalkingHeadsForward(c, s);
        else
        {
        string name = $"{c.Prefix}_attention";
        c.W.Line($"/* {s.Layer}: flash-style forward. Block = (example, head, tile of {Int(CudaWriter.AttentionTile)} queries), one thread per query;");
        c.W.Line($"   key and value tiles of {Int(CudaWriter.AttentionTile)} positions pass through shared memory, the softmax is online");
        c.W.Line($"   (running max m and sum l), and only m + ln l per query is kept (at {Int(ap.Stats)}, [batch, heads, T]). */");
        using (c.W.Block($"DSL_KERNEL({name})"))
        {
            AttentionPrologue(c, ap, tiles, queries: true);
            c.W.Line($"float q[{Int(o.KeySize)}], acc[{Int(o.ValueSize)}];");
            c.W.Line("float m = -DSL_INF, l = 0.0f;");
            c.W.Line($"for (int d = 0; d < {Int(o.ValueSize)}; d++) acc[d] = 0.0f;");
            string query = $"arena[{Int(ap.Qkv)} + (b * {Int(t)} + i) * {Int(width)} + h * {Int(o.KeySize)} + d]";
            c.W.Line($"for (int d = 0; d < {Int(o.KeySize)}; d++) q[d] = valid ? {(o.Linear ? $"dsl_phi({query})" : $"{query} * lambda")} : 0.0f;");
            using (c.W.Block($"for (int kt = 0; kt < {Int(tiles)}; kt++)"))
            {
                LoadKeyValueTile(c, ap);
                using (c.W.Block($"if (valid) for (int jj = 0; jj < {Int(CudaWriter.AttentionTile)}; jj++)"))
                {
                    c.W.Line($"const int j = kt * {Int(CudaWriter.AttentionTile)} + jj;");
                    c.W.Line("if (j < lo || j > hi) continue;");
                    c.W.Line("float score = 0.0f;");
                    c.W.Line($"for (int d = 0; d < {Int(o.KeySize)}; d++) score += q[d] * keys[jj * {Int(o.KeySize)} + d];");
                    if (o.Alibi) c.W.Line($"score = score{AlibiBias(o, "i", "j")};");
                    if (o.Linear)
                    {
                        // Linear attention in its quadratic form: the weights φ(q)·φ(k) are positive and
                        // need no running max; the same tiles serve.
                        c.W.Line("l += score;");
                        c.W.Line($"for (int d = 0; d < {Int(o.ValueSize)}; d++) acc[d] += score * values[jj * {Int(o.ValueSize)} + d];");
                    }
                    else
                    {
                        c.W.Line("const float next = score > m ? score : m;");
                        c.W.Line("const float correction = DSL_EXPF(m - next), p = DSL_EXPF(score - next);");
                        c.W.Line("l = l * correction + p;");
                        c.W.Line($"for (int d = 0; d < {Int(o.ValueSize)}; d++) acc[d] = acc[d] * correction + p * values[jj * {Int(o.ValueSize)} + d];");
                        c.W.Line("m = next;");
                    }
                }
            }

            using (c.W.Block("if (valid)"))
            {
                c.W.Line($"for (int d = 0; d < {Int(o.ValueSize)}; d++) arena[{Int(ap.Heads)} + (b * {Int(t)} + i) * {Int(hv)} + h * {Int(o.ValueSize)} + d] = acc[d] / l;");
                c.W.Line(o.Linear
                    ? $"arena[{Int(ap.Stats)} + (b * {Int(o.Heads)} + h) * {Int(t)} + i] = l; (void)m;"
                    : $"arena[{Int(ap.Stats)} + (b * {Int(o.Heads)} + h) * {Int(t)} + i] = m + DSL_LOGF(l);");
            }
        }

        c.W.Line();
        c.Cooperative(name);
        c.Launch(new CudaLaunchSpec(name, $"{s.Layer}: flash-style attention forward", "Batches", o.Heads * tiles, CudaWriter.AttentionTile));
        }

        c.Launch(new CudaLaunchSpec($"{c.Prefix}_gemm_output", $"{s.Layer}: y = heads·W_oᵀ", "Single", 0, 0,
            new CudaGemmSpec(false, true, ap.Heads, hv, ap.Wo, hv, s.Y, s.Out, 0, s.Out, hv, RowsAreM: true, Accumulate: false)));
        if (ap.Bo >= 0) BiasEpilogue(c, $"{c.Prefix}_output_bias", $"{s.Layer}: y += b_o", s.Y, ap.Bo, s.Out);
    }

    /// <summary>Block → (b, h, tile), thread → position i = tile·32 + tid, its key range and λ.</summary>
    private static void AttentionPrologue(CudaWriter c, Buffers ap, int tiles, bool queries)
    {
        var o = ap.Options;
        c.W.Line($"__shared__ float keys[{Int(CudaWriter.AttentionTile * o.KeySize)}];");
        c.W.Line($"__shared__ float values[{Int(CudaWriter.AttentionTile * o.ValueSize)}];");
        c.W.Line($"const int bh = DSL_BID / {Int(tiles)}, tile = DSL_BID % {Int(tiles)};");
        c.W.Line($"const int b = bh / {Int(o.Heads)}, h = bh % {Int(o.Heads)};");
        c.W.Line($"const int i = tile * {Int(CudaWriter.AttentionTile)} + DSL_TID;");
        c.W.Line($"const int valid = i < {Int(c.Sequence)};");
        if (queries)
        {
            c.W.Line("int lo, hi;");
            c.W.Line($"dsl_key_range(i, {Int(c.Sequence)}, {(o.Causal ? "1" : "0")}, {Int(Window(o))}, &lo, &hi);");
            c.W.Line(o.Linear ? "const float lambda = 1.0f; /* unused: linear attention has no scale */" : $"const float lambda = {Lambda(ap)};");
            AlibiSlopes(c, o);
        }
    }

    /// <summary>Keys and values of positions kt·32 … kt·32 + 31 into shared memory, between barriers.</summary>
    private static void LoadKeyValueTile(CudaWriter c, Buffers ap)
    {
        var o = ap.Options;
        int hk = o.Heads * o.KeySize, width = ap.QkvWidth;
        c.W.Line("__syncthreads();");
        c.W.Line($"const int load = kt * {Int(CudaWriter.AttentionTile)} + DSL_TID;");
        using (c.W.Block($"if (load < {Int(c.Sequence)})"))
        {
            c.W.Line($"const float* row = arena + {Int(ap.Qkv)} + (b * {Int(c.Sequence)} + load) * {Int(width)};");
            c.W.Line(o.Linear
                ? $"for (int d = 0; d < {Int(o.KeySize)}; d++) keys[DSL_TID * {Int(o.KeySize)} + d] = dsl_phi(row[{Int(hk)} + h * {Int(o.KeySize)} + d]);"
                : $"for (int d = 0; d < {Int(o.KeySize)}; d++) keys[DSL_TID * {Int(o.KeySize)} + d] = row[{Int(hk)} + h * {Int(o.KeySize)} + d];");
            c.W.Line($"for (int d = 0; d < {Int(o.ValueSize)}; d++) values[DSL_TID * {Int(o.ValueSize)} + d] = row[{Int(2 * hk)} + h * {Int(o.ValueSize)} + d];");
        }

        c.W.Line("__syncthreads();");
    }

    private static void AttentionBackward(CudaWriter c, BackwardStep s)
    {
        var ap = s.Attention;
        var o = ap.Options;
        int hk = o.Heads * o.KeySize, hv = o.Heads * o.ValueSize, width = ap.QkvWidth, t = c.Sequence;
        int tiles = (t + CudaWriter.AttentionTile - 1) / CudaWriter.AttentionTile;
        int g = s.GW;
        bool acc = s.AccumulateParams;
        c.W.Line($"/* ---- {s.Layer} backward: ∂W_o {CudaWriter.Op(acc)} ∂yᵀ·heads, ∂heads = ∂y·W_o, attention backward from the kept ln-sum-exp,");
        c.W.Line($"   ∂W_qkv {CudaWriter.Op(acc)} ∂qkvᵀ·x{(s.DX >= 0 ? $", ∂x {CudaWriter.Op(s.AccumulateDX)} ∂qkv·W_qkv" : "")} (the matrix products are cuBLAS calls) ---- */");
        c.Launch(new CudaLaunchSpec($"{c.Prefix}_gemm_output_weight", $"{s.Layer}: ∂W_o {CudaWriter.Op(acc)} ∂yᵀ·heads", "Single", 0, 0,
            new CudaGemmSpec(true, false, s.DY, s.Out, ap.Heads, hv, g + ap.Wo, hv, s.Out, hv, 0, RowsAreM: false, Accumulate: acc)));
        if (ap.Bo >= 0) c.ColumnSums($"{c.Prefix}_output_bias_gradient", $"{s.Layer}: ∂b_o {CudaWriter.Op(acc)} Σ_rows ∂y", s.DY, s.Out, g + ap.Bo, acc);
        c.Launch(new CudaLaunchSpec($"{c.Prefix}_gemm_heads", $"{s.Layer}: ∂heads = ∂y·W_o", "Single", 0, 0,
            new CudaGemmSpec(false, false, s.DY, s.Out, ap.Wo, hv, ap.DHeads, hv, 0, hv, s.Out, RowsAreM: true, Accumulate: false)));

        if (o.TalkingHeads) TalkingHeadsBackward(c, s);
        else
        {
        // ∂q: per query, over key tiles (as the forward).
        string dq = $"{c.Prefix}_attention_backward_query";
        c.W.Line($"/* {s.Layer}: ∂q_i = λ_i Σ_j p_ij (∂heads_i·v_j − D_i) k_j, p_ij = exp(λ_i q_i·k_j − lse_i), D_i = ∂heads_i·heads_i;");
        c.W.Line("   one thread per query, key/value tiles in shared memory. */");
        using (c.W.Block($"DSL_KERNEL({dq})"))
        {
            AttentionPrologue(c, ap, tiles, queries: true);
            c.W.Line($"float q[{Int(o.KeySize)}], dout[{Int(o.ValueSize)}], dq[{Int(o.KeySize)}];");
            c.W.Line("float delta = 0.0f, lse = 0.0f;");
            using (c.W.Block("if (valid)"))
            {
                c.W.Line($"const int row = b * {Int(t)} + i;");
                c.W.Line(o.Linear
                    ? $"for (int d = 0; d < {Int(o.KeySize)}; d++) q[d] = dsl_phi(arena[{Int(ap.Qkv)} + row * {Int(width)} + h * {Int(o.KeySize)} + d]);"
                    : $"for (int d = 0; d < {Int(o.KeySize)}; d++) q[d] = arena[{Int(ap.Qkv)} + row * {Int(width)} + h * {Int(o.KeySize)} + d];");
                c.W.Line($"for (int d = 0; d < {Int(o.ValueSize)}; d++) {{ dout[d] = arena[{Int(ap.DHeads)} + row * {Int(hv)} + h * {Int(o.ValueSize)} + d]; delta += dout[d] * arena[{Int(ap.Heads)} + row * {Int(hv)} + h * {Int(o.ValueSize)} + d]; }}");
                c.W.Line($"lse = arena[{Int(ap.Stats)} + (b * {Int(o.Heads)} + h) * {Int(t)} + i];");
            }

            c.W.Line($"for (int d = 0; d < {Int(o.KeySize)}; d++) dq[d] = 0.0f;");
            using (c.W.Block($"for (int kt = 0; kt < {Int(tiles)}; kt++)"))
            {
                LoadKeyValueTile(c, ap);
                using (c.W.Block($"if (valid) for (int jj = 0; jj < {Int(CudaWriter.AttentionTile)}; jj++)"))
                {
                    c.W.Line($"const int j = kt * {Int(CudaWriter.AttentionTile)} + jj;");
                    c.W.Line("if (j < lo || j > hi) continue;");
                    c.W.Line("float score = 0.0f, dp = 0.0f;");
                    c.W.Line($"for (int d = 0; d < {Int(o.KeySize)}; d++) score += q[d] * keys[jj * {Int(o.KeySize)} + d];");
                    c.W.Line($"for (int d = 0; d < {Int(o.ValueSize)}; d++) dp += dout[d] * values[jj * {Int(o.ValueSize)} + d];");
                    c.W.Line(o.Linear ? "const float ds = (dp - delta) / lse; /* lse holds the denominator */" : $"const float ds = DSL_EXPF(lambda * score{AlibiBias(o, "i", "j")} - lse) * (dp - delta);");
                    c.W.Line($"for (int d = 0; d < {Int(o.KeySize)}; d++) dq[d] += ds * keys[jj * {Int(o.KeySize)} + d];");
                }
            }

            string dqOut = $"arena[{Int(ap.DQkv)} + (b * {Int(t)} + i) * {Int(width)} + h * {Int(o.KeySize)} + d]";
            c.W.Line(o.Linear
                ? $"if (valid) for (int d = 0; d < {Int(o.KeySize)}; d++) {dqOut} = dq[d] * dsl_phi_d(arena[{Int(ap.Qkv)} + (b * {Int(t)} + i) * {Int(width)} + h * {Int(o.KeySize)} + d]);"
                : $"if (valid) for (int d = 0; d < {Int(o.KeySize)}; d++) {dqOut} = lambda * dq[d];");
        }

        c.W.Line();
        c.Cooperative(dq);
        c.Launch(new CudaLaunchSpec(dq, $"{s.Layer}: attention backward, ∂q", "Batches", o.Heads * tiles, CudaWriter.AttentionTile));

        // ∂k, ∂v: per key, over query tiles.
        string dkv = $"{c.Prefix}_attention_backward_key_value";
        c.W.Line($"/* {s.Layer}: ∂k_j = Σ_i λ_i p_ij (∂heads_i·v_j − D_i) q_i, ∂v_j = Σ_i p_ij ∂heads_i; one thread per key,");
        c.W.Line("   query tiles (q, ∂heads, lse, D, λ) in shared memory. No atomics: each thread owns its key. */");
        using (c.W.Block($"DSL_KERNEL({dkv})"))
        {
            c.W.Line($"__shared__ float queries[{Int(CudaWriter.AttentionTile * o.KeySize)}];");
            c.W.Line($"__shared__ float douts[{Int(CudaWriter.AttentionTile * o.ValueSize)}];");
            c.W.Line($"__shared__ float lses[{Int(CudaWriter.AttentionTile)}], deltas[{Int(CudaWriter.AttentionTile)}], lambdas[{Int(CudaWriter.AttentionTile)}];");
            c.W.Line($"const int bh = DSL_BID / {Int(tiles)}, tile = DSL_BID % {Int(tiles)};");
            c.W.Line($"const int b = bh / {Int(o.Heads)}, h = bh % {Int(o.Heads)};");
            c.W.Line($"const int j = tile * {Int(CudaWriter.AttentionTile)} + DSL_TID;");
            c.W.Line($"const int valid = j < {Int(t)};");
            AlibiSlopes(c, o);
            c.W.Line($"float k[{Int(o.KeySize)}], v[{Int(o.ValueSize)}], dk[{Int(o.KeySize)}], dv[{Int(o.ValueSize)}];");
            string key = $"arena[{Int(ap.Qkv)} + (b * {Int(t)} + j) * {Int(width)} + {Int(hk)} + h * {Int(o.KeySize)} + d]";
            c.W.Line($"for (int d = 0; d < {Int(o.KeySize)}; d++) {{ k[d] = valid ? {(o.Linear ? $"dsl_phi({key})" : key)} : 0.0f; dk[d] = 0.0f; }}");
            c.W.Line($"for (int d = 0; d < {Int(o.ValueSize)}; d++) {{ v[d] = valid ? arena[{Int(ap.Qkv)} + (b * {Int(t)} + j) * {Int(width)} + {Int(2 * hk)} + h * {Int(o.ValueSize)} + d] : 0.0f; dv[d] = 0.0f; }}");
            using (c.W.Block($"for (int qt = 0; qt < {Int(tiles)}; qt++)"))
            {
                c.W.Line("__syncthreads();");
                c.W.Line($"const int load = qt * {Int(CudaWriter.AttentionTile)} + DSL_TID;");
                using (c.W.Block($"if (load < {Int(t)})"))
                {
                    c.W.Line($"const int row = b * {Int(t)} + load;");
                    string q = $"arena[{Int(ap.Qkv)} + row * {Int(width)} + h * {Int(o.KeySize)} + d]";
                    c.W.Line($"for (int d = 0; d < {Int(o.KeySize)}; d++) queries[DSL_TID * {Int(o.KeySize)} + d] = {(o.Linear ? $"dsl_phi({q})" : q)};");
                    c.W.Line("float delta = 0.0f;");
                    c.W.Line($"for (int d = 0; d < {Int(o.ValueSize)}; d++) {{ const float dout = arena[{Int(ap.DHeads)} + row * {Int(hv)} + h * {Int(o.ValueSize)} + d]; douts[DSL_TID * {Int(o.ValueSize)} + d] = dout; delta += dout * arena[{Int(ap.Heads)} + row * {Int(hv)} + h * {Int(o.ValueSize)} + d]; }}");
                    c.W.Line("deltas[DSL_TID] = delta;");
                    c.W.Line($"lses[DSL_TID] = arena[{Int(ap.Stats)} + (b * {Int(o.Heads)} + h) * {Int(t)} + load];");
                    c.W.Line("int lo, hi;");
                    c.W.Line($"dsl_key_range(load, {Int(t)}, {(o.Causal ? "1" : "0")}, {Int(Window(o))}, &lo, &hi);");
                    c.W.Line(o.Linear ? "lambdas[DSL_TID] = 1.0f; (void)lo; (void)hi;" : $"lambdas[DSL_TID] = {Lambda(ap)};");
                }

                c.W.Line("__syncthreads();");
                using (c.W.Block($"if (valid) for (int ii = 0; ii < {Int(CudaWriter.AttentionTile)}; ii++)"))
                {
                    c.W.Line($"const int i = qt * {Int(CudaWriter.AttentionTile)} + ii;");
                    c.W.Line($"if (i >= {Int(t)}) break;");
                    c.W.Line("int lo, hi;");
                    c.W.Line($"dsl_key_range(i, {Int(t)}, {(o.Causal ? "1" : "0")}, {Int(Window(o))}, &lo, &hi);");
                    c.W.Line("if (j < lo || j > hi) continue;");
                    c.W.Line("float score = 0.0f, dp = 0.0f;");
                    c.W.Line($"for (int d = 0; d < {Int(o.KeySize)}; d++) score += queries[ii * {Int(o.KeySize)} + d] * k[d];");
                    c.W.Line($"for (int d = 0; d < {Int(o.ValueSize)}; d++) dp += douts[ii * {Int(o.ValueSize)} + d] * v[d];");
                    if (o.Linear)
                    {
                        c.W.Line("const float p = score / lses[ii]; /* lses holds the denominators */");
                        c.W.Line("const float ds = (dp - deltas[ii]) / lses[ii];");
                    }
                    else
                    {
                        c.W.Line($"const float p = DSL_EXPF(lambdas[ii] * score{AlibiBias(o, "i", "j")} - lses[ii]);");
                        c.W.Line("const float ds = p * (dp - deltas[ii]) * lambdas[ii];");
                    }
                    c.W.Line($"for (int d = 0; d < {Int(o.KeySize)}; d++) dk[d] += ds * queries[ii * {Int(o.KeySize)} + d];");
                    c.W.Line($"for (int d = 0; d < {Int(o.ValueSize)}; d++) dv[d] += p * douts[ii * {Int(o.ValueSize)} + d];");
                }
            }

            using (c.W.Block("if (valid)"))
            {
                c.W.Line($"float* row = arena + {Int(ap.DQkv)} + (b * {Int(t)} + j) * {Int(width)};");
                c.W.Line(o.Linear
                    ? $"for (int d = 0; d < {Int(o.KeySize)}; d++) row[{Int(hk)} + h * {Int(o.KeySize)} + d] = dk[d] * dsl_phi_d(arena[{Int(ap.Qkv)} + (b * {Int(t)} + j) * {Int(width)} + {Int(hk)} + h * {Int(o.KeySize)} + d]);"
                    : $"for (int d = 0; d < {Int(o.KeySize)}; d++) row[{Int(hk)} + h * {Int(o.KeySize)} + d] = dk[d];");
                c.W.Line($"for (int d = 0; d < {Int(o.ValueSize)}; d++) row[{Int(2 * hk)} + h * {Int(o.ValueSize)} + d] = dv[d];");
            }
        }

        c.W.Line();
        c.Cooperative(dkv);
        c.Launch(new CudaLaunchSpec(dkv, $"{s.Layer}: attention backward, ∂k and ∂v", "Batches", o.Heads * tiles, CudaWriter.AttentionTile));
        }

        if (ap.RopeTable >= 0) Rope(c, s, $"{c.Prefix}_rope_backward", ap.DQkv, inverse: true);
        c.Launch(new CudaLaunchSpec($"{c.Prefix}_gemm_qkv_weight", $"{s.Layer}: ∂W_qkv {CudaWriter.Op(acc)} ∂qkvᵀ·x", "Single", 0, 0,
            new CudaGemmSpec(true, false, ap.DQkv, width, s.X, s.In, g + ap.Wqkv, s.In, width, s.In, 0, RowsAreM: false, Accumulate: acc)));
        if (ap.Bqkv >= 0) c.ColumnSums($"{c.Prefix}_qkv_bias_gradient", $"{s.Layer}: ∂b_qkv {CudaWriter.Op(acc)} Σ_rows ∂qkv", ap.DQkv, width, g + ap.Bqkv, acc);
        if (s.DX >= 0)
        {
            c.Launch(new CudaLaunchSpec($"{c.Prefix}_gemm_input", $"{s.Layer}: ∂x {CudaWriter.Op(s.AccumulateDX)} ∂qkv·W_qkv", "Single", 0, 0,
                new CudaGemmSpec(false, false, ap.DQkv, width, ap.Wqkv, s.In, s.DX, s.In, 0, s.In, width, RowsAreM: true, Accumulate: s.AccumulateDX)));
        }
    }
}
