using System;
using System.Numerics;

namespace Dsl.Optimizers;

/// <summary>
/// AdamW (Loshchilov and Hutter): decoupled weight decay θ -= lr·λ·θ on matrices only (unless
/// <see cref="DecayAll"/>), then the bias-corrected Adam update, as torch.optim.AdamW does.
/// </summary>
public sealed class AdamW : Optimizer
{
    /// <summary>Creates the optimizer; defaults are PyTorch's.</summary>
    public AdamW(double learningRate = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double epsilon = 1e-8, double weightDecay = 0.01, bool decayAll = false) => throw new NotImplementedException();
    /// <summary>β1.</summary>
    public double Beta1 { get; }
    /// <summary>β2.</summary>
    public double Beta2 { get; }
    /// <summary>ε.</summary>
    public double Epsilon { get; }
    /// <summary>λ.</summary>
    public double WeightDecay { get; }
    /// <summary>Decay vectors (biases, norms) too.</summary>
    public bool DecayAll { get; }
    /// <inheritdoc />
    public override int StateSlots => 2;
    /// <inheritdoc />
    public override void Step<T>(Span<T> parameters, ReadOnlySpan<T> gradients, Span<T> state, ReadOnlySpan<ParameterTensor> tensors) => throw new NotImplementedException();
}
