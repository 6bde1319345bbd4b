using System.Collections.Generic;
using Dsl.Generators.Model;
using Dsl.Generators.Planning;
using static Dsl.Generators.Emit.CudaLiterals;

namespace Dsl.Generators.Emit.Cuda;

// Talking-heads attention: the heads of a query mix before the softmax (pre) and after it (post), so a
// query's heads are computed together. A first, simple form: one thread per (example, query) with the
// H × T logits and probabilities in thread-local arrays; the backward leaves P′ and λ·∂Ĵ per (query, key)
// and the mix-gradient partials per query in a scratch tail, and per-key and per-mix kernels sum them in
// a fixed order (no atomics).
internal static partial class CudaEmitter
{
    /// <summary>Floats of scratch one talking-heads layer's backward needs for <paramref name="rows"/> rows.</summary>
    private static int TalkingScratch(AttentionSpec o, int rows, int sequence) =>
        (2 * rows * o.Heads * sequence) + (2 * rows * o.Heads * o.Heads);

    private sealed partial class Emission
    {
        /// <summary>Ĵ_h[j] = λ q_h·k_h[j] and the pre-mixed logits M_h = Σ_g pre[h, g] Ĵ_g over the key range of query i.</summary>
        private void TalkingLogits(CodeWriter w, AttentionPlan ap)
        {
            var o = ap.Options;
            int t = Sequence, width = ap.QkvWidth, hk = o.Heads * o.KeySize, heads = o.Heads;
            w.Line($"float raw[{Int(heads * t)}], mixed[{Int(heads * t)}];");
            using (w.Block($"for (int h = 0; h < {Int(heads)}; h++)"))
            {
                w.Line($"const float* q = arena + {Int(ap.Qkv)} + row * {Int(width)} + h * {Int(o.KeySize)};");
                using (w.Block("for (int j = lo; j <= hi; j++)"))
                {
                    w.Line($"const float* k = arena + {Int(ap.Qkv)} + (b * {Int(t)} + j) * {Int(width)} + {Int(hk)} + h * {Int(o.KeySize)};");
                    w.Line("float score = 0.0f;");
                    w.Line($"for (int d = 0; d < {Int(o.KeySize)}; d++) score += (lambda * q[d]) * k[d];");
                    w.Line($"raw[h * {Int(t)} + j] = score;");
                }
            }

            using (w.Block($"for (int h = 0; h < {Int(heads)}; h++) for (int j = lo; j <= hi; j++)"))
            {
                w.Line("float sum = 0.0f;");
                w.Line($"for (int g = 0; g < {Int(heads)}; g++) sum += arena[{Int(ap.PreMix)} + h * {Int(heads)} + g] * raw[g * {Int(t)} + j];");
                w.Line($"mixed[h * {Int(t)} + j] = sum;");
            }
        }

        private void TalkingPrologue(CodeWriter w, AttentionPlan ap)
        {
            var o = ap.Options;
            int t = Sequence;
            w.Line($"const int b = DSL_BID / {Int((t + AttentionTile - 1) / AttentionTile)};");
            w.Line($"const int i = (DSL_BID % {Int((t + AttentionTile - 1) / AttentionTile)}) * {Int(AttentionTile)} + DSL_TID;");
            w.Line($"if (i >= {Int(t)}) return;");
            w.Line($"const int row = b * {Int(t)} + i;");
            w.Line("int lo, hi;");
            w.Line($"dsl_key_range(i, {Int(t)}, {(o.Causal ? "1" : "0")}, {Int(Window(o))}, &lo, &hi);");
            w.Line($"const float lambda = {Lambda(ap)};");
        }

        private void TalkingHeadsForward(CodeWriter w, List<CudaLaunchSpec> launches, PlanStep s, string prefix)
        {
            var ap = s.Attention!;
            var o = ap.Options;
            int t = Sequence, width = ap.QkvWidth, hk = o.Heads * o.KeySize, hv = o.Heads * o.ValueSize, heads = o.Heads;
            int tiles = (t + AttentionTile - 1) / AttentionTile;
            string name = $"{prefix}_talking_heads";
            w.Line($"/* {s.Layer}: talking heads. Per query: Ĵ_h = λ q_h·K_hᵀ, M_h = Σ_g pre[h, g] Ĵ_g, P_h = softmax(M_h) (ln-sum-exp kept at");
            w.Line($"   {Int(ap.Stats)}, [batch, heads, T]), P′_h = Σ_g post[h, g] P_g, o_h = P′_h·V_h. One thread per (example, query). */");
            using (w.Block($"DSL_KERNEL({name})"))
            {
                TalkingPrologue(w, ap);
                TalkingLogits(w, ap);
                using (w.Block($"for (int h = 0; h < {Int(heads)}; h++)"))
                {
                    w.Line("float m = -DSL_INF, sum = 0.0f;");
                    w.Line($"for (int j = lo; j <= hi; j++) m = mixed[h * {Int(t)} + j] > m ? mixed[h * {Int(t)} + j] : m;");
                    w.Line($"for (int j = lo; j <= hi; j++) {{ const float e = DSL_EXPF(mixed[h * {Int(t)} + j] - m); raw[h * {Int(t)} + j] = e; sum += e; }}");
                    w.Line($"for (int j = lo; j <= hi; j++) raw[h * {Int(t)} + j] *= 1.0f / sum; /* raw now holds P */");
                    w.Line($"arena[{Int(ap.Stats)} + (b * {Int(heads)} + h) * {Int(t)} + i] = m + DSL_LOGF(sum);");
                }

                using (w.Block($"for (int h = 0; h < {Int(heads)}; h++)"))
                {
                    w.Line($"float* out = arena + {Int(ap.Heads)} + row * {Int(hv)} + h * {Int(o.ValueSize)};");
                    w.Line($"for (int d = 0; d < {Int(o.ValueSize)}; d++) out[d] = 0.0f;");
                    using (w.Block("for (int j = lo; j <= hi; j++)"))
                    {
                        w.Line("float p = 0.0f;");
                        w.Line($"for (int g = 0; g < {Int(heads)}; g++) p += arena[{Int(ap.PostMix)} + h * {Int(heads)} + g] * raw[g * {Int(t)} + j];");
                        w.Line($"const float* v = arena + {Int(ap.Qkv)} + (b * {Int(t)} + j) * {Int(width)} + {Int(2 * hk)} + h * {Int(o.ValueSize)};");
                        w.Line($"for (int d = 0; d < {Int(o.ValueSize)}; d++) out[d] += p * v[d];");
                    }
                }
            }

            w.Line();
            launches.Add(new CudaLaunchSpec(name, $"{s.Layer}: talking-heads attention forward", "Batches", tiles, AttentionTile));
        }

        private void TalkingHeadsBackward(CodeWriter w, List<CudaLaunchSpec> launches, PlanStep s, string prefix)
        {
            var ap = s.Attention!;
            var o = ap.Options;
            int t = Sequence, width = ap.QkvWidth, hk = o.Heads * o.KeySize, hv = o.Heads * o.ValueSize, heads = o.Heads, mix = heads * heads;
            int tiles = (t + AttentionTile - 1) / AttentionTile;
            int rows = _plan.Rows;
            int mixedP = _talkingOffset, dRaw = mixedP + (rows * heads * t), partials = dRaw + (rows * heads * t);
            int g0 = s.GW;
            bool acc = s.AccumulateParams;

            string query = $"{prefix}_talking_heads_backward_query";
            w.Line($"/* {s.Layer}: talking-heads backward per query (one thread per (example, query)): P from the kept ln-sum-exp,");
            w.Line($"   P′ = post·P and λ·∂Ĵ are left per (query, head, key) at {Int(mixedP)} and {Int(dRaw)} (zero outside the key range),");
            w.Line($"   ∂q written, and the per-query partials ⟨∂J_h, Ĵ_g⟩, ⟨∂P′_h, P_g⟩ of ∂pre and ∂post at {Int(partials)}. */");
            using (w.Block($"DSL_KERNEL({query})"))
            {
                TalkingPrologue(w, ap);
                TalkingLogits(w, ap);
                w.Line($"float p[{Int(heads * t)}], dmixed[{Int(heads * t)}], dp[{Int(heads * t)}];");
                w.Line($"float* keep = arena + {Int(mixedP)} + row * {Int(heads * t)};");
                w.Line($"float* draw = arena + {Int(dRaw)} + row * {Int(heads * t)};");
                w.Line($"float* part = arena + {Int(partials)} + row * {Int(2 * mix)};");
                w.Line($"for (int e = 0; e < {Int(heads * t)}; e++) {{ keep[e] = 0.0f; draw[e] = 0.0f; p[e] = 0.0f; dmixed[e] = 0.0f; dp[e] = 0.0f; }}");
                w.Line($"for (int h = 0; h < {Int(heads)}; h++) {{ const float lse = arena[{Int(ap.Stats)} + (b * {Int(heads)} + h) * {Int(t)} + i]; for (int j = lo; j <= hi; j++) p[h * {Int(t)} + j] = DSL_EXPF(mixed[h * {Int(t)} + j] - lse); }}");
                w.Line("/* P′_h = Σ_g post[h, g] P_g (kept for ∂v); ∂P′_h[j] = ∂o_h·v_h[j] */");
                using (w.Block($"for (int h = 0; h < {Int(heads)}; h++) for (int j = lo; j <= hi; j++)"))
                {
                    w.Line("float mp = 0.0f;");
                    w.Line($"for (int g = 0; g < {Int(heads)}; g++) mp += arena[{Int(ap.PostMix)} + h * {Int(heads)} + g] * p[g * {Int(t)} + j];");
                    w.Line($"keep[h * {Int(t)} + j] = mp;");
                    w.Line($"const float* v = arena + {Int(ap.Qkv)} + (b * {Int(t)} + j) * {Int(width)} + {Int(2 * hk)} + h * {Int(o.ValueSize)};");
                    w.Line($"const float* dout = arena + {Int(ap.DHeads)} + row * {Int(hv)} + h * {Int(o.ValueSize)};");
                    w.Line("float dot = 0.0f;");
                    w.Line($"for (int d = 0; d < {Int(o.ValueSize)}; d++) dot += dout[d] * v[d];");
                    w.Line($"dmixed[h * {Int(t)} + j] = dot;");
                }

                w.Line("/* ∂post[h, g] partial = ⟨∂P′_h, P_g⟩; ∂P_g = Σ_h post[h, g] ∂P′_h; ∂J_g = P_g ⊙ (∂P_g − ⟨∂P_g, P_g⟩) */");
                w.Line($"for (int h = 0; h < {Int(heads)}; h++) for (int g = 0; g < {Int(heads)}; g++) {{ float dot = 0.0f; for (int j = lo; j <= hi; j++) dot += dmixed[h * {Int(t)} + j] * p[g * {Int(t)} + j]; part[{Int(mix)} + h * {Int(heads)} + g] = dot; }}");
                using (w.Block($"for (int g = 0; g < {Int(heads)}; g++)"))
                {
                    w.Line("float dot = 0.0f;");
                    using (w.Block("for (int j = lo; j <= hi; j++)"))
                    {
                        w.Line("float sum = 0.0f;");
                        w.Line($"for (int h = 0; h < {Int(heads)}; h++) sum += arena[{Int(ap.PostMix)} + h * {Int(heads)} + g] * dmixed[h * {Int(t)} + j];");
                        w.Line($"dp[g * {Int(t)} + j] = sum;");
                        w.Line($"dot += sum * p[g * {Int(t)} + j];");
                    }

                    w.Line($"for (int j = lo; j <= hi; j++) dp[g * {Int(t)} + j] = p[g * {Int(t)} + j] * (dp[g * {Int(t)} + j] - dot);");
                }

                w.Line("/* ∂pre[h, g] partial = ⟨∂J_h, Ĵ_g⟩; λ∂Ĵ_g = λ Σ_h pre[h, g] ∂J_h; ∂q_g = Σ_j λ∂Ĵ_g[j] k_g[j] */");
                w.Line($"for (int h = 0; h < {Int(heads)}; h++) for (int g = 0; g < {Int(heads)}; g++) {{ float dot = 0.0f; for (int j = lo; j <= hi; j++) dot += dp[h * {Int(t)} + j] * raw[g * {Int(t)} + j]; part[h * {Int(heads)} + g] = dot; }}");
                using (w.Block($"for (int g = 0; g < {Int(heads)}; g++)"))
                {
                    w.Line($"float* dq = arena + {Int(ap.DQkv)} + row * {Int(width)} + g * {Int(o.KeySize)};");
                    w.Line($"for (int d = 0; d < {Int(o.KeySize)}; d++) dq[d] = 0.0f;");
                    using (w.Block("for (int j = lo; j <= hi; j++)"))
                    {
                        w.Line("float sum = 0.0f;");
                        w.Line($"for (int h = 0; h < {Int(heads)}; h++) sum += arena[{Int(ap.PreMix)} + h * {Int(heads)} + g] * dp[h * {Int(t)} + j];");
                        w.Line("sum *= lambda;");
                        w.Line($"draw[g * {Int(t)} + j] = sum;");
                        w.Line($"const float* k = arena + {Int(ap.Qkv)} + (b * {Int(t)} + j) * {Int(width)} + {Int(hk)} + g * {Int(o.KeySize)};");
                        w.Line($"for (int d = 0; d < {Int(o.KeySize)}; d++) dq[d] += sum * k[d];");
                    }
                }
            }

            w.Line();
            launches.Add(new CudaLaunchSpec(query, $"{s.Layer}: talking-heads backward, per query", "Batches", tiles, AttentionTile));

            string key = $"{prefix}_talking_heads_backward_key_value";
            w.Line($"/* {s.Layer}: ∂k_g[j] = Σ_i λ∂Ĵ_g[i, j] q_g[i], ∂v_h[j] = Σ_i P′_h[i, j] ∂o_h[i]; one thread per (example, key), queries in order. */");
            using (w.Block($"DSL_KERNEL({key})"))
            {
                w.Line($"const int b = DSL_BID / {Int(tiles)};");
                w.Line($"const int j = (DSL_BID % {Int(tiles)}) * {Int(AttentionTile)} + DSL_TID;");
                w.Line($"if (j >= {Int(t)}) return;");
                w.Line($"float* out = arena + {Int(ap.DQkv)} + (b * {Int(t)} + j) * {Int(width)};");
                using (w.Block($"for (int h = 0; h < {Int(heads)}; h++)"))
                {
                    w.Line($"float dk[{Int(o.KeySize)}], dv[{Int(o.ValueSize)}];");
                    w.Line($"for (int d = 0; d < {Int(o.KeySize)}; d++) dk[d] = 0.0f;");
                    w.Line($"for (int d = 0; d < {Int(o.ValueSize)}; d++) dv[d] = 0.0f;");
                    using (w.Block($"for (int i = 0; i < {Int(t)}; i++)"))
                    {
                        w.Line($"const int row = b * {Int(t)} + i;");
                        w.Line($"const float gk = arena[{Int(dRaw)} + row * {Int(heads * t)} + h * {Int(t)} + j];");
                        w.Line($"const float gv = arena[{Int(mixedP)} + row * {Int(heads * t)} + h * {Int(t)} + j];");
                        w.Line($"for (int d = 0; d < {Int(o.KeySize)}; d++) dk[d] += gk * arena[{Int(ap.Qkv)} + row * {Int(width)} + h * {Int(o.KeySize)} + d];");
                        w.Line($"for (int d = 0; d < {Int(o.ValueSize)}; d++) dv[d] += gv * arena[{Int(ap.DHeads)} + row * {Int(hv)} + h * {Int(o.ValueSize)} + d];");
                    }

                    w.Line($"for (int d = 0; d < {Int(o.KeySize)}; d++) out[{Int(hk)} + h * {Int(o.KeySize)} + d] = dk[d];");
                    w.Line($"for (int d = 0; d < {Int(o.ValueSize)}; d++) out[{Int(2 * hk)} + h * {Int(o.ValueSize)} + d] = dv[d];");
                }
            }

            w.Line();
            launches.Add(new CudaLaunchSpec(key, $"{s.Layer}: talking-heads backward, ∂k and ∂v", "Batches", tiles, AttentionTile));

            string mixName = $"{prefix}_talking_heads_mix_gradient";
            w.Line($"/* {s.Layer}: ∂pre {Op(acc)} Σ_rows partials, ∂post {Op(acc)} Σ_rows partials (one thread per mix element, rows in order). */");
            using (w.Block($"DSL_KERNEL({mixName})"))
            {
                using (w.Block($"DSL_FOR_ELEMENTS(e, {Int(2 * mix)})"))
                {
                    w.Line("float sum = 0.0f;");
                    w.Line($"for (int r = 0; r < args.rows; r++) sum += arena[{Int(partials)} + r * {Int(2 * mix)} + e];");
                    w.Line($"const int target = e < {Int(mix)} ? {Int(g0 + ap.PreMix)} + e : {Int(g0 + ap.PostMix)} + (e - {Int(mix)});");
                    w.Line(acc ? "arena[target] += sum;" : "arena[target] = sum;");
                }
            }

            w.Line();
            launches.Add(new CudaLaunchSpec(mixName, $"{s.Layer}: talking-heads mix gradients", "Elements", 2 * mix, ElementBlock));
        }
    }
}
