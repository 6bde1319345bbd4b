using System;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Dsl.Optimizers;

/// <summary>SGD with (optionally Nesterov) momentum and L2/decoupled decay: v = μ·v + g; θ -= lr·v.</summary>
/// <remarks>
/// As torch.optim.SGD with dampening 0: the first step's velocity is g (the state starts at zero,
/// so μ·0 + g = g), and μ = 0 is plain SGD. Weight decay is decoupled and applies to matrices only:
/// θ ← θ·(1 − lr·wd) − lr·v. Nesterov momentum is not offered by this constructor.
/// State layout: state[0..P) is the velocity, P = parameters.Length.
/// </remarks>
public sealed class Sgd : Optimizer
{
    /// <summary>Creates the optimizer.</summary>
    /// <exception cref="ArgumentException">learningRate is not positive and finite, momentum is not in
    /// [0, 1), or weightDecay is not non-negative and finite.</exception>
    public Sgd(double learningRate, double momentum = 0.9, double weightDecay = 0)
    {
        RequirePositiveFinite(nameof(learningRate), learningRate);
        RequireUnitInterval(nameof(momentum), momentum);
        RequireNonNegativeFinite(nameof(weightDecay), weightDecay);
        LearningRate = learningRate;
        Momentum = momentum;
        WeightDecay = weightDecay;
    }

    /// <summary>Momentum μ.</summary>
    public double Momentum { get; }
    /// <summary>Decoupled weight decay applied to matrices: θ -= lr·wd·θ.</summary>
    public double WeightDecay { get; }
    /// <inheritdoc />
    public override int StateSlots => 1;

    /// <summary>
    /// For each tensor: v ← μ·v + c·g; θ ← θ·(1 − lr·wd) − lr·v, the decay only on matrices; c is
    /// the clipping factor (1 unless <see cref="Optimizer.MaxGradientNorm"/> is set and exceeded).
    /// Hyper-parameters are converted to T once per step; allocates nothing.
    /// </summary>
    /// <exception cref="ArgumentException">The regions disagree in length, a tensor lies outside the
    /// parameters, or <see cref="Optimizer.LearningRate"/> is negative or not finite.</exception>
    public override void Step<T>(Span<T> parameters, ReadOnlySpan<T> gradients, Span<T> state, ReadOnlySpan<ParameterTensor> tensors)
    {
        ValidateStep<T>(parameters, gradients, state, tensors);
        T scale = GradientScale(gradients, tensors);
        T lr = T.CreateTruncating(LearningRate);
        T mu = T.CreateTruncating(Momentum);
        T decay = T.CreateTruncating(1.0 - (LearningRate * WeightDecay));
        Span<T> velocity = state.Slice(0, parameters.Length);
        foreach (ParameterTensor tensor in tensors)
        {
            bool decays = tensor.IsMatrix && WeightDecay > 0;
            Update(
                parameters.Slice(tensor.Offset, tensor.Length),
                gradients.Slice(tensor.Offset, tensor.Length),
                velocity.Slice(tensor.Offset, tensor.Length),
                lr, mu, decays ? decay : T.One, decays, scale);
        }

        Steps++;
    }

    private static void Update<T>(Span<T> theta, ReadOnlySpan<T> grad, Span<T> velocity, T lr, T mu, T decay, bool decays, T scale)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ref T pr = ref MemoryMarshal.GetReference(theta);
        ref T gr = ref MemoryMarshal.GetReference(grad);
        ref T vr = ref MemoryMarshal.GetReference(velocity);
        nuint n = (nuint)theta.Length;
        nuint i = 0;
        if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported)
        {
            nuint width = (nuint)Vector256<T>.Count;
            Vector256<T> lrv = Vector256.Create(lr);
            Vector256<T> muv = Vector256.Create(mu);
            Vector256<T> decayv = Vector256.Create(decay);
            Vector256<T> scalev = Vector256.Create(scale);
            for (; i + width <= n; i += width)
            {
                Vector256<T> v = (muv * Vector256.LoadUnsafe(ref vr, i)) + (Vector256.LoadUnsafe(ref gr, i) * scalev);
                v.StoreUnsafe(ref vr, i);
                Vector256<T> p = Vector256.LoadUnsafe(ref pr, i);
                if (decays)
                {
                    p *= decayv;
                }

                (p - (lrv * v)).StoreUnsafe(ref pr, i);
            }
        }

        for (; i < n; i++)
        {
            T v = (mu * Unsafe.Add(ref vr, i)) + (Unsafe.Add(ref gr, i) * scale);
            Unsafe.Add(ref vr, i) = v;
            T p = Unsafe.Add(ref pr, i);
            if (decays)
            {
                p *= decay;
            }

            Unsafe.Add(ref pr, i) = p - (lr * v);
        }
    }
}
