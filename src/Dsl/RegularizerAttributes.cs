using System;

namespace Dsl;

/// <summary>
/// Adversarial training with the fast gradient method (FGM; Miyato et al. 2017, as Su applies it
/// to NLP, kexue.fm 7234) on a model's <see cref="EmbeddingAttribute"/> table. Put it on the
/// [Embedding] member; <c>TrainStep</c> then runs forward and backward, perturbs the table by
/// r = ε·g/‖g‖ (g the table's gradient, ‖·‖ one L2 norm over the whole matrix), runs forward and
/// backward again, adds the two gradients, restores the table exactly, and only then steps the
/// optimizer: it trains on L(θ) + L(θ + r) with r held constant. Each step costs two passes;
/// the returned loss is the clean one. A table tied to a head (<c>Dense(Tied = ...)</c>) is
/// perturbed in both roles.
/// </summary>
[AttributeUsage(AttributeTargets.Method, Inherited = false)]
public sealed class AdversarialAttribute : Attribute
{
    /// <summary>The perturbation's L2 norm ε over the whole table (default 1, Su's default; 0.5 did best in his CLUE runs).</summary>
    public double Epsilon { get; set; } = 1;
}
