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
    /// <summary>Whether the generated code is the original cross-entropy/MSE path (kept byte-for-byte).</summary>
    public bool IsPlain => Kind is LossKind.SoftmaxCrossEntropy or LossKind.MeanSquaredError && Flood < 0;

    /// <summary>Whether the loss compares sentence pairs (targets: one score per pair).</summary>
    public bool IsPairLoss => Kind is LossKind.CoSent or LossKind.CosineMse;
}
