using System;
using System.Linq;
using Dsl.Generators.Diagnostics;
using Dsl.Generators.Emit;
using Dsl.Generators.Emit.Cuda;
using Dsl.Generators.Model;
using Dsl.Generators.Parsing;
using Dsl.Generators.Rules;
using static Dsl.Generators.Emit.CudaLiterals;

namespace Dsl.Generators.Ops;

/// <summary>Logit-adjusted cross-entropy −log softmax(z + τ ln π)[y] (Menon et al.): Ops.LogitAdjustedCrossEntropy(logits,
/// labels, tau, priors), τ ≥ 0 and one positive prior per class (NNS021, DSL209); without declared priors they are
/// uniform until set at run time (<c>SetClassPriors</c>).</summary>
internal sealed class LogitAdjusted : LossOp
{
    public override string Name => "LogitAdjusted";

    public override string Method => "LogitAdjustedCrossEntropy";

    /// <summary>The loss's options.</summary>
    internal sealed record Options(string Target, double Tau, EquatableArray<double> Priors) : LossOptions(Target);

    protected override LossOptions? ReadOptions(CallReader call, string target)
    {
        double? tau = call.Hyper("tau");
        var priors = EquatableArray<double>.Empty;
        if (call.Has("priors"))
        {
            var values = call.ConstantArray("priors");
            if (values is null)
            {
                call.ReportParameter("priors", DiagnosticCatalog.UnsupportedConstruct, $"the priors '{call.DescribeParameter("priors")}' (write constant numbers, e.g. new[] {{ 0.7, 0.2, 0.1 }}, or set them at run time with Compiled.SetClassPriors)");
                return null;
            }

            priors = values.ToEquatableArray();
        }

        return tau is { } t ? new Options(target, t, priors) : null;
    }

    public override void CheckLoss(RuleContext rules, int node, LossOptions options)
    {
        var o = (Options)options;
        // NNS021 ([K-7615], [K-7708]).
        if (!(o.Tau >= 0) || double.IsInfinity(o.Tau))
            Invalid(rules, node, "tau", 2, "τ", o.Tau, "finite and ≥ 0",
                "τ < 0 adds a bonus to the rare classes' logits in training instead of a margin, the opposite of the adjustment; τ = 1 is already near optimal", "1");
        if (o.Priors.Count > 0 && RuleValues.Classes(rules.Model, node) is int classes and > 0 && o.Priors.Count != classes)
        {
            // Shape rule: one prior per class, i.e. per logit column.
            rules.Report(DiagnosticCatalog.PriorCount, Site.CallArgument(node, "priors", 3), o.Priors.Count, classes);
        }

        for (int i = 0; i < o.Priors.Count; i++)
        {
            double prior = o.Priors[i];
            if (prior > 0 && !double.IsInfinity(prior)) continue;
            rules.Report(DiagnosticCatalog.LossArgument, Site.CallArgument(node, "priors", 3, element: i),
                "Ops.LogitAdjustedCrossEntropy", $"the prior π_{i} of class {i}", RuleValues.Show(prior), "finite and > 0",
                "the adjustment adds τ·ln π to the logits and ln 0 = −∞; smooth the counts (add 1 to each) before dividing", null, "priors");
        }
    }

    public override (double Loss, string How)? InitialLoss(int k, LossOptions options)
    {
        var o = (Options)options;
        if (o.Priors.Count == 0) return (Math.Log(k), $"ln {k}");
        if (o.Priors.Count != k || !o.Priors.All(x => x > 0 && !double.IsInfinity(x))) return null;
        // Zero logits give softmax(τ ln π) ∝ π^τ; for labels drawn from π the expected loss is
        // −τ Σ π ln π + ln Σ π^τ.
        double sum = o.Priors.Sum(), entropy = 0, partition = 0;
        foreach (double prior in o.Priors)
        {
            double pi = prior / sum;
            entropy -= pi * Math.Log(pi);
            partition += Math.Pow(pi, o.Tau);
        }

        return ((o.Tau * entropy) + Math.Log(partition), "τ·H(π) + ln Σ π^τ");
    }

    public override string Formula(LossOptions options) =>
        $"loss = mean over rows of −log softmax(z + τ ln π)[label], τ = {Literals.Double(((Options)options).Tau)}";

    public override string Kernel(CpuWriter w, LossOptions options, LossStep step, string target, bool gradient) =>
        $"{CpuWriter.Kernels}.LogitAdjustedCrossEntropy.{(gradient ? "ForwardBackward" : "Forward")}<T>({Prediction(w, step, gradient)}, {target}, rows, {Int(step.In)}, _logitOffsets{Tail(w, step, gradient)}";

    /// <summary>The logit adjustment's offsets τ ln π and SetClassPriors.</summary>
    public override void CpuMembers(CpuWriter w, LossOptions options, LossStep step)
    {
        var o = (Options)options;
        string classes = Int(step.In);
        string tau = Literals.Double(o.Tau);
        string priors = o.Priors.Count > 0 ? $"new double[] {{ {string.Join(", ", o.Priors.Select(Literals.Double))} }}" : "null";
        w.Line($"/// <summary>τ ln π per class (τ = {tau}); from the declared priors, else uniform until <see cref=\"SetClassPriors\"/>.</summary>");
        w.Line($"private readonly T[] _logitOffsets = LogitOffsets({priors});");
        w.Line();
        w.Line("/// <summary>Sets the class priors π of the logit adjustment (any positive weights or counts, one per class;");
        w.Line("/// <see cref=\"global::Dsl.Kernels.LogitAdjustedCrossEntropy.CountPriors\"/> counts them from training labels).</summary>");
        w.Line($"public void SetClassPriors(global::System.ReadOnlySpan<double> priors) => {CpuWriter.Kernels}.LogitAdjustedCrossEntropy.Offsets<T>(priors, {tau}, _logitOffsets);");
        w.Line();
        using (w.Block("private static T[] LogitOffsets(double[]? priors)"))
        {
            w.Line($"var offsets = new T[{classes}];");
            w.Line($"if (priors is not null) {CpuWriter.Kernels}.LogitAdjustedCrossEntropy.Offsets<T>(priors, {tau}, offsets);");
            w.Line("return offsets;");
        }

        w.Line();
    }

    public override int CudaKernel(CudaWriter c, LossStep s, LossOptions options)
    {
        var o = (Options)options;
        int classes = s.In;
        // Declared priors become constants; without them the CPU's offsets are zeros (a uniform prior cancels).
        double sum = o.Priors.Sum();
        var offsets = o.Priors.Count == classes ? o.Priors.Select(p => o.Tau * Math.Log(p / sum)).ToList() : null;
        RowLoss.Kernel(c, s, "loss_logit_adjusted", $"−log softmax(z + τ ln π)[y], τ = {Literals.Double(o.Tau)}", offsets, (w, zj) =>
        {
            w.Line("const float value = lse - zLabel;");
            w.Line($"for (int j = DSL_TID; j < {Int(classes)}; j += DSL_BDIM) d[j] = (DSL_EXPF({zj} - lse) - (j == label ? 1.0f : 0.0f)) * scale;");
        });
        return 1;
    }
}
