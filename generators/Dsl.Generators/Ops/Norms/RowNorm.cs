using Dsl.Generators.Emit.Cuda;
using static Dsl.Generators.Emit.CudaLiterals;

namespace Dsl.Generators.Ops;

/// <summary>
/// The CUDA kernels the row norms share: one block per row reduces the row's statistics in shared memory (the mean
/// and variance of a centred norm; the mean square otherwise), keeps 1/σ (and μ) for the backward, and writes
/// y = x̂ ⊙ g (+ b); the backward sums the gain and bias gradients per column and, per row, ∂x = rstd·(ĝ − mean(ĝ)
/// − x̂·mean(ĝ⊙x̂)), without the mean(ĝ) term when not centred.
/// </summary>
internal static class RowNorm
{
    /// <summary>The forward kernel; <paramref name="x2"/> and <paramref name="sum"/> ≥ 0 when a residual add
    /// x + x2 → sum is computed first in the same pass.</summary>
    public static void Forward(CudaWriter c, string layer, bool centred, int width, double epsilon, int x, int x2, int sum, int y, int gain, int bias, int mean, int rstd)
    {
        var w = c.W;
        string name = $"{c.Prefix}_{(centred ? "layer_norm" : "rms_norm")}";
        bool fused = centred && sum >= 0;
        int input = fused ? sum : x;
        string g = gain >= 0 ? $" * arena[{Int(gain)} + j]" : "";
        string formula = centred
            ? $"y = (x − μ)/√(σ² + ε){(gain >= 0 ? " ⊙ γ" : "")}{(bias >= 0 ? " + β" : "")}"
            : $"y = x/√(mean(x²) + ε){(gain >= 0 ? " ⊙ g" : "")}";
        w.Line($"/* ==== {layer}: {(fused ? "s = x₁ + x₂ (kept: the residual stream), then " : "")}{formula}, ε = {Emit.Literals.Double(epsilon)}; one block per row ==== */");
        using (w.Block($"DSL_KERNEL({name})"))
        {
            w.Line($"__shared__ float reduce[{Int(CudaWriter.RowBlock)}];");
            w.Line("const int r = DSL_BID;");
            w.Line("if (r >= args.rows) return;");
            w.Line($"float* x = arena + {Int(input)} + r * {Int(width)};");
            if (fused)
                w.Line($"for (int j = DSL_TID; j < {Int(width)}; j += DSL_BDIM) x[j] = arena[{Int(x)} + r * {Int(width)} + j] + arena[{Int(x2)} + r * {Int(width)} + j];");
            w.Line($"float* y = arena + {Int(y)} + r * {Int(width)};");
            if (centred)
            {
                w.Line("float mean = 0.0f;");
                w.Line($"for (int j = DSL_TID; j < {Int(width)}; j += DSL_BDIM) mean += x[j];");
                c.BlockReduce("reduce", "mean", "{0} + {1}");
                w.Line($"mean /= {Float(width)};");
                w.Line("float variance = 0.0f;");
                w.Line($"for (int j = DSL_TID; j < {Int(width)}; j += DSL_BDIM) {{ const float d = x[j] - mean; variance += d * d; }}");
                c.BlockReduce("reduce", "variance", "{0} + {1}");
                w.Line($"const float rstd = 1.0f / DSL_SQRTF(variance / {Float(width)} + {Float(epsilon)});");
                w.Line($"for (int j = DSL_TID; j < {Int(width)}; j += DSL_BDIM) y[j] = (x[j] - mean) * rstd{g}{(bias >= 0 ? $" + arena[{Int(bias)} + j]" : "")};");
                w.Line($"if (DSL_TID == 0) {{ arena[{Int(mean)} + r] = mean; arena[{Int(rstd)} + r] = rstd; }}");
            }
            else
            {
                w.Line("float squares = 0.0f;");
                w.Line($"for (int j = DSL_TID; j < {Int(width)}; j += DSL_BDIM) squares += x[j] * x[j];");
                c.BlockReduce("reduce", "squares", "{0} + {1}");
                w.Line($"const float rstd = 1.0f / DSL_SQRTF(squares / {Float(width)} + {Float(epsilon)});");
                w.Line($"for (int j = DSL_TID; j < {Int(width)}; j += DSL_BDIM) y[j] = x[j] * rstd{g};");
                w.Line($"if (DSL_TID == 0) arena[{Int(rstd)} + r] = rstd;");
            }
        }

        w.Line();
        c.Cooperative(name);
        c.Launch(new CudaLaunchSpec(name, $"{layer}: {formula}", "Rows", width, CudaWriter.RowBlock));
    }

    /// <summary>The backward kernels: the parameter sums first (they read ∂y, which ∂x may overwrite), then ∂x.</summary>
    public static void Backward(CudaWriter c, string layer, bool centred, int width, int x, int gain, int gGain, int gBias, int dx, int dy, int mean, int rstd,
        bool accumulateDx, bool accumulateParams)
    {
        var w = c.W;
        string kind = centred ? "layer_norm" : "rms_norm";
        string op(bool accumulate) => CudaWriter.Op(accumulate);
        string xhat = centred
            ? $"(arena[{Int(x)} + r * {Int(width)} + c] - arena[{Int(mean)} + r]) * arena[{Int(rstd)} + r]"
            : $"arena[{Int(x)} + r * {Int(width)} + c] * arena[{Int(rstd)} + r]";
        w.Line($"/* ---- {layer} backward: x̂ = {(centred ? "(x − μ)·rstd" : "x·rstd")}, ĝ = {(gain >= 0 ? "γ⊙" : "")}∂y; ∂x {op(accumulateDx)} rstd·(ĝ{(centred ? " − mean(ĝ)" : "")} − x̂·mean(ĝ⊙x̂)){(gGain >= 0 ? $"; ∂γ {op(accumulateParams)} Σ ∂y⊙x̂" : "")}{(gBias >= 0 ? $", ∂β {op(accumulateParams)} Σ ∂y" : "")} ---- */");
        if (gGain >= 0 || gBias >= 0)
        {
            string name = $"{c.Prefix}_{kind}_parameters";
            using (w.Block($"DSL_KERNEL({name})"))
            {
                using (w.Block($"DSL_FOR_ELEMENTS(c, {Int(width)})"))
                {
                    w.Line("float gain = 0.0f, bias = 0.0f;");
                    using (w.Block("for (int r = 0; r < args.rows; r++)"))
                    {
                        w.Line($"const float dy = arena[{Int(dy)} + r * {Int(width)} + c];");
                        w.Line($"gain += dy * {xhat};");
                        w.Line("bias += dy;");
                    }

                    if (gGain >= 0) w.Line(accumulateParams ? $"arena[{Int(gGain)} + c] += gain;" : $"arena[{Int(gGain)} + c] = gain;");
                    if (gBias >= 0) w.Line(accumulateParams ? $"arena[{Int(gBias)} + c] += bias;" : $"arena[{Int(gBias)} + c] = bias;");
                    w.Line("(void)gain; (void)bias;");
                }
            }

            w.Line();
            c.Launch(new CudaLaunchSpec(name, $"{layer}: norm parameter gradients", "Elements", width, CudaWriter.ElementBlock));
        }

        if (dx < 0) return;
        string dxName = $"{c.Prefix}_{kind}_backward";
        using (w.Block($"DSL_KERNEL({dxName})"))
        {
            w.Line($"__shared__ float reduce[{Int(CudaWriter.RowBlock)}];");
            w.Line("const int r = DSL_BID;");
            w.Line("if (r >= args.rows) return;");
            w.Line($"const float* x = arena + {Int(x)} + r * {Int(width)};");
            w.Line($"const float* dy = arena + {Int(dy)} + r * {Int(width)};");
            w.Line($"float* dx = arena + {Int(dx)} + r * {Int(width)};");
            w.Line(centred ? $"const float mean = arena[{Int(mean)} + r];" : "const float mean = 0.0f;");
            w.Line($"const float rstd = arena[{Int(rstd)} + r];");
            string g = gain >= 0 ? $"dy[j] * arena[{Int(gain)} + j]" : "dy[j]";
            w.Line("float sumG = 0.0f, sumGx = 0.0f;");
            w.Line($"for (int j = DSL_TID; j < {Int(width)}; j += DSL_BDIM) {{ const float g = {g}; sumG += g; sumGx += g * (x[j] - mean) * rstd; }}");
            c.BlockReduce("reduce", "sumG", "{0} + {1}");
            c.BlockReduce("reduce", "sumGx", "{0} + {1}");
            w.Line($"const float meanG = {(centred ? $"sumG / {Float(width)}" : "0.0f")}, meanGx = sumGx / {Float(width)};");
            w.Line("(void)sumG;");
            using (w.Block($"for (int j = DSL_TID; j < {Int(width)}; j += DSL_BDIM)"))
            {
                w.Line($"const float value = rstd * ({g} - meanG - (x[j] - mean) * rstd * meanGx);");
                w.Line(accumulateDx ? "dx[j] += value;" : "dx[j] = value;");
            }
        }

        w.Line();
        c.Cooperative(dxName);
        c.Launch(new CudaLaunchSpec(dxName, $"{layer}: ∂x {op(accumulateDx)} norm backward", "Rows", width, CudaWriter.RowBlock));
    }
}
