namespace Dsl.Generators.Model;

/// <summary>FGM adversarial training on an embedding table ([Adversarial] on an [Embedding] member).</summary>
/// <param name="Layer">Path of the embedding layer whose table is perturbed.</param>
/// <param name="Epsilon">The perturbation's L2 norm over the table.</param>
internal sealed record AdversarialSpec(string Layer, double Epsilon);
