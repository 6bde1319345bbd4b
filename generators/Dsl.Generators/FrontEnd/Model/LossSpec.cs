namespace Dsl.Generators.Model;

/// <summary>Which loss a [Loss] method computes.</summary>
internal enum LossKind
{
    /// <summary>Ops.SoftmaxCrossEntropy(logits, labels).</summary>
    SoftmaxCrossEntropy,
    /// <summary>Ops.MeanSquaredError(predictions, targets).</summary>
    MeanSquaredError,
    /// <summary>Ops.SoftmaxCrossEntropy(logits, labels, smoothing: ε); P1 = ε.</summary>
    LabelSmoothing,
    /// <summary>Ops.FocalLoss(logits, labels, gamma, alpha); P1 = γ, P2 = α.</summary>
    Focal,
    /// <summary>Ops.LogitAdjustedCrossEntropy(logits, labels, tau, priors); P1 = τ, Priors (empty = uniform until set at run time).</summary>
    LogitAdjusted,
    /// <summary>Ops.TaiLr(logits, labels, gamma, minWeight); P1 = γ, P2 = b.</summary>
    TaiLr,
    /// <summary>Ops.CoSent(embeddings, scores, lambda); P1 = λ.</summary>
    CoSent,
    /// <summary>Ops.CosineMse(embeddings, scores).</summary>
    CosineMse,
}

/// <summary>The loss of a model: its kind, hyper-parameters and optional flood level.</summary>
/// <param name="Kind">The loss.</param>
/// <param name="P1">First hyper-parameter (see <see cref="LossKind"/>).</param>
/// <param name="P2">Second hyper-parameter.</param>
/// <param name="Priors">Declared class priors (logit adjustment), else empty.</param>
/// <param name="Flood">Flooding level b (Ops.Flood), or −1 for none.</param>
internal sealed record LossSpec(LossKind Kind, double P1, double P2, EquatableArray<double> Priors, double Flood)
{
    /// <summary>Whether Ops.Flood wraps the loss (its level may still be an invalid −1, which the rules report).</summary>
    public bool Flooded { get; init; }

    /// <summary>Whether the generated code is the original cross-entropy/MSE path (kept byte-for-byte).</summary>
    public bool IsPlain => Kind is LossKind.SoftmaxCrossEntropy or LossKind.MeanSquaredError && Flood < 0;

    /// <summary>Whether the loss compares sentence pairs (targets: one score per pair).</summary>
    public bool IsPairLoss => Kind is LossKind.CoSent or LossKind.CosineMse;
}

/// <summary>How Ops.MultiTask combines its tasks' losses (mirrors <c>Dsl.TaskWeighting</c>; <see cref="Fixed"/> covers
/// both TaskWeighting.Sum, all weights 1, and the explicit-weights overload).</summary>
internal enum TaskWeightingKind
{
    /// <summary>L = Σ α_i L_i with constant α_i (<see cref="TaskSpec.Weight"/>).</summary>
    Fixed,
    /// <summary>L = Σ L_i / L_i⁰, L_i⁰ recorded on the first training pass.</summary>
    InitialLoss,
    /// <summary>L = Σ ln L_i (gradient Σ ∇L_i / L_i, the real-time weights L_i / sg(L_i)).</summary>
    LogSum,
    /// <summary>L = Σ ½ e^{−s_i} L_i + ½ s_i with learned s_i (a parameter "tasks.log_variance").</summary>
    Uncertainty,
}

/// <summary>One task of a multi-task loss.</summary>
/// <param name="LossNode">The task's loss node.</param>
/// <param name="Loss">Its kind and hyper-parameters.</param>
/// <param name="Target">The loss method's parameter that holds its targets.</param>
/// <param name="TargetKind">What that parameter holds.</param>
/// <param name="Weight">α_i for <see cref="TaskWeightingKind.Fixed"/> (1 otherwise).</param>
internal sealed record TaskSpec(int LossNode, LossSpec Loss, string Target, TargetKind TargetKind, double Weight);

/// <summary>A [Loss] method that returns Ops.MultiTask(weighting, loss₁, loss₂, …).</summary>
/// <param name="Weighting">How the losses combine.</param>
/// <param name="Tasks">The tasks, in the call's order.</param>
internal sealed record MultiTaskSpec(TaskWeightingKind Weighting, EquatableArray<TaskSpec> Tasks);

/// <summary>A target parameter of the [Loss] method, in declaration order.</summary>
/// <param name="Name">The parameter's name (the generated TrainStep takes it under the same name).</param>
/// <param name="Kind">Labels, Tensor or Scores.</param>
internal sealed record TargetParameter(string Name, TargetKind Kind);
