using System;
using System.Globalization;

namespace Dsl;

/// <summary>
/// How <see cref="Ops.MultiTask(TaskWeighting, Scalar[])"/> combines its tasks' losses L_i into the one loss a step
/// descends (SEEDS §1.4, "Multi-task loss weighting"). The weights matter when the tasks' losses have different
/// scales, e.g. a cross-entropy near ln K next to a mean squared error in squared target units.
/// </summary>
public enum TaskWeighting
{
    /// <summary>L = Σ L_i: equal weights. The task with the largest loss dominates the gradient.</summary>
    Sum,

    /// <summary>L = Σ L_i / L_i⁰, where L_i⁰ is task i's loss on the first training batch, recorded then and fixed
    /// from then on (SEEDS' α_i = 1/L_i^init, measured rather than estimated). Every task starts at weight-adjusted
    /// loss 1. The recorded values are <c>Compiled.InitialTaskLosses</c>; a checkpoint saves them.</summary>
    InitialLoss,

    /// <summary>L = Σ ln L_i: the gradient Σ ∇L_i / L_i is that of the real-time weights L_i / sg(L_i), the direction
    /// of the tasks' geometric mean (Su: "a very good baseline in most cases"). The value reported is Σ ln L_i,
    /// so it can be negative. Every L_i must stay above 0 (a loss that reaches exactly 0 is floored at 1e-30).</summary>
    LogSum,

    /// <summary>L = Σ ½ e^{−s_i} L_i + ½ s_i with one learned s_i = ln σ_i² per task (Kendall, Gal and Cipolla, CVPR
    /// 2018, homoscedastic uncertainty, regression form for every task). The s_i are a parameter tensor,
    /// "tasks.log_variance", that starts at 0 and is trained with the model (not decayed: it is a vector). At its
    /// optimum e^{s_i} = L_i, so each task's weight ½e^{−s_i} tracks 1/(2L_i).</summary>
    Uncertainty,
}

public static partial class Ops
{
    /// <summary>
    /// Several losses trained together, each usually on its own head and its own target parameter of the [Loss] method,
    /// combined by <paramref name="weighting"/>. In a [Loss] method the generator emits every task's fused loss, then
    /// the weighting, and scales each task's gradient by ∂L/∂L_i before one backward pass through the shared layers.
    /// </summary>
    /// <remarks>This eager reference has no training history: for <see cref="TaskWeighting.InitialLoss"/> it evaluates
    /// the first step, where every ratio L_i / L_i⁰ is 1, and for <see cref="TaskWeighting.Uncertainty"/> the initial
    /// s_i = 0 (½ Σ L_i).</remarks>
    /// <exception cref="ArgumentException">Fewer than two losses, or a loss that is not finite (or ≤ 0 under <see cref="TaskWeighting.LogSum"/> is floored).</exception>
    public static Scalar MultiTask(TaskWeighting weighting, params Scalar[] losses)
    {
        RequireTasks(losses);
        double total = 0;
        foreach (var loss in losses)
        {
            total += weighting switch
            {
                TaskWeighting.Sum => loss.Value,
                TaskWeighting.InitialLoss => 1,
                TaskWeighting.LogSum => Math.Log(Math.Max(loss.Value, Kernels.MultiTask.LogFloor)),
                TaskWeighting.Uncertainty => 0.5 * loss.Value,
                _ => throw new ArgumentOutOfRangeException(nameof(weighting), weighting, "not a TaskWeighting"),
            };
        }

        return new Scalar(total);
    }

    /// <summary>Several losses with fixed weights: L = Σ α_i L_i (SEEDS §1.4's base form). One weight per loss, each
    /// finite and ≥ 0.</summary>
    /// <exception cref="ArgumentException">Fewer than two losses, a weight count that differs from the loss count, or a weight that is negative or not finite.</exception>
    public static Scalar MultiTask(double[] weights, params Scalar[] losses)
    {
        ArgumentNullException.ThrowIfNull(weights);
        RequireTasks(losses);
        if (weights.Length != losses.Length)
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"{weights.Length} weights for {losses.Length} losses; give one weight per loss"), nameof(weights));
        double total = 0;
        for (int i = 0; i < losses.Length; i++)
        {
            if (!(weights[i] >= 0) || double.IsInfinity(weights[i]))
                throw new ArgumentOutOfRangeException(nameof(weights), weights[i], string.Create(CultureInfo.InvariantCulture, $"the weight of task {i} is {weights[i]}; task weights must be finite and ≥ 0"));
            total += weights[i] * losses[i].Value;
        }

        return new Scalar(total);
    }

    private static void RequireTasks(Scalar[] losses)
    {
        ArgumentNullException.ThrowIfNull(losses);
        if (losses.Length < 2)
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"Ops.MultiTask got {losses.Length} loss(es); it combines two or more"), nameof(losses));
        for (int i = 0; i < losses.Length; i++)
            if (!double.IsFinite(losses[i].Value))
                throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"the loss of task {i} is {losses[i].Value}"), nameof(losses));
    }
}
