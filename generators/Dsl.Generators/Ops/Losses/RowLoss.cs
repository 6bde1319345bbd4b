using System;
using System.Collections.Generic;
using Dsl.Generators.Emit;
using Dsl.Generators.Emit.Cuda;
using static Dsl.Generators.Emit.CudaLiterals;

namespace Dsl.Generators.Ops;

/// <summary>
/// The CUDA kernel shape of the softmax-based row losses beyond plain cross-entropy (label smoothing, focal,
/// logit-adjusted, TaiLr): one block per row, the log-sum-exp by a tree reduction, then the loss's own lines (its
/// value and ∂z = k·(softmax − target)), the row's loss left in the loss slot.
/// </summary>
internal static class RowLoss
{
    /// <summary>Prints the kernel <paramref name="kernel"/> ("loss_focal"): <paramref name="offsets"/> are constant logit
    /// offsets (declared priors) or null; <paramref name="body"/> prints the loss's lines (it sees z, d, label, zLabel,
    /// lse and scale, and must set <c>value</c>); <paramref name="zj"/> is how it reads logit j.</summary>
    public static void Kernel(CudaWriter c, LossStep s, string kernel, string formula, IReadOnlyList<double>? offsets, Action<CodeWriter, string> body)
    {
        var w = c.W;
        int classes = s.In;
        string name = c.KernelPrefix + kernel;
        string zj = offsets is not null ? "(z[j] + offsets[j])" : "z[j]";
        w.Line($"/* loss = mean over rows of {formula}; fused with its gradient (scaled by 1/rows).");
        w.Line($"   One block per row; z at {Int(s.X)}, ∂z at {Int(s.DX)} (may be the same memory: every z read precedes the writes),");
        w.Line($"   the row's loss at {Int(c.Slot)} + row. */");
        using (w.Block($"DSL_KERNEL({name})"))
        {
            w.Line($"__shared__ float reduce[{Int(CudaWriter.RowBlock)}];");
            if (offsets is not null)
            {
                w.Line($"/* τ ln(π_j / Σπ) of the declared priors */");
                w.Line($"const float offsets[{Int(classes)}] = {{ {string.Join(", ", System.Linq.Enumerable.Select(offsets, Float))} }};");
            }

            w.Line("const int r = DSL_BID;");
            w.Line("if (r >= args.rows) return;");
            w.Line($"const float* z = arena + {Int(s.X)} + r * {Int(classes)};");
            w.Line($"float* d = arena + {Int(s.DX)} + r * {Int(classes)};");
            w.Line($"const int label = {c.Label("r")};");
            w.Line($"const int valid = label >= 0 && label < {Int(classes)};");
            w.Line($"const float zLabel = valid ? {(offsets is not null ? "z[label] + offsets[label]" : "z[label]")} : DSL_NAN;");
            w.Line("float m = -DSL_INF;");
            w.Line($"for (int j = DSL_TID; j < {Int(classes)}; j += DSL_BDIM) m = {zj} > m ? {zj} : m;");
            c.BlockReduce("reduce", "m", "{0} > {1} ? {0} : {1}");
            w.Line("float sum = 0.0f;");
            w.Line($"for (int j = DSL_TID; j < {Int(classes)}; j += DSL_BDIM) sum += DSL_EXPF({zj} - m);");
            c.BlockReduce("reduce", "sum", "{0} + {1}");
            w.Line("const float lse = m + DSL_LOGF(sum);");
            w.Line("const float scale = 1.0f / (float)args.rows;");
            body(w, zj);
            w.Line($"if (DSL_TID == 0) arena[{Int(c.Slot)} + r] = valid ? value : DSL_NAN;");
        }

        w.Line();
        c.Cooperative(name);
        c.Launch(new CudaLaunchSpec(name, $"{kernel.Substring(5).Replace('_', ' ')}, value and gradient", "Rows", classes, CudaWriter.RowBlock));
    }
}
