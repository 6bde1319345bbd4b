using System.Collections.Generic;
using System.Linq;
using Dsl.Generators.Model;
using Dsl.Generators.Planning;
using static Dsl.Generators.Emit.CudaLiterals;

namespace Dsl.Generators.Emit.Cuda;

// MeanPool, the losses beyond plain cross-entropy and MSE (row losses, pair losses, flooding) and Lion.
internal static partial class CudaEmitter
{
    private sealed partial class Emission
    {
        /// <summary>y[b, c] = mean of x[b, t, c] over the positions whose id ≠ pad (0 when none), one thread per (b, c).</summary>
        private void MeanPoolForward(CodeWriter w, List<CudaLaunchSpec> launches, PlanStep s, string prefix)
        {
            int dim = s.In, pad = (int)s.Scalar;
            string name = $"{prefix}_mean_pool";
            string comment = $"{Name(s)}: y[b] = mean of x[b, t] over the positions whose id ≠ {Int(pad)} (batch × {Int(Sequence)} rows → batch rows)";
            w.Line($"/* {comment}, one thread per (example, column) */");
            using (w.Block($"DSL_KERNEL({name})"))
            {
                using (w.Block($"DSL_FOR_ELEMENTS(i, args.batch * {Int(dim)})"))
                {
                    w.Line($"const int b = i / {Int(dim)}, c = i % {Int(dim)};");
                    w.Line("int count = 0;");
                    w.Line("float sum = 0.0f;");
                    using (w.Block($"for (int t = 0; t < {Int(Sequence)}; t++)"))
                    {
                        w.Line($"if (ids[b * {Int(Sequence)} + t] == {Int(pad)}) continue;");
                        w.Line("count++;");
                        w.Line($"sum += arena[{Int(s.X)} + (b * {Int(Sequence)} + t) * {Int(dim)} + c];");
                    }

                    // The CPU adds the rows, then multiplies by 1/count.
                    w.Line($"arena[{Int(s.Y)} + i] = count == 0 ? 0.0f : sum * (1.0f / (float)count);");
                }
            }

            w.Line();
            launches.Add(new CudaLaunchSpec(name, comment, "Batches", (dim + ElementBlock - 1) / ElementBlock, ElementBlock));
        }

        /// <summary>∂x[b, t] (+)= [id ≠ pad]·∂y[b]/n_b, one thread per element of ∂x.</summary>
        private void MeanPoolBackward(CodeWriter w, List<CudaLaunchSpec> launches, PlanStep s, string prefix)
        {
            int dim = s.In, pad = (int)s.Scalar;
            string name = $"{prefix}_mean_pool_backward";
            string comment = $"{Name(s)} backward: ∂x[b, t] {Op(s.AccumulateDX)} [id ≠ {Int(pad)}] · ∂y[b] / n_b";
            w.Line($"/* {comment} */");
            using (w.Block($"DSL_KERNEL({name})"))
            {
                using (w.Block($"DSL_FOR_ELEMENTS(i, args.rows * {Int(dim)})"))
                {
                    w.Line($"const int row = i / {Int(dim)}, c = i % {Int(dim)}, b = row / {Int(Sequence)};");
                    w.Line("const int keep = ids[row] != " + Int(pad) + ";");
                    w.Line("int count = 0;");
                    w.Line($"for (int t = 0; t < {Int(Sequence)}; t++) count += ids[b * {Int(Sequence)} + t] != {Int(pad)};");
                    w.Line($"const float g = keep && count > 0 ? arena[{Int(s.DY)} + b * {Int(dim)} + c] * (1.0f / (float)count) : 0.0f;");
                    w.Line(s.AccumulateDX ? $"arena[{Int(s.DX)} + i] += g;" : $"arena[{Int(s.DX)} + i] = g;");
                }
            }

            w.Line();
            launches.Add(new CudaLaunchSpec(name, comment, "RowElements", dim, ElementBlock));
        }

        /// <summary>The loss of a model whose spec is not the plain cross-entropy/MSE: fused value and gradient, then flooding.
        /// Returns the per-row divisor of the host's mean.</summary>
        private int ExtendedLoss(CodeWriter w, List<CudaLaunchSpec> launches, PlanStep s, LossSpec spec)
        {
            int divisor = 1;
            switch (spec.Kind)
            {
                case LossKind.SoftmaxCrossEntropy: SoftmaxCrossEntropy(w, launches, s); break;
                case LossKind.MeanSquaredError:
                    MeanSquaredError(w, launches, s);
                    divisor = s.In;
                    break;
                case LossKind.CoSent:
                case LossKind.CosineMse: PairLoss(w, launches, s, spec); break;
                default: RowLoss(w, launches, s, spec); break;
            }

            if (spec.Flood >= 0) Flood(w, launches, s, spec.Flood, divisor);
            return divisor;
        }

        /// <summary>Label smoothing, focal, logit-adjusted and TaiLr: one block per row, the log-sum-exp by a tree
        /// reduction, then the value and ∂z = k·(softmax − target) per the loss.</summary>
        private void RowLoss(CodeWriter w, List<CudaLaunchSpec> launches, PlanStep s, LossSpec spec)
        {
            int classes = s.In;
            string kernel = spec.Kind switch
            {
                LossKind.LabelSmoothing => "loss_label_smoothing",
                LossKind.Focal => "loss_focal",
                LossKind.LogitAdjusted => "loss_logit_adjusted",
                _ => "loss_tailr",
            };
            string name = _kernelPrefix + kernel;
            string formula = spec.Kind switch
            {
                LossKind.LabelSmoothing => $"−Σ_j q_j log softmax(z)_j, q = (1 − ε)e_y + ε/K, ε = {Literals.Double(spec.P1)}",
                LossKind.Focal => $"−α(1 − p_t)^γ log p_t, γ = {Literals.Double(spec.P1)}, α = {Literals.Double(spec.P2)}",
                LossKind.LogitAdjusted => $"−log softmax(z + τ ln π)[y], τ = {Literals.Double(spec.P1)}",
                _ => $"−sg(clamp(p/(γ + (1 − γ)p), b, 1))·log p, γ = {Literals.Double(spec.P1)}, b = {Literals.Double(spec.P2)} (the weight is a constant to the gradient)",
            };
            // Declared priors become constants; without them the CPU's offsets are zeros (a uniform prior cancels).
            bool offsets = spec.Kind == LossKind.LogitAdjusted && spec.Priors.Count == classes;
            string zj = offsets ? "(z[j] + offsets[j])" : "z[j]";
            w.Line($"/* loss = mean over rows of {formula}; fused with its gradient (scaled by 1/rows).");
            w.Line($"   One block per row; z at {Int(s.X)}, ∂z at {Int(s.DX)} (may be the same memory: every z read precedes the writes),");
            w.Line($"   the row's loss at {Int(_slot)} + row. */");
            using (w.Block($"DSL_KERNEL({name})"))
            {
                w.Line($"__shared__ float reduce[{Int(RowBlock)}];");
                if (offsets)
                {
                    double sum = spec.Priors.Sum();
                    w.Line($"/* τ ln(π_j / Σπ) of the declared priors */");
                    w.Line($"const float offsets[{Int(classes)}] = {{ {string.Join(", ", spec.Priors.Select(p => Float(spec.P1 * System.Math.Log(p / sum))))} }};");
                }

                w.Line("const int r = DSL_BID;");
                w.Line("if (r >= args.rows) return;");
                w.Line($"const float* z = arena + {Int(s.X)} + r * {Int(classes)};");
                w.Line($"float* d = arena + {Int(s.DX)} + r * {Int(classes)};");
                w.Line($"const int label = {Label("r")};");
                w.Line($"const int valid = label >= 0 && label < {Int(classes)};");
                w.Line($"const float zLabel = valid ? {(offsets ? "z[label] + offsets[label]" : "z[label]")} : DSL_NAN;");
                w.Line("float m = -DSL_INF;");
                w.Line($"for (int j = DSL_TID; j < {Int(classes)}; j += DSL_BDIM) m = {zj} > m ? {zj} : m;");
                BlockReduce(w, "reduce", "m", "{0} > {1} ? {0} : {1}");
                w.Line("float sum = 0.0f;");
                w.Line($"for (int j = DSL_TID; j < {Int(classes)}; j += DSL_BDIM) sum += DSL_EXPF({zj} - m);");
                BlockReduce(w, "reduce", "sum", "{0} + {1}");
                w.Line("const float lse = m + DSL_LOGF(sum);");
                w.Line("const float scale = 1.0f / (float)args.rows;");
                switch (spec.Kind)
                {
                    case LossKind.LabelSmoothing:
                    {
                        double eps = spec.P1;
                        w.Line("float total = 0.0f;");
                        w.Line($"for (int j = DSL_TID; j < {Int(classes)}; j += DSL_BDIM) total += z[j];");
                        BlockReduce(w, "reduce", "total", "{0} + {1}");
                        w.Line($"const float value = lse - ({Float(eps / classes)} * total + {Float(1 - eps)} * zLabel);");
                        w.Line($"for (int j = DSL_TID; j < {Int(classes)}; j += DSL_BDIM) d[j] = (DSL_EXPF(z[j] - lse) - {Float(eps / classes)} - (j == label ? {Float(1 - eps)} : 0.0f)) * scale;");
                        break;
                    }
                    case LossKind.Focal:
                    {
                        double gamma = spec.P1, alpha = spec.P2;
                        w.Line("const float logPt = zLabel - lse;");
                        w.Line("const float pt = DSL_EXPF(logPt);");
                        w.Line("const float q = -dsl_expm1(logPt);");
                        w.Line($"const float qg = {(gamma == 0 ? "1.0f" : gamma == 1 ? "q" : gamma == 2 ? "q * q" : $"q > 0.0f ? DSL_EXPF({Float(gamma)} * DSL_LOGF(q)) : 0.0f")};");
                        w.Line($"const float value = {Float(-alpha)} * qg * logPt;");
                        w.Line("const float ratio = q > 0.0f ? logPt / q : -1.0f; /* ln p_t/(1 − p_t) → −1 as p_t → 1 */");
                        w.Line($"const float k = {Float(alpha)} * ({Float(gamma)} * qg * pt * ratio - qg) * scale;");
                        w.Line($"for (int j = DSL_TID; j < {Int(classes)}; j += DSL_BDIM) d[j] = k * ((j == label ? 1.0f : 0.0f) - DSL_EXPF(z[j] - lse));");
                        break;
                    }
                    case LossKind.LogitAdjusted:
                        w.Line("const float value = lse - zLabel;");
                        w.Line($"for (int j = DSL_TID; j < {Int(classes)}; j += DSL_BDIM) d[j] = (DSL_EXPF({zj} - lse) - (j == label ? 1.0f : 0.0f)) * scale;");
                        break;
                    default:
                    {
                        double gamma = spec.P1, floor = spec.P2;
                        w.Line("const float logP = zLabel - lse;");
                        w.Line("const float p = DSL_EXPF(logP);");
                        w.Line($"const float denominator = {Float(gamma)} + {Float(1 - gamma)} * p;");
                        w.Line("float weight = denominator > 0.0f ? p / denominator : 1.0f;");
                        w.Line($"weight = weight < {Float(floor)} ? {Float(floor)} : weight > 1.0f ? 1.0f : weight;");
                        w.Line("const float value = -weight * logP;");
                        w.Line("const float k = weight * scale;");
                        w.Line($"for (int j = DSL_TID; j < {Int(classes)}; j += DSL_BDIM) d[j] = k * (DSL_EXPF(z[j] - lse) - (j == label ? 1.0f : 0.0f));");
                        break;
                    }
                }

                w.Line($"if (DSL_TID == 0) arena[{Int(_slot)} + r] = valid ? value : DSL_NAN;");
            }

            w.Line();
            _cooperative.Add(name);
            launches.Add(new CudaLaunchSpec(name, $"{kernel.Substring(5).Replace('_', ' ')}, value and gradient", "Rows", classes, RowBlock));
        }

        /// <summary>CoSENT and cosine-MSE over the interleaved pairs (rows 2i, 2i + 1) in one block: cosines, the
        /// loss (a log-sum-exp over ordered pairs for CoSENT), ∂cos per pair (each thread owns its pairs: no atomics)
        /// and ∂u, ∂v. The loss is left as rows × loss in the first slot (zeros after it), so the host's
        /// Σ slots / rows is the loss.</summary>
        private void PairLoss(CodeWriter w, List<CudaLaunchSpec> launches, PlanStep s, LossSpec spec)
        {
            int dim = s.In;
            int maxPairs = System.Math.Max(1, _plan.Model.MaxBatch / 2);
            bool cosent = spec.Kind == LossKind.CoSent;
            string name = cosent ? "loss_cosent" : "loss_cosine_mse";
            w.Line(cosent
                ? $"/* CoSENT: loss = log(1 + Σ_(s_a > s_b) exp(λ(cos_b − cos_a))), λ = {Literals.Double(spec.P1)}, over the batch / 2 pairs"
                : "/* cosine-MSE: loss = mean over the batch / 2 pairs of (cos(u, v) − s)²");
            w.Line($"   (u = row 2i, v = row 2i + 1 of {Int(s.X)}; s = targets[i]); ∂ at {Int(s.DX)}. One block; dot products in double. */");
            using (w.Block($"DSL_KERNEL({name})"))
            {
                w.Line($"__shared__ double uv[{Int(maxPairs)}], uu[{Int(maxPairs)}], vv[{Int(maxPairs)}], dc[{Int(maxPairs)}];");
                w.Line($"__shared__ double reduce[{Int(ReduceBlock)}];");
                w.Line("const int pairs = args.rows / 2;");
                using (w.Block("for (int i = DSL_TID; i < pairs; i += DSL_BDIM)"))
                {
                    w.Line("double a = 0.0, b = 0.0, c = 0.0;");
                    using (w.Block($"for (int k = 0; k < {Int(dim)}; k++)"))
                    {
                        w.Line($"const double x = arena[{Int(s.X)} + (2 * i) * {Int(dim)} + k], y = arena[{Int(s.X)} + (2 * i + 1) * {Int(dim)} + k];");
                        w.Line("a += x * y; b += x * x; c += y * y;");
                    }

                    w.Line("uv[i] = a; uu[i] = b; vv[i] = c;");
                }

                w.Line("__syncthreads();");
                w.Line("#define DSL_COS(i) (uu[i] > 0.0 && vv[i] > 0.0 ? uv[i] / DSL_SQRT(uu[i] * vv[i]) : 0.0)");
                if (cosent)
                {
                    string lambda = Float(spec.P1);
                    w.Line("/* the log-sum-exp over {0} ∪ {λ(c_b − c_a) : s_a > s_b}, shifted by its maximum */");
                    w.Line("double m = 0.0;");
                    using (w.Block("for (int e = DSL_TID; e < pairs * pairs; e += DSL_BDIM)"))
                    {
                        w.Line("const int a = e / pairs, b = e % pairs;");
                        w.Line($"if (targets[a] > targets[b]) {{ const double v = {lambda} * (DSL_COS(b) - DSL_COS(a)); m = v > m ? v : m; }}");
                    }

                    BlockReduce(w, "reduce", "m", "{0} > {1} ? {0} : {1}");
                    w.Line("double sum = 0.0;");
                    using (w.Block("for (int e = DSL_TID; e < pairs * pairs; e += DSL_BDIM)"))
                    {
                        w.Line("const int a = e / pairs, b = e % pairs;");
                        w.Line($"if (targets[a] > targets[b]) sum += DSL_EXPF((float)({lambda} * (DSL_COS(b) - DSL_COS(a)) - m));");
                    }

                    BlockReduce(w, "reduce", "sum", "{0} + {1}");
                    w.Line("const double zsum = DSL_EXPF((float)-m) + sum;");
                    w.Line("const float value = (float)(m + DSL_LOGF((float)zsum));");
                    w.Line("/* ∂cos_i: + w_(a,i) for every a with s_a > s_i, − w_(i,b) for every b with s_i > s_b; w = λ e^(λ(c_b − c_a) − m)/Z */");
                    using (w.Block("for (int i = DSL_TID; i < pairs; i += DSL_BDIM)"))
                    {
                        w.Line("double g = 0.0;");
                        using (w.Block("for (int o = 0; o < pairs; o++)"))
                        {
                            w.Line($"if (targets[o] > targets[i]) g += {lambda} * DSL_EXPF((float)({lambda} * (DSL_COS(i) - DSL_COS(o)) - m)) / zsum;");
                            w.Line($"if (targets[i] > targets[o]) g -= {lambda} * DSL_EXPF((float)({lambda} * (DSL_COS(o) - DSL_COS(i)) - m)) / zsum;");
                        }

                        w.Line("dc[i] = g;");
                    }
                }
                else
                {
                    w.Line("double total = 0.0;");
                    using (w.Block("for (int i = DSL_TID; i < pairs; i += DSL_BDIM)"))
                    {
                        w.Line("const double e = DSL_COS(i) - targets[i];");
                        w.Line("total += e * e;");
                        w.Line("dc[i] = 2.0 * e / pairs;");
                    }

                    BlockReduce(w, "reduce", "total", "{0} + {1}");
                    w.Line("const float value = pairs == 0 ? 0.0f : (float)(total / pairs);");
                }

                w.Line("__syncthreads();");
                w.Line("/* ∂u = g(v/√(uu·vv) − c·u/uu), ∂v = g(u/√(uu·vv) − c·v/vv); zero for a zero vector */");
                using (w.Block($"for (int e = DSL_TID; e < pairs * {Int(dim)}; e += DSL_BDIM)"))
                {
                    w.Line($"const int i = e / {Int(dim)}, k = e % {Int(dim)};");
                    w.Line($"const int ui = (2 * i) * {Int(dim)} + k, vi = (2 * i + 1) * {Int(dim)} + k;");
                    w.Line($"const double x = arena[{Int(s.X)} + ui], y = arena[{Int(s.X)} + vi];");
                    w.Line("double du = 0.0, dv = 0.0;");
                    using (w.Block("if (uu[i] > 0.0 && vv[i] > 0.0)"))
                    {
                        w.Line("const double inverse = 1.0 / DSL_SQRT(uu[i] * vv[i]), c = uv[i] * inverse;");
                        w.Line("du = dc[i] * (y * inverse - c * x / uu[i]);");
                        w.Line("dv = dc[i] * (x * inverse - c * y / vv[i]);");
                    }

                    w.Line($"arena[{Int(s.DX)} + ui] = (float)du;");
                    w.Line($"arena[{Int(s.DX)} + vi] = (float)dv;");
                }

                w.Line("#undef DSL_COS");
                w.Line($"for (int r = DSL_TID; r < args.rows; r += DSL_BDIM) arena[{Int(_lossOffset)} + r] = r == 0 ? value * (float)args.rows : 0.0f;");
            }

            w.Line();
            _cooperative.Add(name);
            launches.Add(new CudaLaunchSpec(name, cosent ? "CoSENT over the batch's pairs, value and gradient" : "cosine-MSE over the batch's pairs, value and gradient", "Single", dim, ReduceBlock));
        }

        /// <summary>Flooding after the loss kernel, one block: L = Σ slots/(rows·divisor); below b every gradient
        /// element flips sign (ascent) and every slot l becomes 2b·divisor − l, so the host's mean is |L − b| + b; at b
        /// the gradient is zero.</summary>
        private void Flood(CodeWriter w, List<CudaLaunchSpec> launches, PlanStep s, double level, int divisor)
        {
            string name = _kernelPrefix + "loss_flood";
            w.Line($"/* flooding, b = {Literals.Double(level)}: loss ← |loss − b| + b, ∂ ← sign(loss − b)·∂ over ∂z at {Int(s.DX)}. One block. */");
            using (w.Block($"DSL_KERNEL({name})"))
            {
                w.Line($"__shared__ double reduce[{Int(ReduceBlock)}];");
                w.Line("double total = 0.0;");
                w.Line($"for (int r = DSL_TID; r < args.rows; r += DSL_BDIM) total += arena[{Int(_slot)} + r];");
                BlockReduce(w, "reduce", "total", "{0} + {1}");
                w.Line($"const double loss = total / ((double)args.rows * {Int(divisor)}.0);");
                w.Line($"const double level = {Double(level)};");
                w.Line("if (!(loss <= level)) return; /* above b (or NaN): unchanged */");
                w.Line("const float factor = loss < level ? -1.0f : 0.0f;");
                w.Line($"for (int i = DSL_TID; i < args.rows * {Int(s.In)}; i += DSL_BDIM) arena[{Int(s.DX)} + i] *= factor;");
                w.Line($"for (int r = DSL_TID; r < args.rows; r += DSL_BDIM) arena[{Int(_slot)} + r] = (float)(2.0 * level * {Int(divisor)}.0) - arena[{Int(_slot)} + r];");
            }

            w.Line();
            _cooperative.Add(name);
            launches.Add(new CudaLaunchSpec(name, "flooding of the loss and its gradient", "Single", s.In, ReduceBlock));
        }

        /// <summary>Lion: c = β₁m + (1 − β₁)g, θ = θ·decay − lr·sign(c), m = β₂m + (1 − β₂)g (m at the state offset).</summary>
        private void Lion(CodeWriter w, List<CudaLaunchSpec> lion)
        {
            int region = _plan.ParameterRegion, g = _plan.GradientOffset, state = _plan.StateOffset;
            Elementwise(w, lion, "optimizer_lion", $"Lion: c = β₁m + (1 − β₁)g, θ = θ·decay − lr·sign(c), m = β₂m + (1 − β₂)g (m at {Int(state)})", region, true,
                "if (!dsl_in_tensor(i)) continue;",
                "const float scale = dsl_gradient_scale(arena, &args);",
                $"const float gi = arena[{Int(g)} + i] * scale;",
                $"const float m = arena[{Int(state)} + i];",
                "const float c = args.beta1 * m + args.oneMinusBeta1 * gi;",
                "const float sign = c != c ? c : c > 0.0f ? 1.0f : c < 0.0f ? -1.0f : 0.0f;",
                "float p = arena[i];",
                "if (dsl_decays(i, &args)) p *= args.decay;",
                "arena[i] = p - args.learningRate * sign;",
                $"arena[{Int(state)} + i] = args.beta2 * m + args.oneMinusBeta2 * gi;");
        }
    }
}
