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
/// <see cref="L2"/> is the coupled alternative, g ← g + λ₂·θ before the momentum, which is what
/// torch.optim.SGD's <c>weight_decay</c> does; without momentum the two are the same update
/// (θ ← (1 − lr·λ)θ − lr·g), with momentum the L2 term is accumulated in v as well.
/// State layout: state[0..P) is the velocity, P = parameters.Length.
/// </remarks>
public sealed class Sgd : Optimizer
{
    /// <summary>Creates the optimizer.</summary>
    /// <exception cref="ArgumentException">learningRate is not positive and finite, momentum is not in
    /// [0, 1), or weightDecay or l2 is not non-negative and finite.</exception>
    public Sgd(double learningRate, double momentum = 0.9, double weightDecay = 0, double l2 = 0)
    {
        RequireNonNegativeFinite(nameof(l2), l2);
        L2 = l2;
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
    /// <summary>λ₂ of the coupled L2 penalty on matrices: g ← g + λ₂·θ before the momentum.</summary>
    public double L2 { get; }
    /// <inheritdoc />
    public override int StateSlots => 1;

    /// <summary>PyTorch's names for the velocity.</summary>
    public override string? StateSlotName(int slot)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(slot);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(slot, StateSlots);
        return "momentum_buffer";
    }

    /// <summary>
    /// For each tensor: v ← μ·v + c·g + λ₂·θ (the L2 term on matrices only); θ ← θ·(1 − lr·wd) − lr·v, the decay only on matrices; c is
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
        T l2 = T.CreateTruncating(L2);
        var work = _work as BlockUpdate<T, SgdUpdate<T>> ?? (BlockUpdate<T, SgdUpdate<T>>)(_work = new BlockUpdate<T, SgdUpdate<T>>());
        work.Apply(Blocks(tensors), parameters, gradients, state.Slice(0, parameters.Length), default,
            new SgdUpdate<T>(lr, mu, decay, scale, l2, WeightDecay > 0, L2 > 0), measure: false);
        Steps++;
    }

    private object? _work;

    /// <inheritdoc />
    internal override void Prepare<T>(ReadOnlySpan<ParameterTensor> tensors)
    {
        base.Prepare<T>(tensors);
        _work ??= new BlockUpdate<T, SgdUpdate<T>>();
    }

    /// <summary>One block of the update (<see cref="Sgd.Update{T}"/>) for the shared driver: the decay and the L2 term
    /// on the blocks of matrices only; the velocity is state slot 0.</summary>
    private readonly struct SgdUpdate<T> : IBlockUpdate<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        private readonly T _lr, _mu, _decay, _scale, _l2;
        private readonly bool _decays, _penalized;

        public SgdUpdate(T lr, T mu, T decay, T scale, T l2, bool decays, bool penalized)
        {
            (_lr, _mu, _decay, _scale, _l2) = (lr, mu, decay, scale, l2);
            (_decays, _penalized) = (decays, penalized);
        }

        public double Update(Span<T> theta, ReadOnlySpan<T> grad, Span<T> state0, Span<T> state1, bool matrix, bool measure)
        {
            bool decays = matrix && _decays;
            Sgd.Update(theta, grad, state0, _lr, _mu, decays ? _decay : T.One, decays, _scale, matrix && _penalized ? _l2 : T.Zero);
            return 0;
        }
    }

    private static void Update<T>(Span<T> theta, ReadOnlySpan<T> grad, Span<T> velocity, T lr, T mu, T decay, bool decays, T scale, T l2)
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
            Vector256<T> l2v = Vector256.Create(l2);
            bool penalized = l2 != T.Zero;
            for (; i + width <= n; i += width)
            {
                Vector256<T> p = Vector256.LoadUnsafe(ref pr, i);
                Vector256<T> g = Vector256.LoadUnsafe(ref gr, i) * scalev;
                if (penalized)
                {
                    g += l2v * p;
                }

                Vector256<T> v = (muv * Vector256.LoadUnsafe(ref vr, i)) + g;
                v.StoreUnsafe(ref vr, i);
                if (decays)
                {
                    p *= decayv;
                }

                (p - (lrv * v)).StoreUnsafe(ref pr, i);
            }
        }

        for (; i < n; i++)
        {
            T p = Unsafe.Add(ref pr, i);
            T g = Unsafe.Add(ref gr, i) * scale;
            if (l2 != T.Zero)
            {
                g += l2 * p;
            }

            T v = (mu * Unsafe.Add(ref vr, i)) + g;
            Unsafe.Add(ref vr, i) = v;
            if (decays)
            {
                p *= decay;
            }

            Unsafe.Add(ref pr, i) = p - (lr * v);
        }
    }
}
