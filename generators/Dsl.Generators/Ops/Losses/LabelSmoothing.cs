using Dsl.Generators.Emit;
using Dsl.Generators.Emit.Cuda;
using Dsl.Generators.Model;
using Dsl.Generators.Parsing;
using Dsl.Generators.Rules;
using static Dsl.Generators.Emit.CudaLiterals;

namespace Dsl.Generators.Ops;

/// <summary>Cross-entropy against the smoothed target q = (1 − ε)e_y + ε/K: Ops.SoftmaxCrossEntropy(logits, labels,
/// smoothing: ε), ε in [0, 1) (NNS020, DSL313).</summary>
internal sealed class LabelSmoothing : LossOp
{
    public override string Name => "LabelSmoothing";

    public override string Method => "SoftmaxCrossEntropy";

    public override bool ClaimsCall(string method, int arguments) => arguments == 3;

    /// <summary>The loss's options.</summary>
    internal sealed record Options(string Target, double Smoothing) : LossOptions(Target);

    protected override LossOptions? ReadOptions(CallReader call, string target) => call.Hyper("smoothing") is { } e ? new Options(target, e) : null;

    public override void CheckLoss(RuleContext rules, int node, LossOptions options)
    {
        double e = ((Options)options).Smoothing;
        // NNS020 ([K-5765]). In this op's convention q = (1 − ε)e_y + ε/K the target is uniform only
        // at ε = 1 (SEEDS' (K − 1)/K is the convention with ε/(K − 1) on the other classes), so the
        // bound ε < 1 is also SEEDS' "no longer peaked at y" warning.
        if (!(e >= 0 && e < 1))
            Invalid(rules, node, "smoothing", 2, "ε", e, "in [0, 1)",
                "the target (1 − ε)·e_y + ε/K is a distribution peaked at the label only for ε in [0, 1) (ε = 1 is uniform and ignores the label); the post uses ε = 0.1", "0.1");
    }

    public override (double Loss, string How)? InitialLoss(int k, LossOptions options) => (System.Math.Log(k), $"ln {k}");

    public override string Formula(LossOptions options) =>
        $"loss = mean over rows of −Σ_j q_j log softmax(z)_j, q = (1 − ε)e_y + ε/K, ε = {Literals.Double(((Options)options).Smoothing)}";

    public override string Kernel(CpuWriter w, LossOptions options, LossStep step, string target, bool gradient) =>
        $"{CpuWriter.Kernels}.LabelSmoothedCrossEntropy.{(gradient ? "ForwardBackward" : "Forward")}<T>({Prediction(w, step, gradient)}, {target}, rows, {Int(step.In)}, {Literals.Double(((Options)options).Smoothing)}{Tail(w, step, gradient)}";

    public override int CudaKernel(CudaWriter c, LossStep s, LossOptions options)
    {
        double eps = ((Options)options).Smoothing;
        int classes = s.In;
        RowLoss.Kernel(c, s, "loss_label_smoothing", $"−Σ_j q_j log softmax(z)_j, q = (1 − ε)e_y + ε/K, ε = {Literals.Double(eps)}", null, (w, _) =>
        {
            w.Line("float total = 0.0f;");
            w.Line($"for (int j = DSL_TID; j < {Int(classes)}; j += DSL_BDIM) total += z[j];");
            c.BlockReduce("reduce", "total", "{0} + {1}");
            w.Line($"const float value = lse - ({Float(eps / classes)} * total + {Float(1 - eps)} * zLabel);");
            w.Line($"for (int j = DSL_TID; j < {Int(classes)}; j += DSL_BDIM) d[j] = (DSL_EXPF(z[j] - lse) - {Float(eps / classes)} - (j == label ? {Float(1 - eps)} : 0.0f)) * scale;");
        });
        return 1;
    }
}
