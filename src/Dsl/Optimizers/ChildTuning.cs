using System;
using System.Collections.Generic;
using System.Globalization;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Dsl.Optimizers;

/// <summary>
/// ChildTuning (Xu et al., EMNLP 2021): an optimizer wrapper that updates only a "child network",
/// masking the gradient g ← g ⊙ M / p before the inner optimizer sees it. The two variants differ
/// in M: <see cref="ChildTuningF"/> draws a fresh Bernoulli(p) mask each step, <see cref="ChildTuningD"/>
/// fixes the top-p fraction by Fisher information.
/// </summary>
/// <remarks>
/// The wrapper owns <see cref="Optimizer.LearningRate"/> and <see cref="Optimizer.MaxGradientNorm"/>
/// (a schedule sets them on the wrapper) and copies them to <see cref="Inner"/> before each step, so
/// clipping applies to the masked gradient; <see cref="Optimizer.LastGradientNorm"/> is the norm of
/// the masked gradient. Its state is the inner optimizer's slots first, then its own.
/// Under SGD the mask keeps the gradient's mean and adds variance; under Adam-like optimizers it
/// acts mostly as a learning rate scaled by about √p (Su's analysis, see docs/guide.md).
/// </remarks>
public abstract class ChildTuning : Optimizer
{
    private protected ChildTuning(Optimizer inner, double p)
    {
        ArgumentNullException.ThrowIfNull(inner);
        if (!(p > 0 && p <= 1))
        {
            throw new ArgumentException($"p must be in (0, 1], was {p.ToString("R", System.Globalization.CultureInfo.InvariantCulture)}.", nameof(p));
        }

        Inner = inner;
        P = p;
        LearningRate = inner.LearningRate;
        MaxGradientNorm = inner.MaxGradientNorm;
    }

    /// <summary>The optimizer that applies the masked gradients.</summary>
    public Optimizer Inner { get; }

    /// <summary>The fraction of gradient entries kept, in (0, 1].</summary>
    public double P { get; }

    /// <inheritdoc />
    public override string Describe() => $"{GetType().Name}({Inner.Describe()})";

    /// <summary>The inner optimizer's slot names, then this wrapper's (<see cref="OwnSlotName"/>).</summary>
    public override string? StateSlotName(int slot)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(slot);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(slot, StateSlots);
        return slot < Inner.StateSlots ? Inner.StateSlotName(slot) : OwnSlotName(slot - Inner.StateSlots);
    }

    /// <summary>The name of this wrapper's own slot <paramref name="slot"/> (0-based after the inner ones), null for scratch.</summary>
    private protected abstract string? OwnSlotName(int slot);

    /// <summary>This wrapper's entries, then the inner optimizer's under "inner.".</summary>
    public override void SaveState(IDictionary<string, string> metadata, string prefix)
    {
        base.SaveState(metadata, prefix);
        Inner.SaveState(metadata, prefix + "inner.");
    }

    /// <inheritdoc />
    protected internal override void ValidateState(IReadOnlyDictionary<string, string> metadata, string prefix, string path)
    {
        base.ValidateState(metadata, prefix, path);
        Inner.ValidateState(metadata, prefix + "inner.", path);
    }

    /// <inheritdoc />
    protected internal override void ApplyState(IReadOnlyDictionary<string, string> metadata, string prefix)
    {
        base.ApplyState(metadata, prefix);
        Inner.ApplyState(metadata, prefix + "inner.");
    }

    /// <summary>Hands the masked gradients to <see cref="Inner"/> with this wrapper's settings.</summary>
    private protected void StepInner<T>(Span<T> parameters, ReadOnlySpan<T> masked, Span<T> state, ReadOnlySpan<ParameterTensor> tensors)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Inner.LearningRate = LearningRate;
        Inner.MaxGradientNorm = MaxGradientNorm;
        Inner.Step<T>(parameters, masked, state.Slice(0, Inner.StateSlots * parameters.Length), tensors);
        LastGradientNorm = Inner.LastGradientNorm;
    }
}

/// <summary>
/// ChildTuning-F (task-free): each step keeps every gradient entry with probability p and
/// rescales the kept ones by 1/p, g ← g ⊙ M / p with M ~ Bernoulli(p) drawn afresh, then steps
/// <see cref="ChildTuning.Inner"/>. For example <c>new ChildTuningF(new AdamW(2e-5), p: 0.3, seed: 1)</c>.
/// </summary>
/// <remarks>
/// The mask is the counter-based draw the dropout kernel uses (<see cref="Runtime.SeededRandom.Uniform"/>
/// with stream = the step number and index = the position in the gradient region), keeping an
/// entry when u &lt; p: reproducible from (seed, step), nothing allocated.
/// A kept entry is exactly g·T(1/p). State: the inner optimizer's slots, then one slot of
/// masked-gradient scratch.
/// </remarks>
public sealed class ChildTuningF : ChildTuning
{
    /// <summary>Wraps <paramref name="inner"/>, keeping each gradient entry with probability <paramref name="p"/>.</summary>
    /// <exception cref="ArgumentNullException">inner is null.</exception>
    /// <exception cref="ArgumentException">p is not in (0, 1].</exception>
    public ChildTuningF(Optimizer inner, double p, ulong seed)
        : base(inner, p)
    {
        Seed = seed;
    }

    /// <summary>Seed of the masks.</summary>
    public ulong Seed { get; }

    /// <summary>The one own slot is masked-gradient scratch: not checkpointed.</summary>
    private protected override string? OwnSlotName(int slot) => null;

    /// <inheritdoc />
    public override int StateSlots => Inner.StateSlots + 1;

    /// <summary>Draws this step's mask, writes g ⊙ M / p to the scratch slot and steps the inner optimizer on it. Allocates nothing.</summary>
    /// <exception cref="ArgumentException">The regions disagree in length, a tensor lies outside the
    /// parameters, or <see cref="Optimizer.LearningRate"/> is negative or not finite.</exception>
    public override void Step<T>(Span<T> parameters, ReadOnlySpan<T> gradients, Span<T> state, ReadOnlySpan<ParameterTensor> tensors)
    {
        ValidateStep<T>(parameters, gradients, state, tensors);
        int count = parameters.Length;
        Span<T> masked = state.Slice(Inner.StateSlots * count, count);
        Draw(gradients, masked, P, Seed, (ulong)Steps);
        StepInner<T>(parameters, masked, state, tensors);
        Steps++;
    }

    private static void Draw<T>(ReadOnlySpan<T> gradients, Span<T> masked, double p, ulong seed, ulong stream) where T : unmanaged, IFloatingPointIeee754<T>
    {
        // u = (bits >> 11)·2⁻⁵³ < p  ⇔  (bits >> 11) < p·2⁵³  ⇔  (bits >> 11) < ⌈p·2⁵³⌉, p·2⁵³ being exact.
        ulong threshold = (ulong)Math.Ceiling(p * (1UL << 53));
        ulong key = Runtime.SeededRandom.StreamKey(seed, stream);
        T scale = T.CreateTruncating(1.0 / p);
        for (int i = 0; i < gradients.Length; i++)
        {
            bool keep = (Runtime.SeededRandom.CounterBits(key, (ulong)i) >> 11) < threshold;
            masked[i] = keep ? gradients[i] * scale : T.Zero;
        }
    }
}

/// <summary>
/// ChildTuning-D (task-driven): the first <see cref="FisherSteps"/> steps only accumulate the
/// empirical Fisher information F = Σ g² per parameter (the parameters do not move); then the
/// top-p fraction of the entries of all tensors by F is fixed as the mask M, and every later step
/// hands g ⊙ M / p to <see cref="ChildTuning.Inner"/>.
/// </summary>
/// <remarks>
/// The paper's Fisher pass sums the squared per-example gradients of log p(y|x); the batch
/// gradients a training step sees are the usual cheap stand-in (Σ over batches of g²), as the
/// public implementations do. The mask keeps exactly K = max(1, round(p·N)) of the N entries
/// covered by the tensors: those with the largest F, ties broken by position (lower offset
/// first); it is found by bisection on the values' bits, with no sort and no allocation.
/// A kept entry is exactly g·T(1/p). State: the inner optimizer's slots, then F (later the 0/1
/// mask), then masked-gradient scratch.
/// </remarks>
public sealed class ChildTuningD : ChildTuning
{
    /// <summary>Wraps <paramref name="inner"/>: the first <paramref name="fisherSteps"/> steps
    /// measure the Fisher information, then the top <paramref name="p"/> fraction is trained.</summary>
    /// <exception cref="ArgumentNullException">inner is null.</exception>
    /// <exception cref="ArgumentException">p is not in (0, 1] or fisherSteps is not positive.</exception>
    public ChildTuningD(Optimizer inner, double p, int fisherSteps)
        : base(inner, p)
    {
        if (fisherSteps <= 0)
        {
            throw new ArgumentException($"fisherSteps must be positive, was {fisherSteps}.", nameof(fisherSteps));
        }

        FisherSteps = fisherSteps;
    }

    /// <summary>Number of initial steps that accumulate the Fisher information instead of updating.</summary>
    public int FisherSteps { get; }

    /// <summary>Whether the Fisher pass is over and the mask fixed.</summary>
    public bool IsMaskFixed => Steps >= FisherSteps;

    /// <summary>Number of entries the fixed mask keeps (0 before it is fixed).</summary>
    public long KeptCount { get; private set; }

    /// <summary>Slot 0 is F (the mask once fixed), checkpointed as "fisher"; slot 1 is scratch.</summary>
    private protected override string? OwnSlotName(int slot) => slot == 0 ? "fisher" : null;

    /// <summary>Adds <see cref="KeptCount"/> to the wrapper's entries.</summary>
    public override void SaveState(IDictionary<string, string> metadata, string prefix)
    {
        base.SaveState(metadata, prefix);
        metadata[prefix + "kept"] = KeptCount.ToString(CultureInfo.InvariantCulture);
    }

    /// <inheritdoc />
    protected internal override void ValidateState(IReadOnlyDictionary<string, string> metadata, string prefix, string path)
    {
        base.ValidateState(metadata, prefix, path);
        long kept = ParseInt64(metadata, prefix + "kept", path);
        if (kept < 0)
            throw new Dsl.IO.InvalidDataException(path, $"metadata '{prefix}kept' is {kept}, negative");
    }

    /// <inheritdoc />
    protected internal override void ApplyState(IReadOnlyDictionary<string, string> metadata, string prefix)
    {
        base.ApplyState(metadata, prefix);
        KeptCount = long.Parse(metadata[prefix + "kept"], NumberStyles.Integer, CultureInfo.InvariantCulture);
    }

    /// <inheritdoc />
    public override int StateSlots => Inner.StateSlots + 2;

    /// <summary>
    /// During the Fisher pass: F += g² (parameters unchanged) and, on its last step, fixes the mask.
    /// After: writes g ⊙ M / p to the scratch slot and steps the inner optimizer on it. Allocates nothing.
    /// </summary>
    /// <exception cref="ArgumentException">The regions disagree in length, a tensor lies outside the
    /// parameters, or <see cref="Optimizer.LearningRate"/> is negative or not finite.</exception>
    public override void Step<T>(Span<T> parameters, ReadOnlySpan<T> gradients, Span<T> state, ReadOnlySpan<ParameterTensor> tensors)
    {
        ValidateStep<T>(parameters, gradients, state, tensors);
        int count = parameters.Length;
        Span<T> fisher = state.Slice(Inner.StateSlots * count, count);
        if (!IsMaskFixed)
        {
            foreach (ParameterTensor tensor in tensors)
            {
                AccumulateSquares(gradients.Slice(tensor.Offset, tensor.Length), fisher.Slice(tensor.Offset, tensor.Length));
            }

            LastGradientNorm = GlobalNorm(gradients, tensors);
            Inner.Prepare<T>(tensors); // the inner optimizer's first step comes later, in a warm loop
            Steps++;
            if (IsMaskFixed)
            {
                FixMask(fisher, tensors);
            }

            return;
        }

        Span<T> masked = state.Slice((Inner.StateSlots + 1) * count, count);
        T scale = T.CreateTruncating(1.0 / P);
        foreach (ParameterTensor tensor in tensors)
        {
            Mask(gradients.Slice(tensor.Offset, tensor.Length), fisher.Slice(tensor.Offset, tensor.Length), masked.Slice(tensor.Offset, tensor.Length), scale);
        }

        StepInner<T>(parameters, masked, state, tensors);
        Steps++;
    }

    /// <summary>Replaces F by the 0/1 mask of its K largest entries (class remarks).</summary>
    private void FixMask<T>(Span<T> fisher, ReadOnlySpan<ParameterTensor> tensors) where T : unmanaged, IFloatingPointIeee754<T>
    {
        long total = 0;
        foreach (ParameterTensor tensor in tensors)
        {
            total += tensor.Length;
        }

        long keep = total == 0 ? 0 : Math.Max(1, (long)Math.Round(P * total));

        // F ≥ 0, so ordering the values is ordering their double bit patterns as integers (NaN,
        // from a blown-up gradient, sorts above +∞). Find the largest pattern t with
        // count(bits ≥ t) ≥ keep: every entry above t is kept, then entries equal to t by position.
        ulong lo = 0, hi = 0x7FF8_0000_0000_0000UL;
        while (lo < hi)
        {
            ulong mid = lo + ((hi - lo + 1) / 2);
            if (CountAtLeast(fisher, tensors, mid) >= keep)
            {
                lo = mid;
            }
            else
            {
                hi = mid - 1;
            }
        }

        long ties = keep - CountAtLeast(fisher, tensors, lo + 1);
        foreach (ParameterTensor tensor in tensors)
        {
            Span<T> f = fisher.Slice(tensor.Offset, tensor.Length);
            for (int i = 0; i < f.Length; i++)
            {
                ulong bits = Bits(f[i]);
                bool kept = bits > lo || (bits == lo && ties-- > 0);
                f[i] = kept ? T.One : T.Zero;
            }
        }

        KeptCount = keep;
    }

    private static ulong Bits<T>(T value) where T : unmanaged, IFloatingPointIeee754<T>
    {
        double d = double.CreateTruncating(value);
        return double.IsNaN(d) ? 0x7FF8_0000_0000_0000UL : (ulong)BitConverter.DoubleToInt64Bits(Math.Abs(d));
    }

    private static long CountAtLeast<T>(ReadOnlySpan<T> fisher, ReadOnlySpan<ParameterTensor> tensors, ulong threshold) where T : unmanaged, IFloatingPointIeee754<T>
    {
        long count = 0;
        foreach (ParameterTensor tensor in tensors)
        {
            foreach (T value in fisher.Slice(tensor.Offset, tensor.Length))
            {
                count += Bits(value) >= threshold ? 1 : 0;
            }
        }

        return count;
    }

    private static void AccumulateSquares<T>(ReadOnlySpan<T> g, Span<T> f) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ref T gr = ref MemoryMarshal.GetReference(g);
        ref T fr = ref MemoryMarshal.GetReference(f);
        nuint n = (nuint)g.Length, i = 0;
        if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported)
        {
            for (; i + (nuint)Vector256<T>.Count <= n; i += (nuint)Vector256<T>.Count)
            {
                Vector256<T> gv = Vector256.LoadUnsafe(ref gr, i);
                (Vector256.LoadUnsafe(ref fr, i) + (gv * gv)).StoreUnsafe(ref fr, i);
            }
        }

        for (; i < n; i++)
        {
            T gi = Unsafe.Add(ref gr, i);
            Unsafe.Add(ref fr, i) += gi * gi;
        }
    }

    private static void Mask<T>(ReadOnlySpan<T> g, ReadOnlySpan<T> mask, Span<T> masked, T scale) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ref T gr = ref MemoryMarshal.GetReference(g);
        ref T mr = ref MemoryMarshal.GetReference(mask);
        ref T or = ref MemoryMarshal.GetReference(masked);
        nuint n = (nuint)g.Length, i = 0;
        if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported)
        {
            Vector256<T> sv = Vector256.Create(scale);
            for (; i + (nuint)Vector256<T>.Count <= n; i += (nuint)Vector256<T>.Count)
            {
                // The mask is exactly 0 or 1: select rather than multiply, so a dropped ∞ gives 0, not NaN.
                Vector256<T> keep = Vector256.Equals(Vector256.LoadUnsafe(ref mr, i), Vector256<T>.One);
                ((Vector256.LoadUnsafe(ref gr, i) * sv) & keep).StoreUnsafe(ref or, i);
            }
        }

        for (; i < n; i++)
        {
            Unsafe.Add(ref or, i) = Unsafe.Add(ref mr, i) == T.One ? Unsafe.Add(ref gr, i) * scale : T.Zero;
        }
    }
}
