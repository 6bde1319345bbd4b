using System;
using System.Numerics;
using System.Runtime.Intrinsics;
using Dsl.Runtime;

namespace Dsl.Kernels;

/// <summary>
/// Linear attention (Katharopoulos et al. 2020): o_i = φ(q_i)ᵀ S_i / φ(q_i)ᵀ z_i with φ = elu + 1 &gt; 0,
/// S_i = Σ_{j∈A(i)} φ(k_j) v_jᵀ (dk × dv) and z_i = Σ_{j∈A(i)} φ(k_j); A(i) = {j ≤ i} when causal
/// (running sums, the RNN form), every position otherwise (one Kᵀ V per sequence). Cost O(T·dk·dv)
/// per head instead of O(T²).
/// </summary>
/// <remarks>
/// <para>
/// <see cref="AttentionOptions.Window"/>, <see cref="AttentionOptions.ScaleMode"/> and
/// <see cref="AttentionOptions.Scale"/> are ignored: there is no score matrix to mask or scale
/// (a scale on q·k would cancel between numerator and denominator only for φ = identity).
/// The layout of q, k, v and the output is that of <see cref="Attention"/>. The statistics saved for
/// the backward are the denominators den_i = φ(q_i)ᵀ z_i, [batch, H, T]; they are positive, so no
/// row divides by zero.
/// </para>
/// <para>
/// Work is split over (batch, head) pairs through <see cref="WorkerPool.Shared"/>; the dk × dv
/// states live in per-thread scratch, allocated once.
/// </para>
/// </remarks>
public static unsafe class LinearAttention
{
    /// <summary>Computes o_i = φ(q_i)ᵀ S_i / φ(q_i)ᵀ z_i for every batch element, head and row.</summary>
    /// <param name="options">Heads, sizes, sequence and causality (window and scale ignored).</param>
    /// <param name="batch">Number of sequences.</param>
    /// <param name="q">Queries.</param>
    /// <param name="k">Keys.</param>
    /// <param name="v">Values.</param>
    /// <param name="qkvStride">Row stride of q, k and v.</param>
    /// <param name="output">Output, written.</param>
    /// <param name="outStride">Row stride of the output.</param>
    /// <param name="stats">The denominators φ(q_i)ᵀ z_i, [batch, H, T], needed by <see cref="Backward"/>.</param>
    /// <exception cref="ArgumentException">An option is out of range, a stride is smaller than its row, or a span is too short.</exception>
    public static void Forward<T>(
        in AttentionOptions options, int batch, ReadOnlySpan<T> q, ReadOnlySpan<T> k, ReadOnlySpan<T> v, int qkvStride,
        Span<T> output, int outStride, Span<T> stats)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        AttentionChecks.Common(options, batch, q, k, v, qkvStride, output.Length, outStride, stats.Length, nameof(stats));
        if (batch == 0)
        {
            return;
        }

        Job<T> job = AttentionJob<T>.Rent<Job<T>>();
        fixed (T* pq = q, pk = k, pv = v, po = output, ps = stats)
        {
            job.Set(options, pq, pk, pv, qkvStride, po, null, outStride, ps, null, null, null, 0);
            job.Dispatch(batch, perHead: true, MultiplyAdds(options, batch));
        }

        AttentionJob<T>.Return(job);
    }

    /// <summary>
    /// Gradients of <see cref="Forward"/>, overwriting dq, dk and dv. With dnum_i = dO_i / den_i and
    /// dden_i = −(dO_i·o_i)/den_i: dφ(q_i) = S_i dnum_i + z_i dden_i; with the suffix sums
    /// G_j = Σ_{i: j∈A(i)} φ(q_i) dnum_iᵀ and γ_j = Σ_{i: j∈A(i)} φ(q_i) dden_i:
    /// dφ(k_j) = G_j v_j + γ_j and dv_j = G_jᵀ φ(k_j); finally dx = dφ(x) · φ'(x), φ'(x) = 1 for x &gt; 0, eˣ otherwise.
    /// </summary>
    /// <param name="options">The options of the forward call.</param>
    /// <param name="batch">Number of sequences.</param>
    /// <param name="q">Queries of the forward.</param>
    /// <param name="k">Keys of the forward.</param>
    /// <param name="v">Values of the forward.</param>
    /// <param name="qkvStride">Row stride of q, k and v.</param>
    /// <param name="output">Output of the forward.</param>
    /// <param name="dOutput">dL/dO.</param>
    /// <param name="outStride">Row stride of output and dOutput.</param>
    /// <param name="stats">The forward's denominators.</param>
    /// <param name="dq">dL/dq, written.</param>
    /// <param name="dk">dL/dk, written.</param>
    /// <param name="dv">dL/dv, written.</param>
    /// <param name="gradStride">Row stride of dq, dk and dv.</param>
    /// <exception cref="ArgumentException">An option is out of range, a stride is smaller than its row, or a span is too short.</exception>
    public static void Backward<T>(
        in AttentionOptions options, int batch, ReadOnlySpan<T> q, ReadOnlySpan<T> k, ReadOnlySpan<T> v, int qkvStride,
        ReadOnlySpan<T> output, ReadOnlySpan<T> dOutput, int outStride, ReadOnlySpan<T> stats,
        Span<T> dq, Span<T> dk, Span<T> dv, int gradStride)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        AttentionChecks.Common(options, batch, q, k, v, qkvStride, output.Length, outStride, stats.Length, nameof(stats));
        AttentionChecks.Strided(nameof(dOutput), dOutput.Length, batch * options.Sequence, outStride, options.Heads * options.ValueSize, nameof(outStride));
        AttentionChecks.Gradients(options, batch, dq.Length, dk.Length, dv.Length, gradStride);
        if (batch == 0)
        {
            return;
        }

        Job<T> job = AttentionJob<T>.Rent<Job<T>>();
        fixed (T* pq = q, pk = k, pv = v, po = output, pdo = dOutput, ps = stats, pdq = dq, pdk = dk, pdv = dv)
        {
            job.Set(options, pq, pk, pv, qkvStride, po, pdo, outStride, ps, pdq, pdk, pdv, gradStride);
            job.Dispatch(batch, perHead: true, 3 * MultiplyAdds(options, batch));
        }

        AttentionJob<T>.Return(job);
    }

    private static long MultiplyAdds(in AttentionOptions o, int batch)
        => (long)batch * o.Heads * o.Sequence * o.KeySize * o.ValueSize * 2;

    /// <summary>φ(x) = elu(x) + 1 elementwise: x + 1 for x &gt; 0, eˣ otherwise.</summary>
    private static void Phi<T>(T* x, T* y, int n)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated && (typeof(T) == typeof(float) || typeof(T) == typeof(double)))
        {
            int w = Vector256<T>.Count;
            for (; i + w <= n; i += w)
            {
                Vector256<T> xv = Vector256.Load(x + i);
                Vector256<T> positive = Vector256.GreaterThan(xv, Vector256<T>.Zero);
                Vector256<T> e = SimdMath.Exp(Vector256.Min(xv, Vector256<T>.Zero));
                Vector256.ConditionalSelect(positive, xv + Vector256<T>.One, e).Store(y + i);
            }
        }

        for (; i < n; i++)
        {
            T xi = x[i];
            y[i] = xi > T.Zero ? xi + T.One : T.Exp(xi);
        }
    }

    /// <summary>y[i] *= φ'(x[i]), with φ'(x) = 1 for x &gt; 0 and eˣ otherwise.</summary>
    private static void ScaleByPhiDerivative<T>(T* x, T* y, int n)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated && (typeof(T) == typeof(float) || typeof(T) == typeof(double)))
        {
            int w = Vector256<T>.Count;
            for (; i + w <= n; i += w)
            {
                Vector256<T> xv = Vector256.Load(x + i);
                Vector256<T> derivative = Vector256.ConditionalSelect(
                    Vector256.GreaterThan(xv, Vector256<T>.Zero), Vector256<T>.One, SimdMath.Exp(Vector256.Min(xv, Vector256<T>.Zero)));
                (Vector256.Load(y + i) * derivative).Store(y + i);
            }
        }

        for (; i < n; i++)
        {
            T xi = x[i];
            y[i] *= xi > T.Zero ? T.One : T.Exp(xi);
        }
    }

    /// <summary>S += φ(k) vᵀ and z += φ(k), with φ(k) already in <paramref name="phiK"/>.</summary>
    private static void AddOuter<T>(T* phiK, T* v, int dk, int dv, T* state, T* z)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        AttentionMath.AddScaledRows(phiK, dk, v, dv, state, dv);
        for (int c = 0; c < dk; c++)
        {
            z[c] += phiK[c];
        }
    }

    private static void ForwardPart<T>(Job<T> job, in AttentionSlice<T> part)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        AttentionOptions o = job.Options;
        int dk = o.KeySize, dv = o.ValueSize, seq = o.Sequence;
        nint stride = job.QkvStride, outStride = job.OutStride;
        T* q = part.Q, k = part.K, v = part.V, output = part.Output, stats = part.Stats;

        // Scratch: S [dk, dv], z [dk], φ(q_i) and φ(k_j) [dk each].
        T[] scratch = AttentionScratch<T>.Rent((dk * dv) + (3 * dk));
        fixed (T* sp = scratch)
        {
            T* state = sp;
            T* z = state + (dk * dv);
            T* phiQ = z + dk;
            T* phiK = phiQ + dk;
            new Span<T>(state, (dk * dv) + dk).Clear();
            if (!o.Causal)
            {
                for (int j = 0; j < seq; j++)
                {
                    Phi(k + (j * stride), phiK, dk);
                    AddOuter(phiK, v + (j * stride), dk, dv, state, z);
                }
            }

            for (int i = 0; i < seq; i++)
            {
                if (o.Causal)
                {
                    Phi(k + (i * stride), phiK, dk);
                    AddOuter(phiK, v + (i * stride), dk, dv, state, z);
                }

                T* oi = output + (i * outStride);
                Phi(q + (i * stride), phiQ, dk);
                AttentionMath.RowTimesMatrix(phiQ, dk, state, dv, oi, dv, false);
                T denominator = AttentionMath.Dot(phiQ, z, dk);
                AttentionMath.Scale(oi, T.One / denominator, oi, dv);
                stats[i] = denominator;
            }
        }
    }

    private static void BackwardPart<T>(Job<T> job, in AttentionSlice<T> part)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        AttentionOptions o = job.Options;
        int dk = o.KeySize, dv = o.ValueSize, seq = o.Sequence;
        nint stride = job.QkvStride, outStride = job.OutStride, gradStride = job.GradStride;
        T* q = part.Q, k = part.K, v = part.V, output = part.Output, dOutput = part.DOutput, stats = part.Stats;
        T* dq = part.DQ, dkp = part.DK, dvp = part.DV;

        // Scratch: Sᵀ [dv, dk] then G [dk, dv]; z then γ [dk]; Gᵀ [dv, dk]; φ(q_i), φ(k_j) [dk]; dnum_i [dv].
        // The transposes make every matrix-vector product a row-times-matrix (no horizontal sums).
        int stateSize = dk * dv;
        T[] scratch = AttentionScratch<T>.Rent((2 * stateSize) + (3 * dk) + dv);
        fixed (T* sp = scratch)
        {
            T* state = sp;
            T* z = state + stateSize;
            T* transposed = z + dk;
            T* phiQ = transposed + stateSize;
            T* phiK = phiQ + dk;
            T* dnum = phiK + dk;

            // Pass 1, queries: dφ(q_i) = S_i dnum_i + z_i dden_i with the same (prefix or total) S, z
            // as the forward, kept as Sᵀ (Sᵀ += v_j φ(k_j)ᵀ).
            new Span<T>(state, stateSize + dk).Clear();
            for (int j = 0; j < (o.Causal ? 0 : seq); j++)
            {
                AddKeyTransposed(k + (j * stride), v + (j * stride), dk, dv, phiK, state, z);
            }

            for (int i = 0; i < seq; i++)
            {
                if (o.Causal)
                {
                    AddKeyTransposed(k + (i * stride), v + (i * stride), dk, dv, phiK, state, z);
                }

                T dden = QueryGradients(dOutput + (i * outStride), output + (i * outStride), stats[i], dnum, dv);
                T* qi = q + (i * stride);
                T* dqi = dq + (i * gradStride);
                AttentionMath.RowTimesMatrix(dnum, dv, state, dk, dqi, dk, false);
                AttentionMath.Axpy(dden, z, dqi, dk);
                ScaleByPhiDerivative(qi, dqi, dk);
            }

            // Pass 2, keys, from the last row back: G and γ sum φ(q_i) dnum_iᵀ and φ(q_i) dden_i over
            // the queries that see key j (i ≥ j when causal, all i otherwise); G is kept both ways.
            new Span<T>(state, (2 * stateSize) + dk).Clear();
            for (int i = 0; i < (o.Causal ? 0 : seq); i++)
            {
                AddQuery(q + (i * stride), dOutput + (i * outStride), output + (i * outStride), stats[i], dk, dv, phiQ, dnum, state, transposed, z);
            }

            for (int j = seq - 1; j >= 0; j--)
            {
                if (o.Causal)
                {
                    AddQuery(q + (j * stride), dOutput + (j * outStride), output + (j * outStride), stats[j], dk, dv, phiQ, dnum, state, transposed, z);
                }

                T* kj = k + (j * stride);
                T* dkj = dkp + (j * gradStride);
                Phi(kj, phiK, dk);
                AttentionMath.RowTimesMatrix(v + (j * stride), dv, transposed, dk, dkj, dk, false);
                AttentionMath.Axpy(T.One, z, dkj, dk);
                ScaleByPhiDerivative(kj, dkj, dk);

                AttentionMath.RowTimesMatrix(phiK, dk, state, dv, dvp + (j * gradStride), dv, false);
            }
        }
    }

    /// <summary>Sᵀ += v φ(k)ᵀ and z += φ(k).</summary>
    private static void AddKeyTransposed<T>(T* k, T* v, int dk, int dv, T* phiK, T* stateT, T* z)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Phi(k, phiK, dk);
        AttentionMath.AddScaledRows(v, dv, phiK, dk, stateT, dk);
        for (int c = 0; c < dk; c++)
        {
            z[c] += phiK[c];
        }
    }

    /// <summary>G += φ(q) dnumᵀ, Gᵀ += dnum φ(q)ᵀ and γ += φ(q) dden for one query row.</summary>
    private static void AddQuery<T>(T* q, T* dOutput, T* output, T denominator, int dk, int dv, T* phiQ, T* dnum, T* g, T* gT, T* gamma)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        T dden = QueryGradients(dOutput, output, denominator, dnum, dv);
        Phi(q, phiQ, dk);
        AttentionMath.AddScaledRows(phiQ, dk, dnum, dv, g, dv);
        AttentionMath.AddScaledRows(dnum, dv, phiQ, dk, gT, dk);
        for (int c = 0; c < dk; c++)
        {
            gamma[c] = T.FusedMultiplyAdd(phiQ[c], dden, gamma[c]);
        }
    }

    /// <summary>dnum = dO_i / den_i (into <paramref name="dnum"/>); returns dden_i = −(dO_i·o_i) / den_i.</summary>
    private static T QueryGradients<T>(T* dOutput, T* output, T denominator, T* dnum, int dv)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        T inverse = T.One / denominator;
        AttentionMath.Scale(dOutput, inverse, dnum, dv);
        return -AttentionMath.Dot(dOutput, output, dv) * inverse;
    }

    /// <summary>The job of a forward or backward call: the shared driver's, one part per (batch, head) pair.</summary>
    private sealed class Job<T> : AttentionJob<T>
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        protected override void Forward(in AttentionSlice<T> part) => ForwardPart(this, part);

        protected override void Backward(in AttentionSlice<T> part) => BackwardPart(this, part);
    }
}
