using Dsl.Generators.Emit;
using Dsl.Generators.Emit.Cuda;
using static Dsl.Generators.Emit.CudaLiterals;

namespace Dsl.Generators.Ops;

// Talking-heads attention: the heads of a query mix before the softmax (pre) and after it (post), so a
// query's heads are computed together. A first, simple form: one thread per (example, query) with the
// H × T logits and probabilities in thread-local arrays; the backward leaves P′ and λ·∂Ĵ per (query, key)
// and the mix-gradient partials per query in a scratch tail, and per-key and per-mix kernels sum them in
// a fixed order (no atomics).
internal abstract partial class AttentionOp
{
    /// <summary>Floats of scratch one talking-heads layer's backward needs for <paramref name="rows"/> rows.</summary>
    public static int TalkingScratch(Options o, int rows, int sequence) =>
        (2 * rows * o.Heads * sequence) + (2 * rows * o.Heads * o.Heads);

    /// <summary>Ĵ_h[j] = λ q_h·k_h[j] and the pre-mixed logits M_h = Σ_g pre[h, g] Ĵ_g over the key range of query i.</summary>
    private static void TalkingLogits(CudaWriter c, Buffers ap)
    {
        var o = ap.Options;
        int t = c.Sequence, width = ap.QkvWidth, hk = o.Heads * o.KeySize, heads = o.Heads;
        c.W.Line($"float raw[{Int(heads * t)}], mixed[{Int(heads * t)}];");
        using (c.W.Block($"for (int h = 0; h < {Int(heads)}; h++)"))
        {
            c.W.Line($"const float* q = arena + {Int(ap.Qkv)} + row * {Int(width)} + h * {Int(o.KeySize)};");
            using (c.W.Block("for (int j = lo; j <= hi; j++)"))
            {
                c.W.Line($"const float* k = arena + {Int(ap.Qkv)} + (b * {Int(t)} + j) * {Int(width)} + {Int(hk)} + h * {Int(o.KeySize)};");
                c.W.Line("float score = 0.0f;");
                c.W.Line($"for (int d = 0; d < {Int(o.KeySize)}; d++) score += (lambda * q[d]) * k[d];");
                c.W.Line($"raw[h * {Int(t)} + j] = score;");
            }
        }

        using (c.W.Block($"for (int h = 0; h < {Int(heads)}; h++) for (int j = lo; j <= hi; j++)"))
        {
            c.W.Line("float sum = 0.0f;");
            c.W.Line($"for (int g = 0; g < {Int(heads)}; g++) sum += arena[{Int(ap.PreMix)} + h * {Int(heads)} + g] * raw[g * {Int(t)} + j];");
            c.W.Line($"mixed[h * {Int(t)} + j] = sum;");
        }
    }

    private static void TalkingPrologue(CudaWriter c, Buffers ap)
    {
        var o = ap.Options;
        int t = c.Sequence;
        c.W.Line($"const int b = DSL_BID / {Int((t + CudaWriter.AttentionTile - 1) / CudaWriter.AttentionTile)};");
        c.W.Line($"const int i = (DSL_BID % {Int((t + CudaWriter.AttentionTile - 1) / CudaWriter.AttentionTile)}) * {Int(CudaWriter.AttentionTile)} + DSL_TID;");
        c.W.Line($"if (i >= {Int(t)}) return;");
        c.W.Line($"const int row = b * {Int(t)} + i;");
        c.W.Line("int lo, hi;");
        c.W.Line($"dsl_key_range(i, {Int(t)}, {(o.Causal ? "1" : "0")}, {Int(Window(o))}, &lo, &hi);");
        c.W.Line($"const float lambda = {Lambda(ap)};");
    }

    private static void TalkingHeadsForward(CudaWriter c, AttentionStep s)
    {
        var ap = s.Attention;
        var o = ap.Options;
        int t = c.Sequence, width = ap.QkvWidth, hk = o.Heads * o.KeySize, hv = o.Heads * o.ValueSize, heads = o.Heads;
        int tiles = (t + CudaWriter.AttentionTile - 1) / CudaWriter.AttentionTile;
        string name = $"{c.Prefix}_talking_heads";
        c.W.Line($"/* {s.Layer}: talking heads. Per query: Ĵ_h = λ q_h·K_hᵀ, M_h = Σ_g pre[h, g] Ĵ_g, P_h = softmax(M_h) (ln-sum-exp kept at");
        c.W.Line($"   {Int(ap.Stats)}, [batch, heads, T]), P′_h = Σ_g post[h, g] P_g, o_h = P′_h·V_h. One thread per (example, query). */");
        using (c.W.Block($"DSL_KERNEL({name})"))
        {
            TalkingPrologue(c, ap);
            TalkingLogits(c, ap);
            using (c.W.Block($"for (int h = 0; h < {Int(heads)}; h++)"))
            {
                c.W.Line("float m = -DSL_INF, sum = 0.0f;");
                c.W.Line($"for (int j = lo; j <= hi; j++) m = mixed[h * {Int(t)} + j] > m ? mixed[h * {Int(t)} + j] : m;");
                c.W.Line($"for (int j = lo; j <= hi; j++) {{ const float e = DSL_EXPF(mixed[h * {Int(t)} + j] - m); raw[h * {Int(t)} + j] = e; sum += e; }}");
                c.W.Line($"for (int j = lo; j <= hi; j++) raw[h * {Int(t)} + j] *= 1.0f / sum; /* raw now holds P */");
                c.W.Line($"arena[{Int(ap.Stats)} + (b * {Int(heads)} + h) * {Int(t)} + i] = m + DSL_LOGF(sum);");
            }

            using (c.W.Block($"for (int h = 0; h < {Int(heads)}; h++)"))
            {
                c.W.Line($"float* out = arena + {Int(ap.Heads)} + row * {Int(hv)} + h * {Int(o.ValueSize)};");
                c.W.Line($"for (int d = 0; d < {Int(o.ValueSize)}; d++) out[d] = 0.0f;");
                using (c.W.Block("for (int j = lo; j <= hi; j++)"))
                {
                    c.W.Line("float p = 0.0f;");
                    c.W.Line($"for (int g = 0; g < {Int(heads)}; g++) p += arena[{Int(ap.PostMix)} + h * {Int(heads)} + g] * raw[g * {Int(t)} + j];");
                    c.W.Line($"const float* v = arena + {Int(ap.Qkv)} + (b * {Int(t)} + j) * {Int(width)} + {Int(2 * hk)} + h * {Int(o.ValueSize)};");
                    c.W.Line($"for (int d = 0; d < {Int(o.ValueSize)}; d++) out[d] += p * v[d];");
                }
            }
        }

        c.W.Line();
        c.Launch(new CudaLaunchSpec(name, $"{s.Layer}: talking-heads attention forward", "Batches", tiles, CudaWriter.AttentionTile));
    }

    private static void TalkingHeadsBackward(CudaWriter c, BackwardStep s)
    {
        var ap = s.Attention;
        var o = ap.Options;
        int t = c.Sequence, width = ap.QkvWidth, hk = o.Heads * o.KeySize, hv = o.Heads * o.ValueSize, heads = o.Heads, mix = heads * heads;
        int tiles = (t + CudaWriter.AttentionTile - 1) / CudaWriter.AttentionTile;
        int rows = c.Plan.Rows;
        int mixedP = c.TalkingOffset, dRaw = mixedP + (rows * heads * t), partials = dRaw + (rows * heads * t);
        int g0 = s.GW;
        bool acc = s.AccumulateParams;

        string query = $"{c.Prefix}_talking_heads_backward_query";
        c.W.Line($"/* {s.Layer}: talking-heads backward per query (one thread per (example, query)): P from the kept ln-sum-exp,");
        c.W.Line($"   P′ = post·P and λ·∂Ĵ are left per (query, head, key) at {Int(mixedP)} and {Int(dRaw)} (zero outside the key range),");
        c.W.Line($"   ∂q written, and the per-query partials ⟨∂J_h, Ĵ_g⟩, ⟨∂P′_h, P_g⟩ of ∂pre and ∂post at {Int(partials)}. */");
        using (c.W.Block($"DSL_KERNEL({query})"))
        {
            TalkingPrologue(c, ap);
            TalkingLogits(c, ap);
            c.W.Line($"float p[{Int(heads * t)}], dmixed[{Int(heads * t)}], dp[{Int(heads * t)}];");
            c.W.Line($"float* keep = arena + {Int(mixedP)} + row * {Int(heads * t)};");
            c.W.Line($"float* draw = arena + {Int(dRaw)} + row * {Int(heads * t)};");
            c.W.Line($"float* part = arena + {Int(partials)} + row * {Int(2 * mix)};");
            c.W.Line($"for (int e = 0; e < {Int(heads * t)}; e++) {{ keep[e] = 0.0f; draw[e] = 0.0f; p[e] = 0.0f; dmixed[e] = 0.0f; dp[e] = 0.0f; }}");
            c.W.Line($"for (int h = 0; h < {Int(heads)}; h++) {{ const float lse = arena[{Int(ap.Stats)} + (b * {Int(heads)} + h) * {Int(t)} + i]; for (int j = lo; j <= hi; j++) p[h * {Int(t)} + j] = DSL_EXPF(mixed[h * {Int(t)} + j] - lse); }}");
            c.W.Line("/* P′_h = Σ_g post[h, g] P_g (kept for ∂v); ∂P′_h[j] = ∂o_h·v_h[j] */");
            using (c.W.Block($"for (int h = 0; h < {Int(heads)}; h++) for (int j = lo; j <= hi; j++)"))
            {
                c.W.Line("float mp = 0.0f;");
                c.W.Line($"for (int g = 0; g < {Int(heads)}; g++) mp += arena[{Int(ap.PostMix)} + h * {Int(heads)} + g] * p[g * {Int(t)} + j];");
                c.W.Line($"keep[h * {Int(t)} + j] = mp;");
                c.W.Line($"const float* v = arena + {Int(ap.Qkv)} + (b * {Int(t)} + j) * {Int(width)} + {Int(2 * hk)} + h * {Int(o.ValueSize)};");
                c.W.Line($"const float* dout = arena + {Int(ap.DHeads)} + row * {Int(hv)} + h * {Int(o.ValueSize)};");
                c.W.Line("float dot = 0.0f;");
                c.W.Line($"for (int d = 0; d < {Int(o.ValueSize)}; d++) dot += dout[d] * v[d];");
                c.W.Line($"dmixed[h * {Int(t)} + j] = dot;");
            }

            c.W.Line("/* ∂post[h, g] partial = ⟨∂P′_h, P_g⟩; ∂P_g = Σ_h post[h, g] ∂P′_h; ∂J_g = P_g ⊙ (∂P_g − ⟨∂P_g, P_g⟩) */");
            c.W.Line($"for (int h = 0; h < {Int(heads)}; h++) for (int g = 0; g < {Int(heads)}; g++) {{ float dot = 0.0f; for (int j = lo; j <= hi; j++) dot += dmixed[h * {Int(t)} + j] * p[g * {Int(t)} + j]; part[{Int(mix)} + h * {Int(heads)} + g] = dot; }}");
            using (c.W.Block($"for (int g = 0; g < {Int(heads)}; g++)"))
            {
                c.W.Line("float dot = 0.0f;");
                using (c.W.Block("for (int j = lo; j <= hi; j++)"))
                {
                    c.W.Line("float sum = 0.0f;");
                    c.W.Line($"for (int h = 0; h < {Int(heads)}; h++) sum += arena[{Int(ap.PostMix)} + h * {Int(heads)} + g] * dmixed[h * {Int(t)} + j];");
                    c.W.Line($"dp[g * {Int(t)} + j] = sum;");
                    c.W.Line($"dot += sum * p[g * {Int(t)} + j];");
                }

                c.W.Line($"for (int j = lo; j <= hi; j++) dp[g * {Int(t)} + j] = p[g * {Int(t)} + j] * (dp[g * {Int(t)} + j] - dot);");
            }

            c.W.Line("/* ∂pre[h, g] partial = ⟨∂J_h, Ĵ_g⟩; λ∂Ĵ_g = λ Σ_h pre[h, g] ∂J_h; ∂q_g = Σ_j λ∂Ĵ_g[j] k_g[j] */");
            c.W.Line($"for (int h = 0; h < {Int(heads)}; h++) for (int g = 0; g < {Int(heads)}; g++) {{ float dot = 0.0f; for (int j = lo; j <= hi; j++) dot += dp[h * {Int(t)} + j] * raw[g * {Int(t)} + j]; part[h * {Int(heads)} + g] = dot; }}");
            using (c.W.Block($"for (int g = 0; g < {Int(heads)}; g++)"))
            {
                c.W.Line($"float* dq = arena + {Int(ap.DQkv)} + row * {Int(width)} + g * {Int(o.KeySize)};");
                c.W.Line($"for (int d = 0; d < {Int(o.KeySize)}; d++) dq[d] = 0.0f;");
                using (c.W.Block("for (int j = lo; j <= hi; j++)"))
                {
                    c.W.Line("float sum = 0.0f;");
                    c.W.Line($"for (int h = 0; h < {Int(heads)}; h++) sum += arena[{Int(ap.PreMix)} + h * {Int(heads)} + g] * dp[h * {Int(t)} + j];");
                    c.W.Line("sum *= lambda;");
                    c.W.Line($"draw[g * {Int(t)} + j] = sum;");
                    c.W.Line($"const float* k = arena + {Int(ap.Qkv)} + (b * {Int(t)} + j) * {Int(width)} + {Int(hk)} + g * {Int(o.KeySize)};");
                    c.W.Line($"for (int d = 0; d < {Int(o.KeySize)}; d++) dq[d] += sum * k[d];");
                }
            }
        }

        c.W.Line();
        c.Launch(new CudaLaunchSpec(query, $"{s.Layer}: talking-heads backward, per query", "Batches", tiles, CudaWriter.AttentionTile));

        string key = $"{c.Prefix}_talking_heads_backward_key_value";
        c.W.Line($"/* {s.Layer}: ∂k_g[j] = Σ_i λ∂Ĵ_g[i, j] q_g[i], ∂v_h[j] = Σ_i P′_h[i, j] ∂o_h[i]; one thread per (example, key), queries in order. */");
        using (c.W.Block($"DSL_KERNEL({key})"))
        {
            c.W.Line($"const int b = DSL_BID / {Int(tiles)};");
            c.W.Line($"const int j = (DSL_BID % {Int(tiles)}) * {Int(CudaWriter.AttentionTile)} + DSL_TID;");
            c.W.Line($"if (j >= {Int(t)}) return;");
            c.W.Line($"float* out = arena + {Int(ap.DQkv)} + (b * {Int(t)} + j) * {Int(width)};");
            using (c.W.Block($"for (int h = 0; h < {Int(heads)}; h++)"))
            {
                c.W.Line($"float dk[{Int(o.KeySize)}], dv[{Int(o.ValueSize)}];");
                c.W.Line($"for (int d = 0; d < {Int(o.KeySize)}; d++) dk[d] = 0.0f;");
                c.W.Line($"for (int d = 0; d < {Int(o.ValueSize)}; d++) dv[d] = 0.0f;");
                using (c.W.Block($"for (int i = 0; i < {Int(t)}; i++)"))
                {
                    c.W.Line($"const int row = b * {Int(t)} + i;");
                    c.W.Line($"const float gk = arena[{Int(dRaw)} + row * {Int(heads * t)} + h * {Int(t)} + j];");
                    c.W.Line($"const float gv = arena[{Int(mixedP)} + row * {Int(heads * t)} + h * {Int(t)} + j];");
                    c.W.Line($"for (int d = 0; d < {Int(o.KeySize)}; d++) dk[d] += gk * arena[{Int(ap.Qkv)} + row * {Int(width)} + h * {Int(o.KeySize)} + d];");
                    c.W.Line($"for (int d = 0; d < {Int(o.ValueSize)}; d++) dv[d] += gv * arena[{Int(ap.DHeads)} + row * {Int(hv)} + h * {Int(o.ValueSize)} + d];");
                }

                c.W.Line($"for (int d = 0; d < {Int(o.KeySize)}; d++) out[{Int(hk)} + h * {Int(o.KeySize)} + d] = dk[d];");
                c.W.Line($"for (int d = 0; d < {Int(o.ValueSize)}; d++) out[{Int(2 * hk)} + h * {Int(o.ValueSize)} + d] = dv[d];");
            }
        }

        c.W.Line();
        c.Launch(new CudaLaunchSpec(key, $"{s.Layer}: talking-heads backward, ∂k and ∂v", "Batches", tiles, CudaWriter.AttentionTile));

        string mixName = $"{c.Prefix}_talking_heads_mix_gradient";
        c.W.Line($"/* {s.Layer}: ∂pre {CudaWriter.Op(acc)} Σ_rows partials, ∂post {CudaWriter.Op(acc)} Σ_rows partials (one thread per mix element, rows in order). */");
        using (c.W.Block($"DSL_KERNEL({mixName})"))
        {
            using (c.W.Block($"DSL_FOR_ELEMENTS(e, {Int(2 * mix)})"))
            {
                c.W.Line("float sum = 0.0f;");
                c.W.Line($"for (int r = 0; r < args.rows; r++) sum += arena[{Int(partials)} + r * {Int(2 * mix)} + e];");
                c.W.Line($"const int target = e < {Int(mix)} ? {Int(g0 + ap.PreMix)} + e : {Int(g0 + ap.PostMix)} + (e - {Int(mix)});");
                c.W.Line(acc ? "arena[target] += sum;" : "arena[target] = sum;");
            }
        }

        c.W.Line();
        c.Launch(new CudaLaunchSpec(mixName, $"{s.Layer}: talking-heads mix gradients", "Elements", 2 * mix, CudaWriter.ElementBlock));
    }
}
