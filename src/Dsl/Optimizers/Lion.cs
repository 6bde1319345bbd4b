using System;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Dsl.Optimizers;

/// <summary>
/// Lion (Chen et al., 2023, "EvoLved Sign Momentum"): the sign of an interpolation between the
/// momentum and the gradient, with decoupled weight decay on matrices only (unless
/// <see cref="DecayAll"/>). One state value per parameter, no ε, no bias correction.
/// </summary>
/// <remarks>
/// Per step: c = β1·m + (1 − β1)·g; θ ← θ·(1 − lr·λ) − lr·sign(c), which is
/// θ − lr·(sign(c) + λ·θ); then m ← β2·m + (1 − β2)·g (the momentum is updated after the
/// parameters, from the old m). sign(0) = 0, as Math.Sign and torch.sign give it, so a
/// coordinate with c = 0 gets only the decay; a NaN c propagates into θ. Lion's updates have
/// norm √P whatever the gradient scale, so its learning rate is usually 3–10× smaller than
/// AdamW's and its weight decay 3–10× larger (keeping lr·λ); see docs/guide.md.
/// State layout: state[0..P) = m, P = parameters.Length.
/// </remarks>
public sealed class Lion : Optimizer
{
    /// <summary>
    /// Creates the optimizer. The β defaults are the paper's searched values (0.9, 0.99); the
    /// learning rate 1e-4 is AdamW's default 1e-3 shrunk 10×, and the decay 0.1 is AdamW's 0.01
    /// grown 10×, keeping lr·λ (paper §5).
    /// </summary>
    /// <exception cref="ArgumentException">learningRate is not positive and finite, a β is not in
    /// [0, 1), or weightDecay is not non-negative and finite.</exception>
    public Lion(double learningRate = 1e-4, double beta1 = 0.9, double beta2 = 0.99, double weightDecay = 0.1, bool decayAll = false)
    {
        RequirePositiveFinite(nameof(learningRate), learningRate);
        RequireUnitInterval(nameof(beta1), beta1);
        RequireUnitInterval(nameof(beta2), beta2);
        RequireNonNegativeFinite(nameof(weightDecay), weightDecay);
        LearningRate = learningRate;
        Beta1 = beta1;
        Beta2 = beta2;
        WeightDecay = weightDecay;
        DecayAll = decayAll;
    }

    /// <summary>β1: the weight of the momentum in the interpolation whose sign is the update.</summary>
    public double Beta1 { get; }
    /// <summary>β2: the momentum's own decay.</summary>
    public double Beta2 { get; }
    /// <summary>λ, decoupled: θ -= lr·λ·θ.</summary>
    public double WeightDecay { get; }
    /// <summary>Decay vectors (biases, norms) too.</summary>
    public bool DecayAll { get; }
    /// <inheritdoc />
    public override int StateSlots => 1;

    /// <summary>PyTorch's names for the momentum.</summary>
    public override string? StateSlotName(int slot)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(slot);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(slot, StateSlots);
        return "exp_avg";
    }

    /// <summary>
    /// One Lion step (formula in the class remarks) with g replaced by s·g, s the clipping factor
    /// (1 unless <see cref="Optimizer.MaxGradientNorm"/> is set and exceeded). Allocates nothing.
    /// </summary>
    /// <exception cref="ArgumentException">The regions disagree in length, a tensor lies outside the
    /// parameters, or <see cref="Optimizer.LearningRate"/> is negative or not finite.</exception>
    public override void Step<T>(Span<T> parameters, ReadOnlySpan<T> gradients, Span<T> state, ReadOnlySpan<ParameterTensor> tensors)
    {
        ValidateStep<T>(parameters, gradients, state, tensors);
        T scale = GradientScale(gradients, tensors);
        T b1 = T.CreateTruncating(Beta1), c1 = T.CreateTruncating(1.0 - Beta1);
        T b2 = T.CreateTruncating(Beta2), c2 = T.CreateTruncating(1.0 - Beta2);
        T lr = T.CreateTruncating(LearningRate);
        T decay = T.CreateTruncating(1.0 - (LearningRate * WeightDecay));
        var work = _work as BlockUpdate<T, LionUpdate<T>> ?? (BlockUpdate<T, LionUpdate<T>>)(_work = new BlockUpdate<T, LionUpdate<T>>());
        work.Apply(Blocks(tensors), parameters, gradients, state.Slice(0, parameters.Length), default,
            new LionUpdate<T>(b1, c1, b2, c2, lr, decay, scale, WeightDecay > 0, DecayAll), measure: false);
        Steps++;
    }

    private object? _work;

    /// <inheritdoc />
    internal override void Prepare<T>(ReadOnlySpan<ParameterTensor> tensors)
    {
        base.Prepare<T>(tensors);
        _work ??= new BlockUpdate<T, LionUpdate<T>>();
    }

    /// <summary>One block of the update (<see cref="Lion.Update{T}"/>) for the shared driver: the decay on the blocks of
    /// matrices, or of every tensor with <see cref="DecayAll"/>; the momentum is state slot 0.</summary>
    private readonly struct LionUpdate<T> : IBlockUpdate<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        private readonly T _b1, _c1, _b2, _c2, _lr, _decay, _scale;
        private readonly bool _decays, _decayAll;

        public LionUpdate(T b1, T c1, T b2, T c2, T lr, T decay, T scale, bool decays, bool decayAll)
        {
            (_b1, _c1, _b2, _c2, _lr, _decay, _scale) = (b1, c1, b2, c2, lr, decay, scale);
            (_decays, _decayAll) = (decays, decayAll);
        }

        public double Update(Span<T> theta, ReadOnlySpan<T> grad, Span<T> state0, Span<T> state1, bool matrix, bool measure)
        {
            bool decays = (matrix || _decayAll) && _decays;
            Lion.Update(theta, grad, state0, _b1, _c1, _b2, _c2, _lr, decays ? _decay : T.One, _scale);
            return 0;
        }
    }

    private static void Update<T>(Span<T> theta, ReadOnlySpan<T> grad, Span<T> m, T b1, T c1, T b2, T c2, T lr, T decay, T scale)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ref T pr = ref MemoryMarshal.GetReference(theta);
        ref T gr = ref MemoryMarshal.GetReference(grad);
        ref T mr = ref MemoryMarshal.GetReference(m);
        nuint n = (nuint)theta.Length;
        nuint i = 0;
        if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported)
        {
            nuint width = (nuint)Vector256<T>.Count;
            Vector256<T> b1v = Vector256.Create(b1), c1v = Vector256.Create(c1);
            Vector256<T> b2v = Vector256.Create(b2), c2v = Vector256.Create(c2);
            Vector256<T> lrv = Vector256.Create(lr), decayv = Vector256.Create(decay), scalev = Vector256.Create(scale);
            Vector256<T> one = Vector256<T>.One;
            for (; i + width <= n; i += width)
            {
                Vector256<T> g = Vector256.LoadUnsafe(ref gr, i) * scalev;
                Vector256<T> mi = Vector256.LoadUnsafe(ref mr, i);
                Vector256<T> c = (b1v * mi) + (c1v * g);
                // sign(c): +1, −1 or 0 from the two comparisons; NaN lanes (c ≠ c) keep c itself.
                Vector256<T> sign = (Vector256.GreaterThan(c, Vector256<T>.Zero) & one) - (Vector256.LessThan(c, Vector256<T>.Zero) & one);
                sign = Vector256.ConditionalSelect(Vector256.Equals(c, c), sign, c);
                ((Vector256.LoadUnsafe(ref pr, i) * decayv) - (lrv * sign)).StoreUnsafe(ref pr, i);
                ((b2v * mi) + (c2v * g)).StoreUnsafe(ref mr, i);
            }
        }

        for (; i < n; i++)
        {
            T g = Unsafe.Add(ref gr, i) * scale;
            T mi = Unsafe.Add(ref mr, i);
            T c = (b1 * mi) + (c1 * g);
            T sign = T.IsNaN(c) ? c : c > T.Zero ? T.One : c < T.Zero ? T.NegativeOne : T.Zero;
            Unsafe.Add(ref pr, i) = (Unsafe.Add(ref pr, i) * decay) - (lr * sign);
            Unsafe.Add(ref mr, i) = (b2 * mi) + (c2 * g);
        }
    }
}
