using System;
using System.Collections.Generic;
using System.Linq;
using Dsl.Generators.Diagnostics;
using Dsl.Generators.Model;
using Microsoft.CodeAnalysis;

namespace Dsl.Generators.Rules;

/// <summary>
/// The loss rules of SEEDS.md §2 ("Losses", "Regularizers": NNS017 CoSENT, NNS018 TaiLr (and its γ = 1 info), NNS019 focal,
/// NNS020 label smoothing, NNS021 logit adjustment, NNS022 flooding), run on the parsed
/// <see cref="ModelSpec.Loss"/>. A hyper-parameter that makes the loss mathematically invalid is
/// <see cref="DiagnosticCatalog.LossArgument"/> (an Error, which blocks generation); a departure from the
/// sourced recommendation is a Warning, a heuristic an Info. Each finding points at the loss call's argument that holds
/// the value (a <see cref="Site.CallArgument"/> of the loss node), which resolves to the call when the value is the
/// op's default. A fix's value rides as a trailing message argument the message does not print (null: no fix).
/// Never throws on user values.
/// </summary>
internal static class LossRules
{
    /// <summary>Runs the loss rules on every loss of <paramref name="model"/>, adding what they find to <paramref name="sink"/>.</summary>
    public static void Check(ModelSpec model, List<Finding> sink)
    {
        void Report(DiagnosticDescriptor descriptor, Site site, object?[] arguments) => sink.Add(new Finding(descriptor, site, arguments));
        foreach (var (node, loss) in model.LossNodes) Check(model, node, loss, Report);
    }

    private static void Check(ModelSpec model, int lossNode, LossSpec loss, Action<DiagnosticDescriptor, Site, object?[]> report)
    {
        Site At(string parameter, int position) => Site.CallArgument(lossNode, parameter, position);
        void Invalid(string op, string parameter, int position, string name, double value, string range, string why, string? fix) =>
            report(DiagnosticCatalog.LossArgument, At(parameter, position), new object?[] { op, name, RuleValues.Show(value), range, why, fix, parameter });

        switch (loss.Kind)
        {
            case LossKind.CoSent when !(loss.P1 > 0) || double.IsInfinity(loss.P1):
                // NNS017 ([K-8847]): λ scales the cosine gaps inside e^{λ(c_b − c_a)}.
                Invalid("Ops.CoSent", "lambda", 2, "λ", loss.P1, "finite and > 0",
                    "λ ≤ 0 reverses or erases the ranking (λ < 0 rewards mis-ordered pairs, λ = 0 makes the loss the constant ln(1 + #pairs)); the post uses λ = 20", "20");
                break;
            case LossKind.Focal:
                // NNS019 ([K-4733], [K-7708]). α is a plain weight in the softmax form (default 1), so only α < 0 is invalid.
                if (!(loss.P1 >= 0) || double.IsInfinity(loss.P1))
                    Invalid("Ops.FocalLoss", "gamma", 2, "γ", loss.P1, "finite and ≥ 0",
                        "the factor (1 − p_t)^γ with γ < 0 grows without bound as the example gets easier (p_t → 1), so well-classified examples dominate; RetinaNet uses γ = 2", "2");
                if (!(loss.P2 >= 0) || double.IsInfinity(loss.P2))
                    Invalid("Ops.FocalLoss", "alpha", 3, "α", loss.P2, "finite and ≥ 0",
                        "α < 0 turns the loss negative, so gradient descent pushes the true class down", "1");
                break;
            case LossKind.LabelSmoothing when !(loss.P1 >= 0 && loss.P1 < 1):
                // NNS020 ([K-5765]). In this op's convention q = (1 − ε)e_y + ε/K the target is uniform only
                // at ε = 1 (SEEDS' (K − 1)/K is the convention with ε/(K − 1) on the other classes), so the
                // bound ε < 1 is also SEEDS' "no longer peaked at y" warning.
                Invalid("Ops.SoftmaxCrossEntropy", "smoothing", 2, "ε", loss.P1, "in [0, 1)",
                    "the target (1 − ε)·e_y + ε/K is a distribution peaked at the label only for ε in [0, 1) (ε = 1 is uniform and ignores the label); the post uses ε = 0.1", "0.1");
                break;
            case LossKind.LogitAdjusted:
                // NNS021 ([K-7615], [K-7708]).
                if (!(loss.P1 >= 0) || double.IsInfinity(loss.P1))
                    Invalid("Ops.LogitAdjustedCrossEntropy", "tau", 2, "τ", loss.P1, "finite and ≥ 0",
                        "τ < 0 adds a bonus to the rare classes' logits in training instead of a margin, the opposite of the adjustment; τ = 1 is already near optimal", "1");
                if (loss.Priors.Count > 0 && RuleValues.Classes(model, lossNode) is int classes and > 0 && loss.Priors.Count != classes)
                {
                    // Shape rule: one prior per class, i.e. per logit column.
                    report(DiagnosticCatalog.PriorCount, At("priors", 3),
                        new object?[] { loss.Priors.Count, classes });
                }

                for (int i = 0; i < loss.Priors.Count; i++)
                {
                    double prior = loss.Priors[i];
                    if (prior > 0 && !double.IsInfinity(prior)) continue;
                    report(DiagnosticCatalog.LossArgument, Site.CallArgument(lossNode, "priors", 3, element: i),
                        new object?[] { "Ops.LogitAdjustedCrossEntropy", $"the prior π_{i} of class {i}", RuleValues.Show(prior), "finite and > 0",
                            "the adjustment adds τ·ln π to the logits and ln 0 = −∞; smooth the counts (add 1 to each) before dividing", null, "priors" });
                }

                break;
            case LossKind.TaiLr:
                // NNS018 ([K-9526]): w = p/(γ + (1 − γ)p), clamped to [b, 1].
                if (!(loss.P1 >= 0 && loss.P1 <= 1))
                    Invalid("Ops.TaiLr", "gamma", 2, "γ", loss.P1, "in [0, 1]",
                        "the weight p/(γ + (1 − γ)p) interpolates between cross-entropy (γ = 0) and −p (γ = 1); below 0 its denominator vanishes at p = −γ/(1 − γ) and changes sign, above 1 it weights wrong predictions even less than −p does", null);
                if (!(loss.P2 >= 0 && loss.P2 <= 1))
                    Invalid("Ops.TaiLr", "minWeight", 3, "b", loss.P2, "in [0, 1]",
                        "b is the lower clamp of a weight that lies in [0, 1]; the public criterion defaults to 0 and its examples use 0.2", "0");
                else if (loss.P1 == 1)
                    report(DiagnosticCatalog.TaiLrAccuracy, At("gamma", 2), new object?[]
                    {
                        RuleValues.Show(loss.P2),
                        loss.P2 > 0 ? $"−∇p wherever p > {RuleValues.Show(loss.P2)}" : "−∇p everywhere",
                    });
                break;
        }

        Flood(model, lossNode, loss, report);
    }

    // ---- NNS022: flooding ([K-7643]; initial loss per [K-8870]) -----------------------------------------

    private static void Flood(ModelSpec model, int lossNode, LossSpec loss, Action<DiagnosticDescriptor, Site, object?[]> report)
    {
        // The spec's "no flood" is −1, which a user may also write: whether Ops.Flood wraps the loss decides.
        if (!loss.Flooded) return;
        double b = loss.Flood;
        var location = Site.CallArgument(lossNode, "level", 1, around: "Flood");
        if (!(b >= 0) || double.IsInfinity(b))
        {
            report(DiagnosticCatalog.LossArgument, location, new object?[] { "Ops.Flood", "b", RuleValues.Show(b), "finite and ≥ 0",
                "|L − b| + b with b < 0 equals L for every loss L ≥ 0, so the flood never acts; the level is meant to be a small positive loss value chosen on validation data", null, "level" });
            return;
        }

        if (b == 0 || InitialLoss(model, lossNode, loss) is not (double initial, string how)) return;
        if (b < initial) return;
        report(DiagnosticCatalog.FloodAboveInitialLoss, location, new object?[] { RuleValues.Show(b), how, RuleValues.Show(initial), RuleValues.Classes(model, lossNode) });
    }

    /// <summary>The loss at a uniform initial output (all logits equal) for a K-class loss, with the formula
    /// that gives it, or null where there is no such estimate (regression and pair losses).</summary>
    private static (double Loss, string How)? InitialLoss(ModelSpec model, int lossNode, LossSpec loss)
    {
        int k = RuleValues.Classes(model, lossNode);
        if (k < 2) return null;
        double lnK = Math.Log(k);
        switch (loss.Kind)
        {
            case LossKind.SoftmaxCrossEntropy:
            case LossKind.LabelSmoothing:
                return (lnK, $"ln {k}");
            case LossKind.Focal:
                double q = 1 - (1.0 / k);
                return (loss.P2 * Math.Pow(q, loss.P1) * lnK, $"α(1 − 1/{k})^γ·ln {k}");
            case LossKind.TaiLr:
                double p = 1.0 / k, denominator = loss.P1 + ((1 - loss.P1) * p);
                double w = Math.Min(1, Math.Max(loss.P2, denominator > 0 ? p / denominator : 1));
                return (w * lnK, $"w·ln {k} with w = clamp(p/(γ + (1 − γ)p), b, 1) at p = 1/{k}");
            case LossKind.LogitAdjusted when loss.Priors.Count == k && loss.Priors.All(x => x > 0 && !double.IsInfinity(x)):
                // Zero logits give softmax(τ ln π) ∝ π^τ; for labels drawn from π the expected loss is
                // −τ Σ π ln π + ln Σ π^τ.
                double sum = loss.Priors.Sum(), entropy = 0, partition = 0;
                foreach (double prior in loss.Priors)
                {
                    double pi = prior / sum;
                    entropy -= pi * Math.Log(pi);
                    partition += Math.Pow(pi, loss.P1);
                }

                return ((loss.P1 * entropy) + Math.Log(partition), "τ·H(π) + ln Σ π^τ");
            case LossKind.LogitAdjusted when loss.Priors.Count == 0:
                return (lnK, $"ln {k}");
            default:
                return null;
        }
    }
}
