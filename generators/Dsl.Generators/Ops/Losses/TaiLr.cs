using System;
using Dsl.Generators.Diagnostics;
using Dsl.Generators.Emit;
using Dsl.Generators.Emit.Cuda;
using Dsl.Generators.Model;
using Dsl.Generators.Parsing;
using Dsl.Generators.Rules;
using static Dsl.Generators.Emit.CudaLiterals;

namespace Dsl.Generators.Ops;

/// <summary>TaiLr (Ji et al. 2023): cross-entropy weighted by the stop-gradient w = clamp(p/(γ + (1 − γ)p), b, 1):
/// Ops.TaiLr(logits, labels, gamma, minWeight), γ and b in [0, 1] (NNS018); γ = 1 is the slow −p loss (DSL318).</summary>
internal sealed class TaiLr : LossOp
{
    public override string Name => "TaiLr";

    public override string Method => "TaiLr";

    /// <summary>The loss's options.</summary>
    internal sealed record Options(string Target, double Gamma, double MinWeight) : LossOptions(Target);

    protected override LossOptions? ReadOptions(CallReader call, string target) =>
        call.Hyper("gamma") is { } gamma && call.Hyper("minWeight") is { } floor ? new Options(target, gamma, floor) : null;

    public override void CheckLoss(RuleContext rules, int node, LossOptions options)
    {
        var o = (Options)options;
        // NNS018 ([K-9526]): w = p/(γ + (1 − γ)p), clamped to [b, 1].
        if (!(o.Gamma >= 0 && o.Gamma <= 1))
            Invalid(rules, node, "gamma", 2, "γ", o.Gamma, "in [0, 1]",
                "the weight p/(γ + (1 − γ)p) interpolates between cross-entropy (γ = 0) and −p (γ = 1); below 0 its denominator vanishes at p = −γ/(1 − γ) and changes sign, above 1 it weights wrong predictions even less than −p does", null);
        if (!(o.MinWeight >= 0 && o.MinWeight <= 1))
            Invalid(rules, node, "minWeight", 3, "b", o.MinWeight, "in [0, 1]",
                "b is the lower clamp of a weight that lies in [0, 1]; the public criterion defaults to 0 and its examples use 0.2", "0");
        else if (o.Gamma == 1)
            rules.Report(DiagnosticCatalog.TaiLrAccuracy, Site.CallArgument(node, "gamma", 2),
                RuleValues.Show(o.MinWeight), o.MinWeight > 0 ? $"−∇p wherever p > {RuleValues.Show(o.MinWeight)}" : "−∇p everywhere");
    }

    public override (double Loss, string How)? InitialLoss(int k, LossOptions options)
    {
        var o = (Options)options;
        double p = 1.0 / k, denominator = o.Gamma + ((1 - o.Gamma) * p);
        double w = Math.Min(1, Math.Max(o.MinWeight, denominator > 0 ? p / denominator : 1));
        return (w * Math.Log(k), $"w·ln {k} with w = clamp(p/(γ + (1 − γ)p), b, 1) at p = 1/{k}");
    }

    public override string Formula(LossOptions options)
    {
        var o = (Options)options;
        return $"loss = mean over rows of −sg(clamp(p/(γ + (1 − γ)p), b, 1))·log p, γ = {Literals.Double(o.Gamma)}, b = {Literals.Double(o.MinWeight)}";
    }

    public override string Kernel(CpuWriter w, LossOptions options, LossStep step, string target, bool gradient)
    {
        var o = (Options)options;
        return $"{CpuWriter.Kernels}.TaiLr.{(gradient ? "ForwardBackward" : "Forward")}<T>({Prediction(w, step, gradient)}, {target}, rows, {Int(step.In)}, {Literals.Double(o.Gamma)}, {Literals.Double(o.MinWeight)}{Tail(w, step, gradient)}";
    }

    public override int CudaKernel(CudaWriter c, LossStep s, LossOptions options)
    {
        var o = (Options)options;
        double gamma = o.Gamma, floor = o.MinWeight;
        int classes = s.In;
        RowLoss.Kernel(c, s, "loss_tailr", $"−sg(clamp(p/(γ + (1 − γ)p), b, 1))·log p, γ = {Literals.Double(gamma)}, b = {Literals.Double(floor)} (the weight is a constant to the gradient)", null, (w, _) =>
        {
            w.Line("const float logP = zLabel - lse;");
            w.Line("const float p = DSL_EXPF(logP);");
            w.Line($"const float denominator = {Float(gamma)} + {Float(1 - gamma)} * p;");
            w.Line("float weight = denominator > 0.0f ? p / denominator : 1.0f;");
            w.Line($"weight = weight < {Float(floor)} ? {Float(floor)} : weight > 1.0f ? 1.0f : weight;");
            w.Line("const float value = -weight * logP;");
            w.Line("const float k = weight * scale;");
            w.Line($"for (int j = DSL_TID; j < {Int(classes)}; j += DSL_BDIM) d[j] = k * (DSL_EXPF(z[j] - lse) - (j == label ? 1.0f : 0.0f));");
        });
        return 1;
    }
}
