using System.Collections.Generic;
using Dsl.Generators.Emit;
using Dsl.Generators.Emit.Cuda;
using Dsl.Generators.Planning;
using static Dsl.Generators.Emit.Literals;

namespace Dsl.Generators.Ops;

/// <summary>
/// Spectral normalisation of a Dense layer ([Dense(SpectralNorm = true)]; Miyato et al. 2018): the forward uses
/// W̄ = W/σ(W), σ estimated by one power iteration per training forward (u, v kept in the arena, not trained); the
/// gradient flows through σ = uᵀWv with u and v held constant. A regularizer hook of <see cref="Dense"/>: its buffers,
/// the engine's work before the forward schedule and after the backward one, and the CUDA kernels for both.
/// </summary>
internal static class SpectralNorm
{
    /// <summary>Where a spectrally normalised Dense layer keeps its buffers (arena element offsets).</summary>
    /// <param name="Layer">The Dense layer.</param>
    /// <param name="Weight">W [Rows, Columns] in the parameter region.</param>
    /// <param name="Gradient">∂L/∂W in the gradient region.</param>
    /// <param name="Rows">Out.</param>
    /// <param name="Columns">In.</param>
    /// <param name="U">The power iteration's left vector [Rows] (persistent, not trained).</param>
    /// <param name="V">The right vector [Columns].</param>
    /// <param name="Sigma">σ = uᵀWv of the last forward [1].</param>
    /// <param name="Normalized">W̄ = W/σ [Rows, Columns]: what the layer's GEMMs read.</param>
    internal sealed record Plan(string Layer, int Weight, int Gradient, int Rows, int Columns, int U, int V, int Sigma, int Normalized);

    /// <summary>Reserves u, v, σ and W̄ after the activations for a Dense layer with SpectralNorm.</summary>
    public static Plan PlanFor(PlanBuilder plan, string layer, int weight, int rows, int columns)
    {
        int u = plan.Allocate(layer + " spectral u", 1, rows);
        int v = plan.Allocate(layer + " spectral v", 1, columns);
        int sigma = plan.Allocate(layer + " spectral σ", 1, 1);
        int normalized = plan.Allocate(layer + " W/σ", rows, columns);
        var sn = new Plan(layer, weight, plan.GradientOffset + weight, rows, columns, u, v, sigma, normalized);
        plan.SpectralNorms.Add(sn);
        return sn;
    }

    private const string SpectralKernel = "global::Dsl.Kernels.SpectralNorm";

    /// <summary>u and v start as normalised N(0, 1) draws from their own stream of the seed (the
    /// parameters' initialisation is unchanged by the option).</summary>
    public static void CpuInitialize(CpuWriter w)
    {
        var plan = w.Plan;
        if (plan.SpectralNorms.Count == 0) return;
        w.Line("// spectral normalisation: u, v ~ N(0, I), normalised; not trained, not saved");
        w.Line("var spectral = new global::Dsl.Runtime.SeededRandom(unchecked(seed ^ 0x5350_4543_5452_414CUL));");
        foreach (var sn in plan.SpectralNorms)
        {
            foreach (var (offset, length) in new[] { (sn.U, sn.Rows), (sn.V, sn.Columns) })
            {
                using (w.Block($"for (int i = 0; i < {Int(length)}; i++)"))
                    w.Line($"Arena[{w.At(offset)} + i] = T.CreateTruncating(spectral.NextGaussian());");
            }

            w.Line($"{SpectralKernel}.PowerIteration<T>({w.SpanA(sn.Weight, Int(sn.Rows * sn.Columns))}, {Int(sn.Rows)}, {Int(sn.Columns)}, {w.SpanA(sn.U, Int(sn.Rows))}, {w.SpanA(sn.V, Int(sn.Columns))}); // {sn.Layer}: normalises u and v");
        }
    }

    /// <summary>Before the schedule: one power iteration per training forward, then σ = uᵀWv and W̄ = W/σ.</summary>
    public static void CpuForward(CpuWriter w)
    {
        var plan = w.Plan;
        foreach (var sn in plan.SpectralNorms)
        {
            string weight = w.SpanA(sn.Weight, Int(sn.Rows * sn.Columns)), u = w.SpanA(sn.U, Int(sn.Rows)), v = w.SpanA(sn.V, Int(sn.Columns));
            w.Line($"// {sn.Layer}: spectral normalisation W̄ = W/σ, σ = uᵀWv (one power iteration per training forward)");
            w.Line($"if (training) {SpectralKernel}.PowerIteration<T>({weight}, {Int(sn.Rows)}, {Int(sn.Columns)}, {u}, {v});");
            w.Line($"{SpectralKernel}.Forward<T>({weight}, {Int(sn.Rows)}, {Int(sn.Columns)}, {u}, {v}, {w.SpanA(sn.Normalized, Int(sn.Rows * sn.Columns))}, {w.SpanA(sn.Sigma, "1")});");
        }
    }

    /// <summary>After the schedule: the GEMMs left ∂L/∂W̄ in W's gradient; turn it into ∂L/∂W.</summary>
    public static void CpuBackward(CpuWriter w)
    {
        var plan = w.Plan;
        foreach (var sn in plan.SpectralNorms)
        {
            w.Line($"// {sn.Layer}: ∂L/∂W = (G − ⟨G, W̄⟩·u·vᵀ)/σ with G = ∂L/∂W̄ (u, v held constant)");
            w.Line($"{SpectralKernel}.Backward<T>({w.SpanA(sn.Gradient, Int(sn.Rows * sn.Columns))}, {w.SpanA(sn.Normalized, Int(sn.Rows * sn.Columns))}, {Int(sn.Rows)}, {Int(sn.Columns)}, {w.SpanA(sn.U, Int(sn.Rows))}, {w.SpanA(sn.V, Int(sn.Columns))}, Arena[{w.At(sn.Sigma)}]);");
        }
    }

    /// <summary><c>SpectralSigma</c>: the σ of the last forward of a spectrally normalised layer.</summary>
    public static void CpuMembers(CpuWriter w)
    {
        var plan = w.Plan;
        if (plan.SpectralNorms.Count == 0) return;
        w.Line("/// <summary>σ = uᵀWv of the last forward of the spectrally normalised Dense layer <paramref name=\"layer\"/>");
        w.Line("/// (its path, e.g. \"Hidden\"): the current estimate of W's largest singular value.</summary>");
        w.Line("/// <exception cref=\"global::System.ArgumentException\">The layer is not a spectrally normalised Dense layer of this model.</exception>");
        using (w.Block("public double SpectralSigma(string layer)"))
        {
            w.Line("switch (layer)");
            w.Line("{");
            foreach (var sn in plan.SpectralNorms)
                w.Line($"    case {String(sn.Layer)}: return double.CreateTruncating(Arena[{w.At(sn.Sigma)}]);");
            w.Line("    default: throw new global::System.ArgumentException($\"'{layer}' is not a spectrally normalised Dense layer of this model\", nameof(layer));");
            w.Line("}");
        }

        w.Line();
    }

    /// <summary>
    /// Spectral normalisation, as the CPU engine runs it (Dsl.Kernels.SpectralNorm): before the forward
    /// schedule one power iteration (training only), then σ = uᵀWv and W̄ = W/σ, which the layer's GEMMs
    /// read; after the backward schedule ∂L/∂W = (G − ⟨G, W̄⟩·u·vᵀ)/σ in place. Each is one block with
    /// double-precision tree reductions, so nothing uses atomics.
    /// </summary>
    public static void Cuda(CudaWriter c, CodeWriter w, List<CudaLaunchSpec> forward, List<CudaLaunchSpec> backward)
    {
        for (int k = 0; k < c.Plan.SpectralNorms.Count; k++)
        {
            var sn = c.Plan.SpectralNorms[k];
            string rows = Int(sn.Rows), cols = Int(sn.Columns), count = Int(sn.Rows * sn.Columns);
            string power = $"sn{Int(k)}_power_iteration", normalize = $"sn{Int(k)}_normalize", correct = $"sn{Int(k)}_backward";

            w.Line($"/* {sn.Layer}: one power iteration (training only): v ← Wᵀu/‖Wᵀu‖, u ← Wv/‖Wv‖, norms floored at 1e-12.");
            w.Line($"   W [{rows}, {cols}] at {Int(sn.Weight)}, u at {Int(sn.U)}, v at {Int(sn.V)}; one block. */");
            using (w.Block($"DSL_KERNEL({power})"))
            {
                w.Line($"__shared__ double reduce[{Int(CudaWriter.ReduceBlock)}];");
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
                CudaWriter.BlockReduce(w, "reduce", "sum", "{0} + {1}");
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
                CudaWriter.BlockReduce(w, "reduce", "sum", "{0} + {1}");
                w.Line("norm = DSL_SQRT(sum);");
                w.Line("inverse = (float)(1.0 / (norm > 1e-12 ? norm : 1e-12));");
                w.Line($"for (int i = DSL_TID; i < {rows}; i += DSL_BDIM) u[i] *= inverse;");
            }

            w.Line();
            w.Line($"/* {sn.Layer}: σ = uᵀWv (in double) at {Int(sn.Sigma)}, W̄ = W·(1/σ) at {Int(sn.Normalized)} (what the GEMMs read); one block. */");
            using (w.Block($"DSL_KERNEL({normalize})"))
            {
                w.Line($"__shared__ double reduce[{Int(CudaWriter.ReduceBlock)}];");
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

                CudaWriter.BlockReduce(w, "reduce", "sum", "{0} + {1}");
                w.Line($"if (DSL_TID == 0) arena[{Int(sn.Sigma)}] = (float)sum;");
                w.Line("const float inverse = (float)(1.0 / sum);");
                w.Line($"for (int e = DSL_TID; e < {count}; e += DSL_BDIM) arena[{Int(sn.Normalized)} + e] = W[e] * inverse;");
            }

            w.Line();
            w.Line($"/* {sn.Layer} backward: G = ∂L/∂W̄ (left in W's gradient at {Int(sn.Gradient)} by the GEMMs) becomes");
            w.Line("   ∂L/∂W = (G − ⟨G, W̄⟩·u·vᵀ)/σ, u and v held constant; ⟨G, W̄⟩ in double; one block. */");
            using (w.Block($"DSL_KERNEL({correct})"))
            {
                w.Line($"__shared__ double reduce[{Int(CudaWriter.ReduceBlock)}];");
                w.Line($"float* G = arena + {Int(sn.Gradient)};");
                w.Line($"const float* N = arena + {Int(sn.Normalized)};");
                w.Line($"const float* u = arena + {Int(sn.U)};");
                w.Line($"const float* v = arena + {Int(sn.V)};");
                w.Line("double inner = 0.0;");
                w.Line($"for (int e = DSL_TID; e < {count}; e += DSL_BDIM) inner += (double)G[e] * (double)N[e];");
                CudaWriter.BlockReduce(w, "reduce", "inner", "{0} + {1}");
                w.Line($"const float inverse = 1.0f / arena[{Int(sn.Sigma)}];");
                using (w.Block($"for (int e = DSL_TID; e < {count}; e += DSL_BDIM)"))
                {
                    w.Line($"const int i = e / {cols}, j = e - i * {cols};");
                    w.Line("const float c = -(float)(inner * (double)u[i]);");
                    w.Line("G[e] = (G[e] + v[j] * c) * inverse;");
                }
            }

            w.Line();
            c.Cooperative(power);
            c.Cooperative(normalize);
            c.Cooperative(correct);
            forward.Add(new CudaLaunchSpec(power, $"{sn.Layer}: spectral power iteration (training only)", "Single", sn.Rows * sn.Columns, CudaWriter.ReduceBlock));
            forward.Add(new CudaLaunchSpec(normalize, $"{sn.Layer}: σ = uᵀWv, W̄ = W/σ", "Single", sn.Rows * sn.Columns, CudaWriter.ReduceBlock));
            backward.Add(new CudaLaunchSpec(correct, $"{sn.Layer}: ∂L/∂W from ∂L/∂W̄ through σ", "Single", sn.Rows * sn.Columns, CudaWriter.ReduceBlock));
        }
    }
}
