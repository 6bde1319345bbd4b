using System.Linq;
using Dsl.Generators.Model;
using Dsl.Generators.Planning;
using static Dsl.Generators.Emit.Literals;

namespace Dsl.Generators.Emit;

// The losses beyond plain cross-entropy and MSE, flooding, pooled models, and the MeanPool steps.
internal static partial class EngineEmitter
{
    private static void MeanPoolForward(CodeWriter w, PlanStep s)
    {
        w.Line($"// {s.Layer}: y[b] = mean of x[b, t] over the positions whose id ≠ {Int((int)s.Scalar)} (batch × Sequence rows → batch rows)");
        w.Line($"{Kernels}.MeanPool.Forward<T>({Span(s.X, $"rows * {Int(s.In)}")}, Tokens, batch, Sequence, {Int(s.In)}, {Int((int)s.Scalar)}, {Span(s.Y, $"batch * {Int(s.Out)}")});");
        w.Line("rows = batch; // one row per example from here on");
    }

    private static void MeanPoolBackward(CodeWriter w, PlanStep s)
    {
        w.Line($"// {s.Layer} backward — forward: y[b] = mean over non-pad t of x[b, t]; ∂x[b, t] {(s.AccumulateDX ? "+=" : "=")} [id ≠ pad] · ∂y[b] / n_b");
        w.Line($"{Kernels}.MeanPool.Backward<T>({Span(s.DY, $"batch * {Int(s.Out)}")}, Tokens, batch, Sequence, {Int(s.In)}, {Int((int)s.Scalar)}, {Span(s.DX, $"batch * Sequence * {Int(s.In)}")}, accumulate: {Bool(s.AccumulateDX)});");
        w.Line("rows = batch * Sequence; // before the MeanPool: Sequence rows per example");
    }

    /// <summary>TrainingPass and Loss for every loss but the plain cross-entropy/MSE of an unpooled model (whose
    /// code <see cref="Loss"/> prints unchanged).</summary>
    private static void ExtendedLoss(CodeWriter w, ModelPlan plan)
    {
        var model = plan.Model;
        var spec = model.Loss ?? new LossSpec(model.Targets == TargetKind.Labels ? LossKind.SoftmaxCrossEntropy : LossKind.MeanSquaredError, 0, 0, EquatableArray<double>.Empty, -1);
        var step = plan.Forward.First(s => s.Kind is StepKind.SoftmaxCrossEntropy or StepKind.MeanSquaredError or StepKind.Loss);
        var (targetType, targetName) = spec.Kind switch
        {
            LossKind.MeanSquaredError => ("global::System.ReadOnlySpan<T>", "targets"),
            LossKind.CoSent or LossKind.CosineMse => ("global::System.ReadOnlySpan<T>", "scores"),
            _ => ("global::System.ReadOnlySpan<int>", "labels"),
        };
        string rows = model.Pooled ? "batch" : "batch * Sequence";
        string n = $"rows * {Int(step.In)}";
        string classes = Int(step.In);

        if (spec.IsPairLoss)
        {
            w.Line("// Cosines and their gradients of up to MaxBatch / 2 pairs (allocated once).");
            w.Line("private readonly double[] _pairScratch = new double[MaxBatch];");
            w.Line();
        }

        if (spec.Kind == LossKind.LogitAdjusted) LogitAdjustmentMembers(w, spec, classes);

        string Kernel(bool gradient) => LossKernel(spec, step, targetName, gradient);

        string formula = Formula(spec);
        bool flood = spec.Flood >= 0;
        string per = spec.IsPairLoss ? "the loss of the batch's batch / 2 interleaved sentence pairs" : "the mean loss per row";
        w.Line($"/// <summary>Forward, loss and backward on the first <paramref name=\"batch\"/> examples: returns {per} and");
        w.Line("/// leaves ∂loss/∂θ in <see cref=\"Gradients\"/> (overwritten, never accumulated across calls).</summary>");
        using (w.Block($"public double TrainingPass(int batch, {targetType} {targetName})"))
        {
            w.Line("Forward(batch, training: true);");
            w.Line("var a = Arena;");
            w.Line($"int rows = {rows};");
            w.Line($"// {formula}, fused with its gradient");
            w.Line($"double loss = {Kernel(gradient: true)};");
            if (flood)
            {
                w.Line($"// flooding: loss ← |loss − b| + b with b = {Double(spec.Flood)}; the gradient is multiplied by sign(loss − b) (ascent below b, 0 at b)");
                w.Line($"loss = {Kernels}.Flooding.Apply<T>(loss, {Double(spec.Flood)}, {Span(step.DX, n)});");
            }

            w.Line("Backward(batch);");
            w.Line("return loss;");
        }

        w.Line();
        w.Line($"/// <summary>{(spec.IsPairLoss ? "The loss" : "The mean loss")} on the first <paramref name=\"batch\"/> examples, without dropout or gradients{(flood ? " (flooded, as trained)" : "")}.</summary>");
        using (w.Block($"public double Loss(int batch, {targetType} {targetName})"))
        {
            w.Line("Forward(batch, training: false);");
            w.Line($"int rows = {rows};");
            w.Line("_ = rows;");
            w.Line(flood ? $"return {Kernels}.Flooding.Value({Kernel(gradient: false)}, {Double(spec.Flood)});" : $"return {Kernel(gradient: false)};");
        }

        w.Line();
        w.Line("private ulong DropoutStream(int layer) => unchecked((DropoutStep << 12) | (uint)layer);");
        w.Line();
    }

    /// <summary>The logit adjustment's offsets τ ln π and SetClassPriors.</summary>
    private static void LogitAdjustmentMembers(CodeWriter w, LossSpec spec, string classes)
    {
        string priors = spec.Priors.Count > 0 ? $"new double[] {{ {string.Join(", ", spec.Priors.Select(Double))} }}" : "null";
        w.Line($"/// <summary>τ ln π per class (τ = {Double(spec.P1)}); from the declared priors, else uniform until <see cref=\"SetClassPriors\"/>.</summary>");
        w.Line($"private readonly T[] _logitOffsets = LogitOffsets({priors});");
        w.Line();
        w.Line("/// <summary>Sets the class priors π of the logit adjustment (any positive weights or counts, one per class;");
        w.Line("/// <see cref=\"global::Dsl.Kernels.LogitAdjustedCrossEntropy.CountPriors\"/> counts them from training labels).</summary>");
        w.Line($"public void SetClassPriors(global::System.ReadOnlySpan<double> priors) => {Kernels}.LogitAdjustedCrossEntropy.Offsets<T>(priors, {Double(spec.P1)}, _logitOffsets);");
        w.Line();
        using (w.Block("private static T[] LogitOffsets(double[]? priors)"))
        {
            w.Line($"var offsets = new T[{classes}];");
            w.Line($"if (priors is not null) {Kernels}.LogitAdjustedCrossEntropy.Offsets<T>(priors, {Double(spec.P1)}, offsets);");
            w.Line("return offsets;");
        }

        w.Line();
    }

    /// <summary>The fused call of one loss on <paramref name="step"/>'s prediction: the loss value, and with
    /// <paramref name="gradient"/> its unweighted gradient ∂loss/∂prediction written to the step's DX. Reads
    /// <c>rows</c> (and <c>batch</c> for pair losses) and the target span named <paramref name="target"/>.</summary>
    private static string LossKernel(LossSpec spec, PlanStep step, string target, bool gradient)
    {
        string n = $"rows * {Int(step.In)}";
        string classes = Int(step.In);
        const string mean = "T.One / T.CreateTruncating(rows)";
        string x = gradient ? Span(step.X, n) : SpanA(step.X, n);
        string dx = Span(step.DX, n);
        string tail = gradient ? $", {dx}, {mean})" : ")";
        string method = gradient ? "ForwardBackward" : "Forward";
        return spec.Kind switch
        {
            LossKind.SoftmaxCrossEntropy => $"{Kernels}.SoftmaxCrossEntropy.{method}<T>({x}, {target}, rows, {classes}{tail}",
            LossKind.MeanSquaredError => gradient
                ? $"{Kernels}.MeanSquaredError.ForwardBackward<T>({x}, {target}, {dx}, T.One)"
                : $"{Kernels}.MeanSquaredError.Forward<T>({x}, {target})",
            LossKind.LabelSmoothing => $"{Kernels}.LabelSmoothedCrossEntropy.{method}<T>({x}, {target}, rows, {classes}, {Double(spec.P1)}{tail}",
            LossKind.Focal => $"{Kernels}.FocalLoss.{method}<T>({x}, {target}, rows, {classes}, {Double(spec.P1)}, {Double(spec.P2)}{tail}",
            LossKind.LogitAdjusted => $"{Kernels}.LogitAdjustedCrossEntropy.{method}<T>({x}, {target}, rows, {classes}, _logitOffsets{tail}",
            LossKind.TaiLr => $"{Kernels}.TaiLr.{method}<T>({x}, {target}, rows, {classes}, {Double(spec.P1)}, {Double(spec.P2)}{tail}",
            LossKind.CoSent => gradient
                ? $"{Kernels}.CoSent.ForwardBackward<T>({x}, {target}, batch / 2, {classes}, {Double(spec.P1)}, _pairScratch, {dx}, T.One)"
                : $"{Kernels}.CoSent.Forward<T>({x}, {target}, batch / 2, {classes}, {Double(spec.P1)}, _pairScratch)",
            _ => gradient
                ? $"{Kernels}.CosineMse.ForwardBackward<T>({x}, {target}, batch / 2, {classes}, _pairScratch, {dx}, T.One)"
                : $"{Kernels}.CosineMse.Forward<T>({x}, {target}, batch / 2, {classes}, _pairScratch)",
        };
    }

    private static string Formula(LossSpec spec) => spec.Kind switch
    {
        LossKind.SoftmaxCrossEntropy => "loss = mean over rows of −log softmax(z)[label]",
        LossKind.MeanSquaredError => "loss = mean (p − t)²",
        LossKind.LabelSmoothing => $"loss = mean over rows of −Σ_j q_j log softmax(z)_j, q = (1 − ε)e_y + ε/K, ε = {Double(spec.P1)}",
        LossKind.Focal => $"loss = mean over rows of −α(1 − p_t)^γ log p_t, γ = {Double(spec.P1)}, α = {Double(spec.P2)}",
        LossKind.LogitAdjusted => $"loss = mean over rows of −log softmax(z + τ ln π)[label], τ = {Double(spec.P1)}",
        LossKind.TaiLr => $"loss = mean over rows of −sg(clamp(p/(γ + (1 − γ)p), b, 1))·log p, γ = {Double(spec.P1)}, b = {Double(spec.P2)}",
        LossKind.CoSent => $"loss = log(1 + Σ_(s_a > s_b) exp(λ(cos_b − cos_a))) over the interleaved pairs, λ = {Double(spec.P1)}",
        _ => "loss = mean over pairs of (cos(u, v) − s)²",
    };
}
