using Dsl.Generators.Emit;
using Dsl.Generators.Emit.Cuda;
using Dsl.Generators.Model;
using Dsl.Generators.Parsing;
using Dsl.Generators.Rules;
using static Dsl.Generators.Emit.CudaLiterals;

namespace Dsl.Generators.Ops;

/// <summary>CoSENT (Su, kexue.fm 8847): log(1 + Σ_(s_a &gt; s_b) exp(λ(cos_b − cos_a))) over the batch's interleaved sentence
/// pairs: Ops.CoSent(embeddings, scores, lambda), λ finite and &gt; 0 (NNS017). Computed as a log-sum-exp over {0} ∪ the
/// ordered pairs, shifted by its maximum; the kernel is Dsl.Kernels.CoSent.</summary>
internal sealed class CoSent : PairLossOp
{
    public override string Name => "CoSent";

    public override string Method => "CoSent";

    public override string? DataParallelIssue => "Ops.CoSent compares every pair of the batch with every other";

    /// <summary>The loss's options.</summary>
    internal sealed record Options(string Target, double Lambda) : LossOptions(Target);

    protected override LossOptions? ReadOptions(CallReader call, string target) => call.Hyper("lambda") is { } lambda ? new Options(target, lambda) : null;

    public override void CheckLoss(RuleContext rules, int node, LossOptions options)
    {
        double lambda = ((Options)options).Lambda;
        // NNS017 ([K-8847]): λ scales the cosine gaps inside e^{λ(c_b − c_a)}.
        if (!(lambda > 0) || double.IsInfinity(lambda))
            Invalid(rules, node, "lambda", 2, "λ", lambda, "finite and > 0",
                "λ ≤ 0 reverses or erases the ranking (λ < 0 rewards mis-ordered pairs, λ = 0 makes the loss the constant ln(1 + #pairs)); the post uses λ = 20", "20");
    }

    public override string Formula(LossOptions options) =>
        $"loss = log(1 + Σ_(s_a > s_b) exp(λ(cos_b − cos_a))) over the interleaved pairs, λ = {Literals.Double(((Options)options).Lambda)}";

    public override string Kernel(CpuWriter w, LossOptions options, LossStep step, string target, bool gradient)
    {
        string lambda = Literals.Double(((Options)options).Lambda);
        return gradient
            ? $"{CpuWriter.Kernels}.CoSent.ForwardBackward<T>({Prediction(w, step, true)}, {target}, batch / 2, {Int(step.In)}, {lambda}, _pairScratch, {Gradient(w, step)}, T.One)"
            : $"{CpuWriter.Kernels}.CoSent.Forward<T>({Prediction(w, step, false)}, {target}, batch / 2, {Int(step.In)}, {lambda}, _pairScratch)";
    }

    public override int CudaKernel(CudaWriter c, LossStep s, LossOptions options)
    {
        double l = ((Options)options).Lambda;
        string lambda = Float(l);
        Kernel(c, s, "loss_cosent", $"/* CoSENT: loss = log(1 + Σ_(s_a > s_b) exp(λ(cos_b − cos_a))), λ = {Literals.Double(l)}, over the batch / 2 pairs",
            "CoSENT over the batch's pairs, value and gradient", w =>
        {
            w.Line("/* the log-sum-exp over {0} ∪ {λ(c_b − c_a) : s_a > s_b}, shifted by its maximum */");
            w.Line("double m = 0.0;");
            using (w.Block("for (int e = DSL_TID; e < pairs * pairs; e += DSL_BDIM)"))
            {
                w.Line("const int a = e / pairs, b = e % pairs;");
                w.Line($"if (targets[a] > targets[b]) {{ const double v = {lambda} * (DSL_COS(b) - DSL_COS(a)); m = v > m ? v : m; }}");
            }

            c.BlockReduce("reduce", "m", "{0} > {1} ? {0} : {1}");
            w.Line("double sum = 0.0;");
            using (w.Block("for (int e = DSL_TID; e < pairs * pairs; e += DSL_BDIM)"))
            {
                w.Line("const int a = e / pairs, b = e % pairs;");
                w.Line($"if (targets[a] > targets[b]) sum += DSL_EXPF((float)({lambda} * (DSL_COS(b) - DSL_COS(a)) - m));");
            }

            c.BlockReduce("reduce", "sum", "{0} + {1}");
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
        });
        return 1;
    }
}
