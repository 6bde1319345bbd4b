using Dsl.Generators.Emit;
using Dsl.Generators.Emit.Cuda;
using Dsl.Generators.Model;
using Dsl.Generators.Parsing;
using static Dsl.Generators.Emit.CudaLiterals;

namespace Dsl.Generators.Ops;

/// <summary>The cosine-MSE baseline of sentence-pair training: the mean over pairs of (cos(u, v) − s)²: Ops.CosineMse(embeddings, scores).</summary>
internal sealed class CosineMse : PairLossOp
{
    public override string Name => "CosineMse";

    public override string Method => "CosineMse";

    public override string? DataParallelIssue => "its sentence pairs (Ops.CosineMse) are not yet sharded by whole pairs";

    /// <summary>The loss's options: its target parameter.</summary>
    internal sealed record Options(string Target) : LossOptions(Target);

    protected override LossOptions? ReadOptions(CallReader call, string target) => new Options(target);

    public override string Formula(LossOptions options) => "loss = mean over pairs of (cos(u, v) − s)²";

    public override string Kernel(CpuWriter w, LossOptions options, LossStep step, string target, bool gradient) => gradient
        ? $"{CpuWriter.Kernels}.CosineMse.ForwardBackward<T>({Prediction(w, step, true)}, {target}, batch / 2, {Int(step.In)}, _pairScratch, {Gradient(w, step)}, T.One)"
        : $"{CpuWriter.Kernels}.CosineMse.Forward<T>({Prediction(w, step, false)}, {target}, batch / 2, {Int(step.In)}, _pairScratch)";

    public override int CudaKernel(CudaWriter c, LossStep s, LossOptions options)
    {
        Kernel(c, s, "loss_cosine_mse", "/* cosine-MSE: loss = mean over the batch / 2 pairs of (cos(u, v) − s)²", "cosine-MSE over the batch's pairs, value and gradient", w =>
        {
            w.Line("double total = 0.0;");
            using (w.Block("for (int i = DSL_TID; i < pairs; i += DSL_BDIM)"))
            {
                w.Line("const double e = DSL_COS(i) - targets[i];");
                w.Line("total += e * e;");
                w.Line("dc[i] = 2.0 * e / pairs;");
            }

            c.BlockReduce("reduce", "total", "{0} + {1}");
            w.Line("const float value = pairs == 0 ? 0.0f : (float)(total / pairs);");
        });
        return 1;
    }
}
