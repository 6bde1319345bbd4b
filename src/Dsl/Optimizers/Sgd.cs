using System;
using System.Numerics;

namespace Dsl.Optimizers;

/// <summary>SGD with (optionally Nesterov) momentum and L2/decoupled decay: v = μ·v + g; θ -= lr·v.</summary>
public sealed class Sgd : Optimizer
{
    /// <summary>Creates the optimizer.</summary>
    public Sgd(double learningRate, double momentum = 0.9, double weightDecay = 0) => throw new NotImplementedException();
    /// <summary>Momentum μ.</summary>
    public double Momentum { get; }
    /// <summary>Decoupled weight decay applied to matrices: θ -= lr·wd·θ.</summary>
    public double WeightDecay { get; }
    /// <inheritdoc />
    public override int StateSlots => 1;
    /// <inheritdoc />
    public override void Step<T>(Span<T> parameters, ReadOnlySpan<T> gradients, Span<T> state, ReadOnlySpan<ParameterTensor> tensors) => throw new NotImplementedException();
}
