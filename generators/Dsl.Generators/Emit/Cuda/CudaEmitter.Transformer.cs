using System.Collections.Generic;
using Dsl.Generators.Model;
using Dsl.Generators.Planning;
using static Dsl.Generators.Emit.CudaLiterals;

namespace Dsl.Generators.Emit.Cuda;

/// <summary>The transformer steps: token and position embeddings, LayerNorm (with the fused residual
/// add) and RMSNorm, RoPE, and softmax attention as flash-style kernels (key/value tiles in shared
/// memory, an online softmax per query, only the log-sum-exp kept for the backward).</summary>
internal static partial class CudaEmitter
{
    /// <summary>Queries per attention block, and keys per shared-memory tile.</summary>
    private const int AttentionTile = 32;

    private sealed partial class Emission
    {
        private int Sequence => _plan.Model.Sequence;

        // ---------- embeddings ----------

        private static void EmbeddingForward(CodeWriter w, List<CudaLaunchSpec> launches, PlanStep s, string prefix)
        {
            int vocabulary = s.In, width = s.Out;
            w.Line($"/* ==== {s.Layer}: Embedding [{Int(vocabulary)}, {Int(width)}]: y[r] = table[ids[r]] ==== */");
            Elementwise(w, launches, $"{prefix}_embedding", $"{s.Layer}: y[r] = table[ids[r]] (an id outside [0, {Int(vocabulary)}) gives NaN)", width, false,
                $"const int id = ids[i / {Int(width)}];",
                $"arena[{Int(s.Y)} + i] = id >= 0 && id < {Int(vocabulary)} ? arena[{Int(s.W)} + id * {Int(width)} + c] : DSL_NAN;");
        }

        private static void EmbeddingBackward(CodeWriter w, List<CudaLaunchSpec> launches, PlanStep s, string prefix)
        {
            int vocabulary = s.In, width = s.Out;
            // One thread per table element gathering the rows with its id: deterministic, no atomics; costs
            // vocabulary × rows × width reads, fine for character and small vocabularies.
            Elementwise(w, launches, $"{prefix}_embedding_backward", $"{s.Layer} backward: ∂table[v] {Op(s.AccumulateParams)} Σ_(r: ids[r] = v) ∂y[r], gathered per table element", vocabulary * width, true,
                $"const int v = i / {Int(width)}, column = i % {Int(width)};",
                "float sum = 0.0f;",
                $"for (int r = 0; r < args.rows; r++) if (ids[r] == v) sum += arena[{Int(s.DY)} + r * {Int(width)} + column];",
                s.AccumulateParams ? $"arena[{Int(s.GW)} + i] += sum;" : $"arena[{Int(s.GW)} + i] = sum;");
        }

        private void PositionForward(CodeWriter w, List<CudaLaunchSpec> launches, PlanStep s, string prefix)
        {
            int width = s.Out;
            w.Line($"/* ==== {s.Layer}: learned positions: y[b, t] = x[b, t] + P[t] ==== */");
            Elementwise(w, launches, $"{prefix}_position", $"{s.Layer}: y[b, t] = x[b, t] + P[t]", width, false,
                $"const int t = (i / {Int(width)}) % {Int(Sequence)};",
                $"arena[{Int(s.Y)} + i] = arena[{Int(s.X)} + i] + arena[{Int(s.W)} + t * {Int(width)} + c];");
        }

        private void PositionBackward(CodeWriter w, List<CudaLaunchSpec> launches, PlanStep s, string prefix)
        {
            int width = s.Out;
            Elementwise(w, launches, $"{prefix}_position_backward", $"{s.Layer} backward: ∂P[t] {Op(s.AccumulateParams)} Σ_b ∂y[b, t]", Sequence * width, true,
                "float sum = 0.0f;",
                $"for (int b = 0; b < args.batch; b++) sum += arena[{Int(s.DY)} + b * {Int(Sequence * width)} + i];",
                s.AccumulateParams ? $"arena[{Int(s.GW)} + i] += sum;" : $"arena[{Int(s.GW)} + i] = sum;");
            if (s.DX >= 0)
            {
                Elementwise(w, launches, $"{prefix}_position_backward_input", $"{s.Layer} backward: ∂x {Op(s.AccumulateDX)} ∂y", width, false,
                    $"const float g = arena[{Int(s.DY)} + i];", Store(s.DX, "g", s.AccumulateDX));
            }
        }

        // ---------- norms ----------

        private void NormForward(CodeWriter w, List<CudaLaunchSpec> launches, PlanStep s, string prefix, bool layerNorm)
        {
            int width = s.Out;
            string name = $"{prefix}_{(layerNorm ? "layer_norm" : "rms_norm")}";
            bool fused = layerNorm && s.X3 >= 0;
            int x = fused ? s.X3 : s.X;
            string gain = s.W >= 0 ? $" * arena[{Int(s.W)} + j]" : "";
            string formula = layerNorm
                ? $"y = (x − μ)/√(σ² + ε){(s.W >= 0 ? " ⊙ γ" : "")}{(s.B >= 0 ? " + β" : "")}"
                : $"y = x/√(mean(x²) + ε){(s.W >= 0 ? " ⊙ g" : "")}";
            w.Line($"/* ==== {s.Layer}: {(fused ? "s = x₁ + x₂ (kept: the residual stream), then " : "")}{formula}, ε = {Literals.Double(s.Scalar)}; one block per row ==== */");
            using (w.Block($"DSL_KERNEL({name})"))
            {
                w.Line($"__shared__ float reduce[{Int(RowBlock)}];");
                w.Line("const int r = DSL_BID;");
                w.Line("if (r >= args.rows) return;");
                w.Line($"float* x = arena + {Int(x)} + r * {Int(width)};");
                if (fused)
                    w.Line($"for (int j = DSL_TID; j < {Int(width)}; j += DSL_BDIM) x[j] = arena[{Int(s.X)} + r * {Int(width)} + j] + arena[{Int(s.X2)} + r * {Int(width)} + j];");
                w.Line($"float* y = arena + {Int(s.Y)} + r * {Int(width)};");
                if (layerNorm)
                {
                    w.Line("float mean = 0.0f;");
                    w.Line($"for (int j = DSL_TID; j < {Int(width)}; j += DSL_BDIM) mean += x[j];");
                    BlockReduce(w, "reduce", "mean", "{0} + {1}");
                    w.Line($"mean /= {Float(width)};");
                    w.Line("float variance = 0.0f;");
                    w.Line($"for (int j = DSL_TID; j < {Int(width)}; j += DSL_BDIM) {{ const float d = x[j] - mean; variance += d * d; }}");
                    BlockReduce(w, "reduce", "variance", "{0} + {1}");
                    w.Line($"const float rstd = 1.0f / DSL_SQRTF(variance / {Float(width)} + {Float(s.Scalar)});");
                    w.Line($"for (int j = DSL_TID; j < {Int(width)}; j += DSL_BDIM) y[j] = (x[j] - mean) * rstd{gain}{(s.B >= 0 ? $" + arena[{Int(s.B)} + j]" : "")};");
                    w.Line($"if (DSL_TID == 0) {{ arena[{Int(s.Aux)} + r] = mean; arena[{Int(s.Aux2)} + r] = rstd; }}");
                }
                else
                {
                    w.Line("float squares = 0.0f;");
                    w.Line($"for (int j = DSL_TID; j < {Int(width)}; j += DSL_BDIM) squares += x[j] * x[j];");
                    BlockReduce(w, "reduce", "squares", "{0} + {1}");
                    w.Line($"const float rstd = 1.0f / DSL_SQRTF(squares / {Float(width)} + {Float(s.Scalar)});");
                    w.Line($"for (int j = DSL_TID; j < {Int(width)}; j += DSL_BDIM) y[j] = x[j] * rstd{gain};");
                    w.Line($"if (DSL_TID == 0) arena[{Int(s.Aux2)} + r] = rstd;");
                }
            }

            w.Line();
            _cooperative.Add(name);
            launches.Add(new CudaLaunchSpec(name, $"{s.Layer}: {formula}", "Rows", width, RowBlock));
        }

        private void NormBackward(CodeWriter w, List<CudaLaunchSpec> launches, PlanStep s, string prefix, bool layerNorm)
        {
            int width = s.Out;
            string kind = layerNorm ? "layer_norm" : "rms_norm";
            string xhat = layerNorm
                ? $"(arena[{Int(s.X)} + r * {Int(width)} + c] - arena[{Int(s.Aux)} + r]) * arena[{Int(s.Aux2)} + r]"
                : $"arena[{Int(s.X)} + r * {Int(width)} + c] * arena[{Int(s.Aux2)} + r]";
            w.Line($"/* ---- {s.Layer} backward: x̂ = {(layerNorm ? "(x − μ)·rstd" : "x·rstd")}, ĝ = {(s.W >= 0 ? "γ⊙" : "")}∂y; ∂x {Op(s.AccumulateDX)} rstd·(ĝ{(layerNorm ? " − mean(ĝ)" : "")} − x̂·mean(ĝ⊙x̂)){(s.GW >= 0 ? $"; ∂γ {Op(s.AccumulateParams)} Σ ∂y⊙x̂" : "")}{(s.GB >= 0 ? $", ∂β {Op(s.AccumulateParams)} Σ ∂y" : "")} ---- */");
            // The parameter sums first: they read ∂y, which ∂x may overwrite.
            if (s.GW >= 0 || s.GB >= 0)
            {
                string name = $"{prefix}_{kind}_parameters";
                using (w.Block($"DSL_KERNEL({name})"))
                {
                    using (w.Block($"DSL_FOR_ELEMENTS(c, {Int(width)})"))
                    {
                        w.Line("float gain = 0.0f, bias = 0.0f;");
                        using (w.Block("for (int r = 0; r < args.rows; r++)"))
                        {
                            w.Line($"const float dy = arena[{Int(s.DY)} + r * {Int(width)} + c];");
                            w.Line($"gain += dy * {xhat};");
                            w.Line("bias += dy;");
                        }

                        if (s.GW >= 0) w.Line(s.AccumulateParams ? $"arena[{Int(s.GW)} + c] += gain;" : $"arena[{Int(s.GW)} + c] = gain;");
                        if (s.GB >= 0) w.Line(s.AccumulateParams ? $"arena[{Int(s.GB)} + c] += bias;" : $"arena[{Int(s.GB)} + c] = bias;");
                        w.Line("(void)gain; (void)bias;");
                    }
                }

                w.Line();
                launches.Add(new CudaLaunchSpec(name, $"{s.Layer}: norm parameter gradients", "Elements", width, ElementBlock));
            }

            if (s.DX < 0) return;
            string dxName = $"{prefix}_{kind}_backward";
            using (w.Block($"DSL_KERNEL({dxName})"))
            {
                w.Line($"__shared__ float reduce[{Int(RowBlock)}];");
                w.Line("const int r = DSL_BID;");
                w.Line("if (r >= args.rows) return;");
                w.Line($"const float* x = arena + {Int(s.X)} + r * {Int(width)};");
                w.Line($"const float* dy = arena + {Int(s.DY)} + r * {Int(width)};");
                w.Line($"float* dx = arena + {Int(s.DX)} + r * {Int(width)};");
                w.Line(layerNorm ? $"const float mean = arena[{Int(s.Aux)} + r];" : "const float mean = 0.0f;");
                w.Line($"const float rstd = arena[{Int(s.Aux2)} + r];");
                string g = s.W >= 0 ? $"dy[j] * arena[{Int(s.W)} + j]" : "dy[j]";
                w.Line("float sumG = 0.0f, sumGx = 0.0f;");
                w.Line($"for (int j = DSL_TID; j < {Int(width)}; j += DSL_BDIM) {{ const float g = {g}; sumG += g; sumGx += g * (x[j] - mean) * rstd; }}");
                BlockReduce(w, "reduce", "sumG", "{0} + {1}");
                BlockReduce(w, "reduce", "sumGx", "{0} + {1}");
                w.Line($"const float meanG = {(layerNorm ? $"sumG / {Float(width)}" : "0.0f")}, meanGx = sumGx / {Float(width)};");
                w.Line("(void)sumG;");
                using (w.Block($"for (int j = DSL_TID; j < {Int(width)}; j += DSL_BDIM)"))
                {
                    w.Line($"const float value = rstd * ({g} - meanG - (x[j] - mean) * rstd * meanGx);");
                    w.Line(s.AccumulateDX ? "dx[j] += value;" : "dx[j] = value;");
                }
            }

            w.Line();
            _cooperative.Add(dxName);
            launches.Add(new CudaLaunchSpec(dxName, $"{s.Layer}: ∂x {Op(s.AccumulateDX)} norm backward", "Rows", width, RowBlock));
        }

        // ---------- attention ----------

        /// <summary>Linear attention ignores the window (Dsl.Kernels.LinearAttention).</summary>
        private static int Window(AttentionSpec o) => o.Linear ? 0 : o.Window;

        private string Lambda(AttentionPlan ap) => ap.Options.EntropyInvariant
            ? $"DSL_LOGF((float)(hi - lo + 1)) * {Float(1.0 / (System.Math.Log(512) * System.Math.Sqrt(ap.Options.KeySize)))}"
            : Float(ap.Scale);

        private void Rope(CodeWriter w, List<CudaLaunchSpec> launches, PlanStep s, string name, int buffer, bool inverse)
        {
            var ap = s.Attention!;
            var o = ap.Options;
            int half = o.RotaryDim / 2, hk = o.Heads * o.KeySize;
            int pairs = 2 * o.Heads * half;
            string comment = inverse
                ? $"{s.Layer}: RoPE backward on ∂q and ∂k: rotate pairs (j, j + {Int(half)}) back by −t·θ_j"
                : $"{s.Layer}: RoPE on q and k: rotate pairs (j, j + {Int(half)}) of each head by t·θ_j (cos|sin table at {Int(ap.RopeTable)})";
            Elementwise(w, launches, name, comment, pairs, false,
                $"const int r = i / {Int(pairs)}, p = i % {Int(pairs)};",
                $"const int part = p / {Int(o.Heads * half)}, h = (p / {Int(half)}) % {Int(o.Heads)}, j = p % {Int(half)};",
                $"float* a = arena + {Int(buffer)} + r * {Int(ap.QkvWidth)} + part * {Int(hk)} + h * {Int(o.KeySize)};",
                $"const float* row = arena + {Int(ap.RopeTable)} + (r % {Int(Sequence)}) * {Int(o.RotaryDim)};",
                $"const float cosine = row[j], sine = row[{Int(half)} + j];",
                "const float x1 = a[j], x2 = a[j + " + Int(half) + "];",
                inverse ? "a[j] = x1 * cosine + x2 * sine;" : "a[j] = x1 * cosine - x2 * sine;",
                inverse ? $"a[j + {Int(half)}] = x2 * cosine - x1 * sine;" : $"a[j + {Int(half)}] = x1 * sine + x2 * cosine;");
        }

        private static void BiasEpilogue(CodeWriter w, List<CudaLaunchSpec> launches, string name, string comment, int y, int bias, int width) =>
            Elementwise(w, launches, name, comment, width, false, $"arena[{Int(y)} + i] += arena[{Int(bias)} + c];");

        private void AttentionForward(CodeWriter w, List<CudaLaunchSpec> launches, PlanStep s, string prefix)
        {
            var ap = s.Attention!;
            var o = ap.Options;
            int hk = o.Heads * o.KeySize, hv = o.Heads * o.ValueSize, width = ap.QkvWidth, t = Sequence;
            int tiles = (t + AttentionTile - 1) / AttentionTile;
            w.Line($"/* ==== {s.Layer}: {Int(o.Heads)} heads, {(o.Linear ? "linear attention, φ = elu + 1" : "softmax attention")}{(o.Causal ? ", causal" : "")}{(Window(o) > 0 ? $", window {Int(o.Window)}" : "")}, key size {Int(o.KeySize)}, value size {Int(o.ValueSize)},");
            w.Line(o.Linear
                ? "   o_i = Σ_j φ(q_i)·φ(k_j) v_j / Σ_j φ(q_i)·φ(k_j), in its quadratic form over the same tiles; the denominators are kept."
                : $"   λ = {(o.EntropyInvariant ? "ln n_i/(ln 512·√d)" : Literals.Double(ap.Scale))}{(ap.RopeTable >= 0 ? $", RoPE on {Int(o.RotaryDim)} dims" : "")}.");
            w.Line($"   q|k|v[rows, {Int(width)}] = x·W_qkvᵀ (cuBLAS){(ap.Bqkv >= 0 ? " + b" : "")}, heads = attention(q, k, v), y = heads·W_oᵀ (cuBLAS){(ap.Bo >= 0 ? " + b" : "")} ==== */");
            launches.Add(new CudaLaunchSpec($"{prefix}_gemm_qkv", $"{s.Layer}: q|k|v = x·W_qkvᵀ", "Single", 0, 0,
                new CudaGemmSpec(false, true, s.X, s.In, ap.Wqkv, s.In, ap.Qkv, width, 0, width, s.In, RowsAreM: true, Accumulate: false)));
            if (ap.Bqkv >= 0) BiasEpilogue(w, launches, $"{prefix}_qkv_bias", $"{s.Layer}: q|k|v += b_qkv", ap.Qkv, ap.Bqkv, width);
            if (ap.RopeTable >= 0) Rope(w, launches, s, $"{prefix}_rope", ap.Qkv, inverse: false);

            if (o.TalkingHeads) TalkingHeadsForward(w, launches, s, prefix);
            else
            {
            string name = $"{prefix}_attention";
            w.Line($"/* {s.Layer}: flash-style forward. Block = (example, head, tile of {Int(AttentionTile)} queries), one thread per query;");
            w.Line($"   key and value tiles of {Int(AttentionTile)} positions pass through shared memory, the softmax is online");
            w.Line($"   (running max m and sum l), and only m + ln l per query is kept (at {Int(ap.Stats)}, [batch, heads, T]). */");
            using (w.Block($"DSL_KERNEL({name})"))
            {
                AttentionPrologue(w, ap, tiles, queries: true);
                w.Line($"float q[{Int(o.KeySize)}], acc[{Int(o.ValueSize)}];");
                w.Line("float m = -DSL_INF, l = 0.0f;");
                w.Line($"for (int d = 0; d < {Int(o.ValueSize)}; d++) acc[d] = 0.0f;");
                string query = $"arena[{Int(ap.Qkv)} + (b * {Int(t)} + i) * {Int(width)} + h * {Int(o.KeySize)} + d]";
                w.Line($"for (int d = 0; d < {Int(o.KeySize)}; d++) q[d] = valid ? {(o.Linear ? $"dsl_phi({query})" : $"{query} * lambda")} : 0.0f;");
                using (w.Block($"for (int kt = 0; kt < {Int(tiles)}; kt++)"))
                {
                    LoadKeyValueTile(w, ap);
                    using (w.Block($"if (valid) for (int jj = 0; jj < {Int(AttentionTile)}; jj++)"))
                    {
                        w.Line($"const int j = kt * {Int(AttentionTile)} + jj;");
                        w.Line("if (j < lo || j > hi) continue;");
                        w.Line("float score = 0.0f;");
                        w.Line($"for (int d = 0; d < {Int(o.KeySize)}; d++) score += q[d] * keys[jj * {Int(o.KeySize)} + d];");
                        if (o.Linear)
                        {
                            // Linear attention in its quadratic form: the weights φ(q)·φ(k) are positive and
                            // need no running max; the same tiles serve.
                            w.Line("l += score;");
                            w.Line($"for (int d = 0; d < {Int(o.ValueSize)}; d++) acc[d] += score * values[jj * {Int(o.ValueSize)} + d];");
                        }
                        else
                        {
                            w.Line("const float next = score > m ? score : m;");
                            w.Line("const float correction = DSL_EXPF(m - next), p = DSL_EXPF(score - next);");
                            w.Line("l = l * correction + p;");
                            w.Line($"for (int d = 0; d < {Int(o.ValueSize)}; d++) acc[d] = acc[d] * correction + p * values[jj * {Int(o.ValueSize)} + d];");
                            w.Line("m = next;");
                        }
                    }
                }

                using (w.Block("if (valid)"))
                {
                    w.Line($"for (int d = 0; d < {Int(o.ValueSize)}; d++) arena[{Int(ap.Heads)} + (b * {Int(t)} + i) * {Int(hv)} + h * {Int(o.ValueSize)} + d] = acc[d] / l;");
                    w.Line(o.Linear
                        ? $"arena[{Int(ap.Stats)} + (b * {Int(o.Heads)} + h) * {Int(t)} + i] = l; (void)m;"
                        : $"arena[{Int(ap.Stats)} + (b * {Int(o.Heads)} + h) * {Int(t)} + i] = m + DSL_LOGF(l);");
                }
            }

            w.Line();
            _cooperative.Add(name);
            launches.Add(new CudaLaunchSpec(name, $"{s.Layer}: flash-style attention forward", "Batches", o.Heads * tiles, AttentionTile));
            }

            launches.Add(new CudaLaunchSpec($"{prefix}_gemm_output", $"{s.Layer}: y = heads·W_oᵀ", "Single", 0, 0,
                new CudaGemmSpec(false, true, ap.Heads, hv, ap.Wo, hv, s.Y, s.Out, 0, s.Out, hv, RowsAreM: true, Accumulate: false)));
            if (ap.Bo >= 0) BiasEpilogue(w, launches, $"{prefix}_output_bias", $"{s.Layer}: y += b_o", s.Y, ap.Bo, s.Out);
        }

        /// <summary>Block → (b, h, tile), thread → position i = tile·32 + tid, its key range and λ.</summary>
        private void AttentionPrologue(CodeWriter w, AttentionPlan ap, int tiles, bool queries)
        {
            var o = ap.Options;
            w.Line($"__shared__ float keys[{Int(AttentionTile * o.KeySize)}];");
            w.Line($"__shared__ float values[{Int(AttentionTile * o.ValueSize)}];");
            w.Line($"const int bh = DSL_BID / {Int(tiles)}, tile = DSL_BID % {Int(tiles)};");
            w.Line($"const int b = bh / {Int(o.Heads)}, h = bh % {Int(o.Heads)};");
            w.Line($"const int i = tile * {Int(AttentionTile)} + DSL_TID;");
            w.Line($"const int valid = i < {Int(Sequence)};");
            if (queries)
            {
                w.Line("int lo, hi;");
                w.Line($"dsl_key_range(i, {Int(Sequence)}, {(o.Causal ? "1" : "0")}, {Int(Window(o))}, &lo, &hi);");
                w.Line(o.Linear ? "const float lambda = 1.0f; /* unused: linear attention has no scale */" : $"const float lambda = {Lambda(ap)};");
            }
        }

        /// <summary>Keys and values of positions kt·32 … kt·32 + 31 into shared memory, between barriers.</summary>
        private void LoadKeyValueTile(CodeWriter w, AttentionPlan ap)
        {
            var o = ap.Options;
            int hk = o.Heads * o.KeySize, width = ap.QkvWidth;
            w.Line("__syncthreads();");
            w.Line($"const int load = kt * {Int(AttentionTile)} + DSL_TID;");
            using (w.Block($"if (load < {Int(Sequence)})"))
            {
                w.Line($"const float* row = arena + {Int(ap.Qkv)} + (b * {Int(Sequence)} + load) * {Int(width)};");
                w.Line(o.Linear
                    ? $"for (int d = 0; d < {Int(o.KeySize)}; d++) keys[DSL_TID * {Int(o.KeySize)} + d] = dsl_phi(row[{Int(hk)} + h * {Int(o.KeySize)} + d]);"
                    : $"for (int d = 0; d < {Int(o.KeySize)}; d++) keys[DSL_TID * {Int(o.KeySize)} + d] = row[{Int(hk)} + h * {Int(o.KeySize)} + d];");
                w.Line($"for (int d = 0; d < {Int(o.ValueSize)}; d++) values[DSL_TID * {Int(o.ValueSize)} + d] = row[{Int(2 * hk)} + h * {Int(o.ValueSize)} + d];");
            }

            w.Line("__syncthreads();");
        }

        private void AttentionBackward(CodeWriter w, List<CudaLaunchSpec> launches, PlanStep s, string prefix)
        {
            var ap = s.Attention!;
            var o = ap.Options;
            int hk = o.Heads * o.KeySize, hv = o.Heads * o.ValueSize, width = ap.QkvWidth, t = Sequence;
            int tiles = (t + AttentionTile - 1) / AttentionTile;
            int g = s.GW;
            bool acc = s.AccumulateParams;
            w.Line($"/* ---- {s.Layer} backward: ∂W_o {Op(acc)} ∂yᵀ·heads, ∂heads = ∂y·W_o, attention backward from the kept ln-sum-exp,");
            w.Line($"   ∂W_qkv {Op(acc)} ∂qkvᵀ·x{(s.DX >= 0 ? $", ∂x {Op(s.AccumulateDX)} ∂qkv·W_qkv" : "")} (the matrix products are cuBLAS calls) ---- */");
            launches.Add(new CudaLaunchSpec($"{prefix}_gemm_output_weight", $"{s.Layer}: ∂W_o {Op(acc)} ∂yᵀ·heads", "Single", 0, 0,
                new CudaGemmSpec(true, false, s.DY, s.Out, ap.Heads, hv, g + ap.Wo, hv, s.Out, hv, 0, RowsAreM: false, Accumulate: acc)));
            if (ap.Bo >= 0) ColumnSums(w, launches, $"{prefix}_output_bias_gradient", $"{s.Layer}: ∂b_o {Op(acc)} Σ_rows ∂y", s.DY, s.Out, g + ap.Bo, acc);
            launches.Add(new CudaLaunchSpec($"{prefix}_gemm_heads", $"{s.Layer}: ∂heads = ∂y·W_o", "Single", 0, 0,
                new CudaGemmSpec(false, false, s.DY, s.Out, ap.Wo, hv, ap.DHeads, hv, 0, hv, s.Out, RowsAreM: true, Accumulate: false)));

            if (o.TalkingHeads) TalkingHeadsBackward(w, launches, s, prefix);
            else
            {
            // ∂q: per query, over key tiles (as the forward).
            string dq = $"{prefix}_attention_backward_query";
            w.Line($"/* {s.Layer}: ∂q_i = λ_i Σ_j p_ij (∂heads_i·v_j − D_i) k_j, p_ij = exp(λ_i q_i·k_j − lse_i), D_i = ∂heads_i·heads_i;");
            w.Line("   one thread per query, key/value tiles in shared memory. */");
            using (w.Block($"DSL_KERNEL({dq})"))
            {
                AttentionPrologue(w, ap, tiles, queries: true);
                w.Line($"float q[{Int(o.KeySize)}], dout[{Int(o.ValueSize)}], dq[{Int(o.KeySize)}];");
                w.Line("float delta = 0.0f, lse = 0.0f;");
                using (w.Block("if (valid)"))
                {
                    w.Line($"const int row = b * {Int(t)} + i;");
                    w.Line(o.Linear
                        ? $"for (int d = 0; d < {Int(o.KeySize)}; d++) q[d] = dsl_phi(arena[{Int(ap.Qkv)} + row * {Int(width)} + h * {Int(o.KeySize)} + d]);"
                        : $"for (int d = 0; d < {Int(o.KeySize)}; d++) q[d] = arena[{Int(ap.Qkv)} + row * {Int(width)} + h * {Int(o.KeySize)} + d];");
                    w.Line($"for (int d = 0; d < {Int(o.ValueSize)}; d++) {{ dout[d] = arena[{Int(ap.DHeads)} + row * {Int(hv)} + h * {Int(o.ValueSize)} + d]; delta += dout[d] * arena[{Int(ap.Heads)} + row * {Int(hv)} + h * {Int(o.ValueSize)} + d]; }}");
                    w.Line($"lse = arena[{Int(ap.Stats)} + (b * {Int(o.Heads)} + h) * {Int(t)} + i];");
                }

                w.Line($"for (int d = 0; d < {Int(o.KeySize)}; d++) dq[d] = 0.0f;");
                using (w.Block($"for (int kt = 0; kt < {Int(tiles)}; kt++)"))
                {
                    LoadKeyValueTile(w, ap);
                    using (w.Block($"if (valid) for (int jj = 0; jj < {Int(AttentionTile)}; jj++)"))
                    {
                        w.Line($"const int j = kt * {Int(AttentionTile)} + jj;");
                        w.Line("if (j < lo || j > hi) continue;");
                        w.Line("float score = 0.0f, dp = 0.0f;");
                        w.Line($"for (int d = 0; d < {Int(o.KeySize)}; d++) score += q[d] * keys[jj * {Int(o.KeySize)} + d];");
                        w.Line($"for (int d = 0; d < {Int(o.ValueSize)}; d++) dp += dout[d] * values[jj * {Int(o.ValueSize)} + d];");
                        w.Line(o.Linear ? "const float ds = (dp - delta) / lse; /* lse holds the denominator */" : "const float ds = DSL_EXPF(lambda * score - lse) * (dp - delta);");
                        w.Line($"for (int d = 0; d < {Int(o.KeySize)}; d++) dq[d] += ds * keys[jj * {Int(o.KeySize)} + d];");
                    }
                }

                string dqOut = $"arena[{Int(ap.DQkv)} + (b * {Int(t)} + i) * {Int(width)} + h * {Int(o.KeySize)} + d]";
                w.Line(o.Linear
                    ? $"if (valid) for (int d = 0; d < {Int(o.KeySize)}; d++) {dqOut} = dq[d] * dsl_phi_d(arena[{Int(ap.Qkv)} + (b * {Int(t)} + i) * {Int(width)} + h * {Int(o.KeySize)} + d]);"
                    : $"if (valid) for (int d = 0; d < {Int(o.KeySize)}; d++) {dqOut} = lambda * dq[d];");
            }

            w.Line();
            _cooperative.Add(dq);
            launches.Add(new CudaLaunchSpec(dq, $"{s.Layer}: attention backward, ∂q", "Batches", o.Heads * tiles, AttentionTile));

            // ∂k, ∂v: per key, over query tiles.
            string dkv = $"{prefix}_attention_backward_key_value";
            w.Line($"/* {s.Layer}: ∂k_j = Σ_i λ_i p_ij (∂heads_i·v_j − D_i) q_i, ∂v_j = Σ_i p_ij ∂heads_i; one thread per key,");
            w.Line("   query tiles (q, ∂heads, lse, D, λ) in shared memory. No atomics: each thread owns its key. */");
            using (w.Block($"DSL_KERNEL({dkv})"))
            {
                w.Line($"__shared__ float queries[{Int(AttentionTile * o.KeySize)}];");
                w.Line($"__shared__ float douts[{Int(AttentionTile * o.ValueSize)}];");
                w.Line($"__shared__ float lses[{Int(AttentionTile)}], deltas[{Int(AttentionTile)}], lambdas[{Int(AttentionTile)}];");
                w.Line($"const int bh = DSL_BID / {Int(tiles)}, tile = DSL_BID % {Int(tiles)};");
                w.Line($"const int b = bh / {Int(o.Heads)}, h = bh % {Int(o.Heads)};");
                w.Line($"const int j = tile * {Int(AttentionTile)} + DSL_TID;");
                w.Line($"const int valid = j < {Int(t)};");
                w.Line($"float k[{Int(o.KeySize)}], v[{Int(o.ValueSize)}], dk[{Int(o.KeySize)}], dv[{Int(o.ValueSize)}];");
                string key = $"arena[{Int(ap.Qkv)} + (b * {Int(t)} + j) * {Int(width)} + {Int(hk)} + h * {Int(o.KeySize)} + d]";
                w.Line($"for (int d = 0; d < {Int(o.KeySize)}; d++) {{ k[d] = valid ? {(o.Linear ? $"dsl_phi({key})" : key)} : 0.0f; dk[d] = 0.0f; }}");
                w.Line($"for (int d = 0; d < {Int(o.ValueSize)}; d++) {{ v[d] = valid ? arena[{Int(ap.Qkv)} + (b * {Int(t)} + j) * {Int(width)} + {Int(2 * hk)} + h * {Int(o.ValueSize)} + d] : 0.0f; dv[d] = 0.0f; }}");
                using (w.Block($"for (int qt = 0; qt < {Int(tiles)}; qt++)"))
                {
                    w.Line("__syncthreads();");
                    w.Line($"const int load = qt * {Int(AttentionTile)} + DSL_TID;");
                    using (w.Block($"if (load < {Int(t)})"))
                    {
                        w.Line($"const int row = b * {Int(t)} + load;");
                        string q = $"arena[{Int(ap.Qkv)} + row * {Int(width)} + h * {Int(o.KeySize)} + d]";
                        w.Line($"for (int d = 0; d < {Int(o.KeySize)}; d++) queries[DSL_TID * {Int(o.KeySize)} + d] = {(o.Linear ? $"dsl_phi({q})" : q)};");
                        w.Line("float delta = 0.0f;");
                        w.Line($"for (int d = 0; d < {Int(o.ValueSize)}; d++) {{ const float dout = arena[{Int(ap.DHeads)} + row * {Int(hv)} + h * {Int(o.ValueSize)} + d]; douts[DSL_TID * {Int(o.ValueSize)} + d] = dout; delta += dout * arena[{Int(ap.Heads)} + row * {Int(hv)} + h * {Int(o.ValueSize)} + d]; }}");
                        w.Line("deltas[DSL_TID] = delta;");
                        w.Line($"lses[DSL_TID] = arena[{Int(ap.Stats)} + (b * {Int(o.Heads)} + h) * {Int(t)} + load];");
                        w.Line("int lo, hi;");
                        w.Line($"dsl_key_range(load, {Int(t)}, {(o.Causal ? "1" : "0")}, {Int(Window(o))}, &lo, &hi);");
                        w.Line(o.Linear ? "lambdas[DSL_TID] = 1.0f; (void)lo; (void)hi;" : $"lambdas[DSL_TID] = {Lambda(ap)};");
                    }

                    w.Line("__syncthreads();");
                    using (w.Block($"if (valid) for (int ii = 0; ii < {Int(AttentionTile)}; ii++)"))
                    {
                        w.Line($"const int i = qt * {Int(AttentionTile)} + ii;");
                        w.Line($"if (i >= {Int(t)}) break;");
                        w.Line("int lo, hi;");
                        w.Line($"dsl_key_range(i, {Int(t)}, {(o.Causal ? "1" : "0")}, {Int(Window(o))}, &lo, &hi);");
                        w.Line("if (j < lo || j > hi) continue;");
                        w.Line("float score = 0.0f, dp = 0.0f;");
                        w.Line($"for (int d = 0; d < {Int(o.KeySize)}; d++) score += queries[ii * {Int(o.KeySize)} + d] * k[d];");
                        w.Line($"for (int d = 0; d < {Int(o.ValueSize)}; d++) dp += douts[ii * {Int(o.ValueSize)} + d] * v[d];");
                        if (o.Linear)
                        {
                            w.Line("const float p = score / lses[ii]; /* lses holds the denominators */");
                            w.Line("const float ds = (dp - deltas[ii]) / lses[ii];");
                        }
                        else
                        {
                            w.Line("const float p = DSL_EXPF(lambdas[ii] * score - lses[ii]);");
                            w.Line("const float ds = p * (dp - deltas[ii]) * lambdas[ii];");
                        }
                        w.Line($"for (int d = 0; d < {Int(o.KeySize)}; d++) dk[d] += ds * queries[ii * {Int(o.KeySize)} + d];");
                        w.Line($"for (int d = 0; d < {Int(o.ValueSize)}; d++) dv[d] += p * douts[ii * {Int(o.ValueSize)} + d];");
                    }
                }

                using (w.Block("if (valid)"))
                {
                    w.Line($"float* row = arena + {Int(ap.DQkv)} + (b * {Int(t)} + j) * {Int(width)};");
                    w.Line(o.Linear
                        ? $"for (int d = 0; d < {Int(o.KeySize)}; d++) row[{Int(hk)} + h * {Int(o.KeySize)} + d] = dk[d] * dsl_phi_d(arena[{Int(ap.Qkv)} + (b * {Int(t)} + j) * {Int(width)} + {Int(hk)} + h * {Int(o.KeySize)} + d]);"
                        : $"for (int d = 0; d < {Int(o.KeySize)}; d++) row[{Int(hk)} + h * {Int(o.KeySize)} + d] = dk[d];");
                    w.Line($"for (int d = 0; d < {Int(o.ValueSize)}; d++) row[{Int(2 * hk)} + h * {Int(o.ValueSize)} + d] = dv[d];");
                }
            }

            w.Line();
            _cooperative.Add(dkv);
            launches.Add(new CudaLaunchSpec(dkv, $"{s.Layer}: attention backward, ∂k and ∂v", "Batches", o.Heads * tiles, AttentionTile));
            }

            if (ap.RopeTable >= 0) Rope(w, launches, s, $"{prefix}_rope_backward", ap.DQkv, inverse: true);
            launches.Add(new CudaLaunchSpec($"{prefix}_gemm_qkv_weight", $"{s.Layer}: ∂W_qkv {Op(acc)} ∂qkvᵀ·x", "Single", 0, 0,
                new CudaGemmSpec(true, false, ap.DQkv, width, s.X, s.In, g + ap.Wqkv, s.In, width, s.In, 0, RowsAreM: false, Accumulate: acc)));
            if (ap.Bqkv >= 0) ColumnSums(w, launches, $"{prefix}_qkv_bias_gradient", $"{s.Layer}: ∂b_qkv {Op(acc)} Σ_rows ∂qkv", ap.DQkv, width, g + ap.Bqkv, acc);
            if (s.DX >= 0)
            {
                launches.Add(new CudaLaunchSpec($"{prefix}_gemm_input", $"{s.Layer}: ∂x {Op(s.AccumulateDX)} ∂qkv·W_qkv", "Single", 0, 0,
                    new CudaGemmSpec(false, false, ap.DQkv, width, ap.Wqkv, s.In, s.DX, s.In, 0, s.In, width, RowsAreM: true, Accumulate: s.AccumulateDX)));
            }
        }
    }
}
