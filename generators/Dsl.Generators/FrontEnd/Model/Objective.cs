namespace Dsl.Generators.Model;

/// <summary>The options every loss op shares: the target parameter it reads and an optional flood level.
/// Each loss op derives its own record (its hyper-parameters) from this one.</summary>
/// <param name="Target">The loss method's parameter that holds the loss's targets.</param>
internal abstract record LossOptions(string Target) : OpOptions
{
    /// <summary>Flooding level b (Ops.Flood), or −1 for none.</summary>
    public double Flood { get; init; } = -1;

    /// <summary>Whether Ops.Flood wraps the loss (its level may still be an invalid −1, which the rules report).</summary>
    public bool Flooded { get; init; }
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
/// <param name="Loss">Its options (the node's).</param>
/// <param name="Target">The loss method's parameter that holds its targets.</param>
/// <param name="TargetKind">What that parameter holds.</param>
/// <param name="Weight">α_i for <see cref="TaskWeightingKind.Fixed"/> (1 otherwise).</param>
internal sealed record TaskSpec(int LossNode, LossOptions Loss, string Target, TargetKind TargetKind, double Weight);

/// <summary>A [Loss] method that returns Ops.MultiTask(weighting, loss₁, loss₂, …).</summary>
/// <param name="Weighting">How the losses combine.</param>
/// <param name="Tasks">The tasks, in the call's order.</param>
internal sealed record MultiTaskSpec(TaskWeightingKind Weighting, EquatableArray<TaskSpec> Tasks);

/// <summary>A target parameter of the [Loss] method, in declaration order.</summary>
/// <param name="Name">The parameter's name (the generated TrainStep takes it under the same name).</param>
/// <param name="Kind">Labels, Tensor or Scores.</param>
internal sealed record TargetParameter(string Name, TargetKind Kind);
