using System.Collections.Generic;
using Dsl.Generators.Planning;
using static Dsl.Generators.Emit.CudaLiterals;

namespace Dsl.Generators.Emit.Cuda;

internal static partial class CudaEmitter
{
    private sealed partial class Emission
    {
        /// <summary>
        /// Spectral normalisation, as the CPU engine runs it (Dsl.Kernels.SpectralNorm): before the forward
        /// schedule one power iteration (training only), then σ = uᵀWv and W̄ = W/σ, which the layer's GEMMs
        /// read; after the backward schedule ∂L/∂W = (G − ⟨G, W̄⟩·u·vᵀ)/σ in place. Each is one block with
        /// double-precision tree reductions, so nothing uses atomics.
        /// </summary>
        private void SpectralNorm(CodeWriter w, List<CudaLaunchSpec> forward, List<CudaLaunchSpec> backward)
        {
            for (int k = 0; k < _plan.SpectralNorms.Count; k++)
            {
                var sn = _plan.SpectralNorms[k];
                string rows = Int(sn.Rows), cols = Int(sn.Columns), count = Int(sn.Rows * sn.Columns);
                string power = $"sn{Int(k)}_power_iteration", normalize = $"sn{Int(k)}_normalize", correct = $"sn{Int(k)}_backward";

                w.Line($"/* {sn.Layer}: one power iteration (training only): v ← Wᵀu/‖Wᵀu‖, u ← Wv/‖Wv‖, norms floored at 1e-12.");
                w.Line($"   W [{rows}, {cols}] at {Int(sn.Weight)}, u at {Int(sn.U)}, v at {Int(sn.V)}; one block. */");
                using (w.Block($"DSL_KERNEL({power})"))
                {
                    w.Line($"__shared__ double reduce[{Int(ReduceBlock)}];");
                    w.Line("if (!args.training) return;");
                    w.Line($"const float* W = arena + {Int(sn.Weight)};");
                    w.Line($"float* u = arena + {Int(sn.U)};");
                    w.Line($"float* v = arena + {Int(sn.V)};");
                    using (w.Block($"for (int j = DSL_TID; j < {cols}; j += DSL_BDIM)"))
                    {
                        w.Line("float s = 0.0f;");
                        w.Line($"for (int i = 0; i < {rows}; i++) s += W[i * {cols} + j] * u[i];");
                        w.Line("v[j] = s;");
                    }

                    w.Line("__syncthreads();");
                    w.Line("double sum = 0.0;");
                    w.Line($"for (int j = DSL_TID; j < {cols}; j += DSL_BDIM) {{ const double x = v[j]; sum += x * x; }}");
                    BlockReduce(w, "reduce", "sum", "{0} + {1}");
                    w.Line("double norm = DSL_SQRT(sum);");
                    w.Line("float inverse = (float)(1.0 / (norm > 1e-12 ? norm : 1e-12));");
                    w.Line($"for (int j = DSL_TID; j < {cols}; j += DSL_BDIM) v[j] *= inverse;");
                    w.Line("__syncthreads();");
                    using (w.Block($"for (int i = DSL_TID; i < {rows}; i += DSL_BDIM)"))
                    {
                        w.Line("double s = 0.0;");
                        w.Line($"for (int j = 0; j < {cols}; j++) s += (double)W[i * {cols} + j] * (double)v[j];");
                        w.Line("u[i] = (float)s;");
                    }

                    w.Line("__syncthreads();");
                    w.Line("sum = 0.0;");
                    w.Line($"for (int i = DSL_TID; i < {rows}; i += DSL_BDIM) {{ const double x = u[i]; sum += x * x; }}");
                    BlockReduce(w, "reduce", "sum", "{0} + {1}");
                    w.Line("norm = DSL_SQRT(sum);");
                    w.Line("inverse = (float)(1.0 / (norm > 1e-12 ? norm : 1e-12));");
                    w.Line($"for (int i = DSL_TID; i < {rows}; i += DSL_BDIM) u[i] *= inverse;");
                }

                w.Line();
                w.Line($"/* {sn.Layer}: σ = uᵀWv (in double) at {Int(sn.Sigma)}, W̄ = W·(1/σ) at {Int(sn.Normalized)} (what the GEMMs read); one block. */");
                using (w.Block($"DSL_KERNEL({normalize})"))
                {
                    w.Line($"__shared__ double reduce[{Int(ReduceBlock)}];");
                    w.Line($"const float* W = arena + {Int(sn.Weight)};");
                    w.Line($"const float* u = arena + {Int(sn.U)};");
                    w.Line($"const float* v = arena + {Int(sn.V)};");
                    w.Line("double sum = 0.0;");
                    using (w.Block($"for (int i = DSL_TID; i < {rows}; i += DSL_BDIM)"))
                    {
                        w.Line("double d = 0.0;");
                        w.Line($"for (int j = 0; j < {cols}; j++) d += (double)W[i * {cols} + j] * (double)v[j];");
                        w.Line("sum += (double)u[i] * d;");
                    }

                    BlockReduce(w, "reduce", "sum", "{0} + {1}");
                    w.Line($"if (DSL_TID == 0) arena[{Int(sn.Sigma)}] = (float)sum;");
                    w.Line("const float inverse = (float)(1.0 / sum);");
                    w.Line($"for (int e = DSL_TID; e < {count}; e += DSL_BDIM) arena[{Int(sn.Normalized)} + e] = W[e] * inverse;");
                }

                w.Line();
                w.Line($"/* {sn.Layer} backward: G = ∂L/∂W̄ (left in W's gradient at {Int(sn.Gradient)} by the GEMMs) becomes");
                w.Line("   ∂L/∂W = (G − ⟨G, W̄⟩·u·vᵀ)/σ, u and v held constant; ⟨G, W̄⟩ in double; one block. */");
                using (w.Block($"DSL_KERNEL({correct})"))
                {
                    w.Line($"__shared__ double reduce[{Int(ReduceBlock)}];");
                    w.Line($"float* G = arena + {Int(sn.Gradient)};");
                    w.Line($"const float* N = arena + {Int(sn.Normalized)};");
                    w.Line($"const float* u = arena + {Int(sn.U)};");
                    w.Line($"const float* v = arena + {Int(sn.V)};");
                    w.Line("double inner = 0.0;");
                    w.Line($"for (int e = DSL_TID; e < {count}; e += DSL_BDIM) inner += (double)G[e] * (double)N[e];");
                    BlockReduce(w, "reduce", "inner", "{0} + {1}");
                    w.Line($"const float inverse = 1.0f / arena[{Int(sn.Sigma)}];");
                    using (w.Block($"for (int e = DSL_TID; e < {count}; e += DSL_BDIM)"))
                    {
                        w.Line($"const int i = e / {cols}, j = e - i * {cols};");
                        w.Line("const float c = -(float)(inner * (double)u[i]);");
                        w.Line("G[e] = (G[e] + v[j] * c) * inverse;");
                    }
                }

                w.Line();
                _cooperative.Add(power);
                _cooperative.Add(normalize);
                _cooperative.Add(correct);
                forward.Add(new CudaLaunchSpec(power, $"{sn.Layer}: spectral power iteration (training only)", "Single", sn.Rows * sn.Columns, ReduceBlock));
                forward.Add(new CudaLaunchSpec(normalize, $"{sn.Layer}: σ = uᵀWv, W̄ = W/σ", "Single", sn.Rows * sn.Columns, ReduceBlock));
                backward.Add(new CudaLaunchSpec(correct, $"{sn.Layer}: ∂L/∂W from ∂L/∂W̄ through σ", "Single", sn.Rows * sn.Columns, ReduceBlock));
            }
        }
    }
}
