using System;
using Dsl.Generators.Emit;
using Dsl.Generators.Emit.Cuda;
using Dsl.Generators.Model;
using Dsl.Generators.Parsing;
using Dsl.Generators.Rules;
using static Dsl.Generators.Emit.CudaLiterals;

namespace Dsl.Generators.Ops;

/// <summary>The focal loss −α(1 − p_t)^γ log p_t: Ops.FocalLoss(logits, labels, gamma, alpha), γ ≥ 0, α ≥ 0 (NNS019).
/// The gradient is computed in its stable form, through ln p_t/(1 − p_t) → −1 as p_t → 1.</summary>
internal sealed class FocalLoss : LossOp
{
    public override string Name => "Focal";

    public override string Method => "FocalLoss";

    /// <summary>The loss's options.</summary>
    internal sealed record Options(string Target, double Gamma, double Alpha) : LossOptions(Target);

    protected override LossOptions? ReadOptions(CallReader call, string target) =>
        call.Hyper("gamma") is { } gamma && call.Hyper("alpha") is { } alpha ? new Options(target, gamma, alpha) : null;

    public override void CheckLoss(RuleContext rules, int node, LossOptions options)
    {
        var o = (Options)options;
        // NNS019 ([K-4733], [K-7708]). α is a plain weight in the softmax form (default 1), so only α < 0 is invalid.
        if (!(o.Gamma >= 0) || double.IsInfinity(o.Gamma))
            Invalid(rules, node, "gamma", 2, "γ", o.Gamma, "finite and ≥ 0",
                "the factor (1 − p_t)^γ with γ < 0 grows without bound as the example gets easier (p_t → 1), so well-classified examples dominate; RetinaNet uses γ = 2", "2");
        if (!(o.Alpha >= 0) || double.IsInfinity(o.Alpha))
            Invalid(rules, node, "alpha", 3, "α", o.Alpha, "finite and ≥ 0",
                "α < 0 turns the loss negative, so gradient descent pushes the true class down", "1");
    }

    public override (double Loss, string How)? InitialLoss(int k, LossOptions options)
    {
        var o = (Options)options;
        double q = 1 - (1.0 / k);
        return (o.Alpha * Math.Pow(q, o.Gamma) * Math.Log(k), $"α(1 − 1/{k})^γ·ln {k}");
    }

    public override string Formula(LossOptions options)
    {
        var o = (Options)options;
        return $"loss = mean over rows of −α(1 − p_t)^γ log p_t, γ = {Literals.Double(o.Gamma)}, α = {Literals.Double(o.Alpha)}";
    }

    public override string Kernel(CpuWriter w, LossOptions options, LossStep step, string target, bool gradient)
    {
        var o = (Options)options;
        return $"{CpuWriter.Kernels}.FocalLoss.{(gradient ? "ForwardBackward" : "Forward")}<T>({Prediction(w, step, gradient)}, {target}, rows, {Int(step.In)}, {Literals.Double(o.Gamma)}, {Literals.Double(o.Alpha)}{Tail(w, step, gradient)}";
    }

    public override int CudaKernel(CudaWriter c, LossStep s, LossOptions options)
    {
        var o = (Options)options;
        double gamma = o.Gamma, alpha = o.Alpha;
        int classes = s.In;
        RowLoss.Kernel(c, s, "loss_focal", $"−α(1 − p_t)^γ log p_t, γ = {Literals.Double(gamma)}, α = {Literals.Double(alpha)}", null, (w, _) =>
        {
            w.Line("const float logPt = zLabel - lse;");
            w.Line("const float pt = DSL_EXPF(logPt);");
            w.Line("const float q = -dsl_expm1(logPt);");
            w.Line($"const float qg = {(gamma == 0 ? "1.0f" : gamma == 1 ? "q" : gamma == 2 ? "q * q" : $"q > 0.0f ? DSL_EXPF({Float(gamma)} * DSL_LOGF(q)) : 0.0f")};");
            w.Line($"const float value = {Float(-alpha)} * qg * logPt;");
            w.Line("const float ratio = q > 0.0f ? logPt / q : -1.0f; /* ln p_t/(1 − p_t) → −1 as p_t → 1 */");
            w.Line($"const float k = {Float(alpha)} * ({Float(gamma)} * qg * pt * ratio - qg) * scale;");
            w.Line($"for (int j = DSL_TID; j < {Int(classes)}; j += DSL_BDIM) d[j] = k * ((j == label ? 1.0f : 0.0f) - DSL_EXPF(z[j] - lse));");
        });
        return 1;
    }
}
