using System;
using System.Linq;
using Dsl.Generators.Emit;
using Dsl.Generators.Emit.Cuda;
using Dsl.Generators.Model;
using static Dsl.Generators.Emit.CudaLiterals;

namespace Dsl.Generators.Ops;

/// <summary>
/// The shape the pair losses share, on the CPU and in CUDA: the inputs hold 2·P examples, interleaved (row 2i the
/// first sentence of pair i, row 2i + 1 the second), the targets one score per pair. The CUDA kernel is one block:
/// the cosines, the loss's own lines (its value and ∂cos per pair, each thread owning its pairs: no atomics), then
/// ∂u, ∂v. The loss is left as rows × loss in the first slot (zeros after it), so the host's Σ slots / rows is the loss.
/// </summary>
internal abstract class PairLossOp : LossOp
{
    public override TargetKind Targets => TargetKind.Scores;

    /// <summary>The pair losses' Ops methods, for messages ("Ops.A or Ops.B").</summary>
    public static string Named(string separator) => string.Join(separator, OpRegistry.All.OfType<PairLossOp>().Select(o => "Ops." + o.Method));

    public override bool ComparesPairs => true;

    public override void CpuMembers(CpuWriter w, Model.LossOptions options, LossStep step)
    {
        w.Line("// Cosines and their gradients of up to MaxBatch / 2 pairs (allocated once).");
        w.Line("private readonly double[] _pairScratch = new double[MaxBatch];");
        w.Line();
    }

    /// <summary>Prints the kernel <paramref name="name"/>: <paramref name="header"/> is its comment's first line;
    /// <paramref name="body"/> prints the loss's lines (it sees DSL_COS(i), uv, uu, vv, targets, pairs and reduce, and
    /// must set <c>value</c> and dc[i] = ∂loss/∂cos_i).</summary>
    protected static void Kernel(CudaWriter c, LossStep s, string name, string header, string launch, Action<CodeWriter> body)
    {
        var w = c.W;
        int dim = s.In;
        int maxPairs = Math.Max(1, c.Plan.Model.MaxBatch / 2);
        w.Line(header);
        w.Line($"   (u = row 2i, v = row 2i + 1 of {Int(s.X)}; s = targets[i]); ∂ at {Int(s.DX)}. One block; dot products in double. */");
        using (w.Block($"DSL_KERNEL({name})"))
        {
            w.Line($"__shared__ double uv[{Int(maxPairs)}], uu[{Int(maxPairs)}], vv[{Int(maxPairs)}], dc[{Int(maxPairs)}];");
            w.Line($"__shared__ double reduce[{Int(CudaWriter.ReduceBlock)}];");
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
            body(w);
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
            w.Line($"for (int r = DSL_TID; r < args.rows; r += DSL_BDIM) arena[{Int(c.LossOffset)} + r] = r == 0 ? value * (float)args.rows : 0.0f;");
        }

        w.Line();
        c.Cooperative(name);
        c.Launch(new CudaLaunchSpec(name, launch, "Single", dim, CudaWriter.ReduceBlock));
    }
}
