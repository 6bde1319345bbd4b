using System;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Dsl.Optimizers;

/// <summary>
/// AdamW (Loshchilov and Hutter): decoupled weight decay θ -= lr·λ·θ on matrices only (unless
/// <see cref="DecayAll"/>), then the bias-corrected Adam update, as torch.optim.AdamW does.
/// </summary>
/// <remarks>
/// At step t (1-based): θ ← θ − lr·λ·θ (matrices, or all with <see cref="DecayAll"/>);
/// m ← β1·m + (1 − β1)·g; v ← β2·v + (1 − β2)·g²; θ ← θ − (lr/(1 − β1ᵗ))·m/(√v/√(1 − β2ᵗ) + ε),
/// which is lr·m̂/(√v̂ + ε) grouped as PyTorch groups it. State layout: state[0..P) = m,
/// state[P..2P) = v, P = parameters.Length.
/// <para>
/// <see cref="L2"/> is the other kind of decay: g ← g + λ₂·θ before the moments, as
/// torch.optim.Adam's <c>weight_decay</c> does (with weightDecay: 0 this is Adam with L2). Under
/// Adam the L2 term is divided by √v̂ like the gradient, so heavily-updated weights are decayed
/// less; decoupled decay (<see cref="WeightDecay"/>) decays every weight at the same rate. Both
/// apply to the same tensors (matrices, or all with <see cref="DecayAll"/>).
/// </para>
/// </remarks>
public sealed class AdamW : Optimizer
{
    /// <summary>Creates the optimizer; defaults are PyTorch's.</summary>
    /// <exception cref="ArgumentException">learningRate is not positive and finite, a β is not in
    /// [0, 1), or epsilon, weightDecay or l2 is not non-negative and finite.</exception>
    public AdamW(double learningRate = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double epsilon = 1e-8, double weightDecay = 0.01, bool decayAll = false, double l2 = 0)
    {
        RequireNonNegativeFinite(nameof(l2), l2);
        L2 = l2;
        RequirePositiveFinite(nameof(learningRate), learningRate);
        RequireUnitInterval(nameof(beta1), beta1);
        RequireUnitInterval(nameof(beta2), beta2);
        RequireNonNegativeFinite(nameof(epsilon), epsilon);
        RequireNonNegativeFinite(nameof(weightDecay), weightDecay);
        LearningRate = learningRate;
        Beta1 = beta1;
        Beta2 = beta2;
        Epsilon = epsilon;
        WeightDecay = weightDecay;
        DecayAll = decayAll;
    }

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
    /// <summary>λ₂ of the coupled L2 penalty: g ← g + λ₂·θ before the moments (class remarks).</summary>
    public double L2 { get; }
    /// <inheritdoc />
    public override int StateSlots => 2;

    /// <summary>PyTorch's names for m, then v.</summary>
    public override string? StateSlotName(int slot)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(slot);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(slot, StateSlots);
        return slot == 0 ? "exp_avg" : "exp_avg_sq";
    }

    /// <summary>
    /// One AdamW step (formula in the class remarks), with g replaced by c·g where c is the
    /// clipping factor (1 unless <see cref="Optimizer.MaxGradientNorm"/> is set and exceeded). The
    /// bias corrections are computed in double and every hyper-parameter is converted to T once;
    /// allocates nothing.
    /// </summary>
    /// <exception cref="ArgumentException">The regions disagree in length, a tensor lies outside the
    /// parameters, or <see cref="Optimizer.LearningRate"/> is negative or not finite.</exception>
    public override void Step<T>(Span<T> parameters, ReadOnlySpan<T> gradients, Span<T> state, ReadOnlySpan<ParameterTensor> tensors)
    {
        ValidateStep<T>(parameters, gradients, state, tensors);

        // Without clipping the norm is only reported: the update pass sums it as it reads the gradients
        // (the same blocks, the same order, the same bits as a separate pass), saving a read of them.
        bool fuseNorm = MaxGradientNorm == 0 && !NormMeasured && (typeof(T) == typeof(float) || typeof(T) == typeof(double));
        T scale = fuseNorm ? T.One : GradientScale(gradients, tensors);
        long t = Steps + 1;
        double biasCorrection1 = 1.0 - Math.Pow(Beta1, t);
        double biasCorrection2 = 1.0 - Math.Pow(Beta2, t);
        var h = new Hyper<T>(
            T.CreateTruncating(Beta1), T.CreateTruncating(1.0 - Beta1),
            T.CreateTruncating(Beta2), T.CreateTruncating(1.0 - Beta2),
            T.CreateTruncating(LearningRate / biasCorrection1),
            T.CreateTruncating(Math.Sqrt(biasCorrection2)),
            T.CreateTruncating(Epsilon),
            T.CreateTruncating(1.0 - (LearningRate * WeightDecay)),
            scale,
            T.CreateTruncating(L2));

        UpdateBlocks blocks = Blocks(tensors);
        var work = _work as BlockUpdate<T, AdamUpdate<T>> ?? (BlockUpdate<T, AdamUpdate<T>>)(_work = new BlockUpdate<T, AdamUpdate<T>>());
        int count = parameters.Length;
        work.Apply(blocks, parameters, gradients, state.Slice(0, count), state.Slice(count, count),
            new AdamUpdate<T>(h, WeightDecay > 0, L2 > 0, DecayAll), fuseNorm);

        if (fuseNorm)
        {
            LastGradientNorm = Math.Sqrt(blocks.Total());
        }

        Steps++;
    }

    private object? _work;

    /// <inheritdoc />
    internal override void Prepare<T>(ReadOnlySpan<ParameterTensor> tensors)
    {
        base.Prepare<T>(tensors);
        _work ??= new BlockUpdate<T, AdamUpdate<T>>();
    }

    /// <summary>One block of the AdamW update (<see cref="AdamW.Update{T}"/>) for the shared driver: decay and L2 on the
    /// blocks of matrices, or of every tensor with <see cref="DecayAll"/>.</summary>
    private readonly struct AdamUpdate<T> : IBlockUpdate<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        private readonly Hyper<T> _h;
        private readonly bool _decays, _penalized, _decayAll;

        public AdamUpdate(Hyper<T> h, bool decays, bool penalized, bool decayAll)
        {
            _h = h;
            _decays = decays;
            _penalized = penalized;
            _decayAll = decayAll;
        }

        public double Update(Span<T> theta, ReadOnlySpan<T> grad, Span<T> state0, Span<T> state1, bool matrix, bool measure)
        {
            bool covered = matrix || _decayAll;
            return AdamW.Update(theta, grad, state0, state1, in _h, covered && _decays, covered && _penalized, measure);
        }
    }

    private readonly record struct Hyper<T>(T Beta1, T OneMinusBeta1, T Beta2, T OneMinusBeta2, T StepSize, T SqrtBiasCorrection2, T Epsilon, T Decay, T GradientScale, T L2);

    /// <summary>The update of one block; with <paramref name="measure"/>, also Σ g² of the raw gradients exactly as
    /// <see cref="UpdateBlocks.SumOfSquares{T}"/> sums them (same lanes, same order), else 0.</summary>
    private static double Update<T>(Span<T> theta, ReadOnlySpan<T> grad, Span<T> m, Span<T> v, in Hyper<T> h, bool decays, bool penalized, bool measure)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        double sum = 0;
        ref T pr = ref MemoryMarshal.GetReference(theta);
        ref T gr = ref MemoryMarshal.GetReference(grad);
        ref T mr = ref MemoryMarshal.GetReference(m);
        ref T vr = ref MemoryMarshal.GetReference(v);
        nuint n = (nuint)theta.Length;
        nuint i = 0;
        if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported)
        {
            nuint width = (nuint)Vector256<T>.Count;
            Vector256<T> b1 = Vector256.Create(h.Beta1), c1 = Vector256.Create(h.OneMinusBeta1);
            Vector256<T> b2 = Vector256.Create(h.Beta2), c2 = Vector256.Create(h.OneMinusBeta2);
            Vector256<T> stepSize = Vector256.Create(h.StepSize), sqrtBc2 = Vector256.Create(h.SqrtBiasCorrection2);
            Vector256<T> eps = Vector256.Create(h.Epsilon), decay = Vector256.Create(h.Decay);
            Vector256<T> scale = Vector256.Create(h.GradientScale), l2 = Vector256.Create(h.L2);
            Vector256<double> acc0 = Vector256<double>.Zero, acc1 = Vector256<double>.Zero;
            for (; i + width <= n; i += width)
            {
                Vector256<T> raw = Vector256.LoadUnsafe(ref gr, i);
                if (measure)
                {
                    if (typeof(T) == typeof(float))
                    {
                        (Vector256<double> lo, Vector256<double> hi) = Vector256.Widen(raw.AsSingle());
                        acc0 = Vector256.FusedMultiplyAdd(lo, lo, acc0);
                        acc1 = Vector256.FusedMultiplyAdd(hi, hi, acc1);
                    }
                    else
                    {
                        Vector256<double> d = raw.AsDouble();
                        acc0 = Vector256.FusedMultiplyAdd(d, d, acc0);
                    }
                }

                Vector256<T> g = raw * scale;
                Vector256<T> p = Vector256.LoadUnsafe(ref pr, i);
                if (penalized)
                {
                    g += l2 * p;
                }

                Vector256<T> mi = (b1 * Vector256.LoadUnsafe(ref mr, i)) + (c1 * g);
                Vector256<T> vi = (b2 * Vector256.LoadUnsafe(ref vr, i)) + (c2 * (g * g));
                mi.StoreUnsafe(ref mr, i);
                vi.StoreUnsafe(ref vr, i);
                if (decays)
                {
                    p *= decay;
                }

                Vector256<T> denominator = (Vector256.Sqrt(vi) / sqrtBc2) + eps;
                (p - (stepSize * (mi / denominator))).StoreUnsafe(ref pr, i);
            }

            sum = Vector256.Sum(acc0 + acc1);
        }

        for (; i < n; i++)
        {
            if (measure)
            {
                double d = double.CreateTruncating(Unsafe.Add(ref gr, i));
                sum += d * d;
            }

            T g = Unsafe.Add(ref gr, i) * h.GradientScale;
            T p = Unsafe.Add(ref pr, i);
            if (penalized)
            {
                g += h.L2 * p;
            }

            T mi = (h.Beta1 * Unsafe.Add(ref mr, i)) + (h.OneMinusBeta1 * g);
            T vi = (h.Beta2 * Unsafe.Add(ref vr, i)) + (h.OneMinusBeta2 * (g * g));
            Unsafe.Add(ref mr, i) = mi;
            Unsafe.Add(ref vr, i) = vi;
            if (decays)
            {
                p *= h.Decay;
            }

            T denominator = (T.Sqrt(vi) / h.SqrtBiasCorrection2) + h.Epsilon;
            Unsafe.Add(ref pr, i) = p - (h.StepSize * (mi / denominator));
        }

        return measure ? sum : 0;
    }
}
