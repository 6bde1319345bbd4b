using System;
using System.Numerics;
using Dsl.Runtime;

namespace Dsl.Kernels;

/// <summary>
/// Talking-heads attention (Shazeer et al. 2020): the heads' logits are mixed before the softmax and
/// their probabilities after it. Per batch element and query row i, with heads h, g:
/// Ĵ_h = λ_i q_{i,h}·k_{·,h}, J_h = Σ_g pre[h, g] Ĵ_g (masked after mixing), P_h = softmax(J_h),
/// P'_h = Σ_g post[h, g] P_g and O_{i,h} = Σ_j P'_h[j] v_{j,h}. pre and post are H × H, row-major.
/// </summary>
/// <remarks>
/// <para>
/// Layout of q, k, v and the output as in <see cref="Attention"/>; the mask and λ_i are those of
/// <see cref="AttentionOptions"/> (λ is a per-row constant, the same for every head). The statistics
/// saved for the backward are the log-sum-exps L of the mixed logits J, [batch, H, T].
/// </para>
/// <para>
/// Work is split over batch elements through <see cref="WorkerPool.Shared"/>, since the mixes couple
/// all heads. A part walks the query rows and holds, for one row, H rows of raw logits, probabilities
/// and mixed probabilities (per-thread scratch, H × T each): no T × T matrix is formed. The mixing
/// gradients are summed per batch element in a cached buffer and reduced in a fixed order after the
/// parts finish, so the result does not depend on the thread count.
/// </para>
/// </remarks>
public static unsafe class TalkingHeadsAttention
{
    /// <summary>Computes the talking-heads attention output for every batch element, head and row.</summary>
    /// <param name="options">Heads, sizes, sequence, mask and scale.</param>
    /// <param name="batch">Number of sequences.</param>
    /// <param name="q">Queries.</param>
    /// <param name="k">Keys.</param>
    /// <param name="v">Values.</param>
    /// <param name="qkvStride">Row stride of q, k and v.</param>
    /// <param name="preMix">Pre-softmax mixing matrix, H × H row-major: J_h = Σ_g pre[h·H + g] Ĵ_g.</param>
    /// <param name="postMix">Post-softmax mixing matrix, H × H row-major: P'_h = Σ_g post[h·H + g] P_g.</param>
    /// <param name="output">Output, written.</param>
    /// <param name="outStride">Row stride of the output.</param>
    /// <param name="stats">Log-sum-exps of the mixed logits, [batch, H, T], needed by <see cref="Backward"/>.</param>
    /// <exception cref="ArgumentException">An option is out of range, a stride is smaller than its row, or a span is too short.</exception>
    public static void Forward<T>(
        in AttentionOptions options, int batch, ReadOnlySpan<T> q, ReadOnlySpan<T> k, ReadOnlySpan<T> v, int qkvStride,
        ReadOnlySpan<T> preMix, ReadOnlySpan<T> postMix, Span<T> output, int outStride, Span<T> stats)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        AttentionChecks.Common(options, batch, q, k, v, qkvStride, output.Length, outStride, stats.Length, nameof(stats));
        CheckMix(options, preMix.Length, nameof(preMix), postMix.Length, nameof(postMix));
        if (batch == 0)
        {
            return;
        }

        Job<T> job = AttentionJob<T>.Rent<Job<T>>();
        fixed (T* pq = q, pk = k, pv = v, pre = preMix, post = postMix, po = output, ps = stats)
        {
            job.Set(options, pq, pk, pv, qkvStride, po, null, outStride, ps, null, null, null, 0);
            job.PreMix = pre;
            job.PostMix = post;
            job.Dispatch(batch, perHead: false, MultiplyAdds(options, batch));
        }

        AttentionJob<T>.Return(job);
    }

    /// <summary>
    /// Gradients of <see cref="Forward"/>. With dP'_h = dO_h Vᵀ: dV_h = P'_hᵀ dO_h,
    /// dpost[h, g] = ⟨dP'_h, P_g⟩, dP_g = Σ_h post[h, g] dP'_h, dJ_g = P_g ⊙ (dP_g − rowsum(dP_g ⊙ P_g)),
    /// dpre[h, g] = ⟨dJ_h, Ĵ_g⟩, dĴ_g = Σ_h pre[h, g] dJ_h, dq_g = λ dĴ_g K_g and dk_g = λ dĴ_gᵀ Q_g.
    /// </summary>
    /// <param name="options">The options of the forward call.</param>
    /// <param name="batch">Number of sequences.</param>
    /// <param name="q">Queries of the forward.</param>
    /// <param name="k">Keys of the forward.</param>
    /// <param name="v">Values of the forward.</param>
    /// <param name="qkvStride">Row stride of q, k and v.</param>
    /// <param name="preMix">The forward's pre-softmax mix.</param>
    /// <param name="postMix">The forward's post-softmax mix.</param>
    /// <param name="output">Output of the forward.</param>
    /// <param name="dOutput">dL/dO.</param>
    /// <param name="outStride">Row stride of output and dOutput.</param>
    /// <param name="stats">The forward's statistics.</param>
    /// <param name="dq">dL/dq, written.</param>
    /// <param name="dk">dL/dk, written.</param>
    /// <param name="dv">dL/dv, written.</param>
    /// <param name="gradStride">Row stride of dq, dk and dv.</param>
    /// <param name="dPreMix">dL/dpre, H × H: written, or added to when <paramref name="accumulateMix"/>.</param>
    /// <param name="dPostMix">dL/dpost, H × H: written, or added to when <paramref name="accumulateMix"/>.</param>
    /// <param name="accumulateMix">Whether to add the mixing gradients to dPreMix and dPostMix instead of overwriting them.</param>
    /// <exception cref="ArgumentException">An option is out of range, a stride is smaller than its row, or a span is too short.</exception>
    public static void Backward<T>(
        in AttentionOptions options, int batch, ReadOnlySpan<T> q, ReadOnlySpan<T> k, ReadOnlySpan<T> v, int qkvStride,
        ReadOnlySpan<T> preMix, ReadOnlySpan<T> postMix, ReadOnlySpan<T> output, ReadOnlySpan<T> dOutput, int outStride, ReadOnlySpan<T> stats,
        Span<T> dq, Span<T> dk, Span<T> dv, int gradStride, Span<T> dPreMix, Span<T> dPostMix, bool accumulateMix)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        AttentionChecks.Common(options, batch, q, k, v, qkvStride, output.Length, outStride, stats.Length, nameof(stats));
        CheckMix(options, preMix.Length, nameof(preMix), postMix.Length, nameof(postMix));
        AttentionChecks.Strided(nameof(dOutput), dOutput.Length, batch * options.Sequence, outStride, options.Heads * options.ValueSize, nameof(outStride));
        AttentionChecks.Gradients(options, batch, dq.Length, dk.Length, dv.Length, gradStride);
        CheckMix(options, dPreMix.Length, nameof(dPreMix), dPostMix.Length, nameof(dPostMix));
        int mixSize = options.Heads * options.Heads;
        if (batch == 0)
        {
            if (!accumulateMix)
            {
                dPreMix[..mixSize].Clear();
                dPostMix[..mixSize].Clear();
            }

            return;
        }

        Job<T> job = AttentionJob<T>.Rent<Job<T>>();
        int partialLength = batch * 2 * mixSize;
        if (job.Partials.Length < partialLength)
        {
            job.Partials = new T[partialLength];
        }

        fixed (T* pq = q, pk = k, pv = v, pre = preMix, post = postMix, po = output, pdo = dOutput, ps = stats)
        fixed (T* pdq = dq, pdk = dk, pdv = dv, partials = job.Partials)
        {
            job.Set(options, pq, pk, pv, qkvStride, po, pdo, outStride, ps, pdq, pdk, pdv, gradStride);
            job.PreMix = pre;
            job.PostMix = post;
            job.MixPartials = partials;
            job.Dispatch(batch, perHead: false, 2 * MultiplyAdds(options, batch));

            // Batch elements in order, whatever thread computed them: deterministic sums.
            for (int e = 0; e < mixSize; e++)
            {
                T sumPre = accumulateMix ? dPreMix[e] : T.Zero;
                T sumPost = accumulateMix ? dPostMix[e] : T.Zero;
                for (int b = 0; b < batch; b++)
                {
                    sumPre += partials[(b * 2 * mixSize) + e];
                    sumPost += partials[(b * 2 * mixSize) + mixSize + e];
                }

                dPreMix[e] = sumPre;
                dPostMix[e] = sumPost;
            }
        }

        AttentionJob<T>.Return(job);
    }

    private static void CheckMix(in AttentionOptions options, int firstLength, string firstName, int secondLength, string secondName)
    {
        long needed = (long)options.Heads * options.Heads;
        AttentionChecks.Length(firstName, firstLength, needed, "Heads × Heads");
        AttentionChecks.Length(secondName, secondLength, needed, "Heads × Heads");
    }

    private static long MultiplyAdds(in AttentionOptions o, int batch)
        => (long)batch * o.Sequence * o.Sequence * ((o.Heads * (o.KeySize + o.ValueSize)) + (2 * o.Heads * o.Heads)) / (o.Causal ? 2 : 1);

    /// <summary>
    /// Ĵ_h[j − lo] = λ q_{i,h}·k_{j,h} for every head, then J = pre · Ĵ (rows of <paramref name="mixed"/>),
    /// over a padded width whose extra entries of J are masked to −∞. Rows are <paramref name="ld"/> apart.
    /// </summary>
    private static void MixedLogits<T>(
        Job<T> job, T* q, nint stride, int i, int lo, int n, int padded, int ld, T lambda, T* kt, T* raw, T* mixed, T* qs)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        AttentionOptions o = job.Options;
        int heads = o.Heads, dk = o.KeySize;
        for (int h = 0; h < heads; h++)
        {
            AttentionMath.Scale(q + (i * stride) + (h * dk), lambda, qs, dk);
            AttentionMath.RowTimesMatrix(qs, dk, kt + ((nint)h * dk * ld) + lo, ld, raw + (h * ld), padded, false);
        }

        for (int h = 0; h < heads; h++)
        {
            AttentionMath.RowTimesMatrix(job.PreMix + (h * heads), heads, raw, ld, mixed + (h * ld), padded, false);
            AttentionMath.Fill(mixed + (h * ld) + n, padded - n, T.NegativeInfinity);
        }
    }

    private static void ForwardPart<T>(Job<T> job, in AttentionSlice<T> part)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        AttentionOptions o = job.Options;
        int heads = o.Heads, dk = o.KeySize, dv = o.ValueSize, seq = o.Sequence;
        nint stride = job.QkvStride, outStride = job.OutStride;
        T* q = part.Q, k = part.K, v = part.V, output = part.Output, stats = part.Stats;

        // Scratch: Kᵀ per head [H, dk, ld] (zero-padded); raw logits Ĵ, probabilities P, mixed P'
        // [H, ld] each; λ·q.
        int ld = AttentionMath.TransposedStride(seq);
        int rowsLength = heads * ld;
        T[] scratch = AttentionScratch<T>.Rent((heads * dk * ld) + (3 * rowsLength) + dk);
        fixed (T* sp = scratch)
        {
            T* kt = sp;
            T* raw = kt + (heads * dk * ld);
            T* p = raw + rowsLength;
            T* mixedP = p + rowsLength;
            T* qs = mixedP + rowsLength;
            for (int h = 0; h < heads; h++)
            {
                AttentionMath.Transpose(k + (h * dk), stride, seq, dk, kt + ((nint)h * dk * ld), ld);
            }

            for (int i = 0; i < seq; i++)
            {
                AttentionMath.KeyRange(o, i, out int lo, out int hi);
                int n = hi - lo + 1;
                int padded = AttentionMath.Padded(n);
                T lambda = T.CreateTruncating(AttentionMath.Lambda(o, n));
                MixedLogits(job, q, stride, i, lo, n, padded, ld, lambda, kt, raw, p, qs);
                for (int h = 0; h < heads; h++)
                {
                    T* ph = p + (h * ld);
                    T max = AttentionMath.Max(ph, padded);
                    T sum = AttentionMath.ExpShifted(ph, padded, max);
                    AttentionMath.Scale(ph, T.One / sum, ph, padded);
                    stats[(h * seq) + i] = max + T.Log(sum);
                }

                for (int h = 0; h < heads; h++)
                {
                    T* mixed = mixedP + (h * ld);
                    AttentionMath.RowTimesMatrix(job.PostMix + (h * heads), heads, p, ld, mixed, padded, false);
                    AttentionMath.RowTimesMatrix(mixed, n, v + (lo * stride) + (h * dv), stride, output + (i * outStride) + (h * dv), dv, false);
                }
            }
        }
    }

    private static void BackwardPart<T>(Job<T> job, in AttentionSlice<T> part)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        AttentionOptions o = job.Options;
        int heads = o.Heads, dk = o.KeySize, dv = o.ValueSize, seq = o.Sequence;
        int mixSize = heads * heads;
        nint stride = job.QkvStride, outStride = job.OutStride, gradStride = job.GradStride;
        T* q = part.Q, k = part.K, v = part.V, dOutput = part.DOutput, stats = part.Stats;
        T* dq = part.DQ, dkp = part.DK, dvp = part.DV;
        T* dPre = job.MixPartials + ((nint)part.Example * 2 * mixSize);
        T* dPost = dPre + mixSize;

        // Scratch: Kᵀ and Vᵀ per head [H, dk or dv, ld]; Ĵ, P, P', dP' (later dĴ), dP (later dJ)
        // [H, ld] each; λ·q; preᵀ, postᵀ. Padded entries have P = 0, so they drop out of every sum.
        int ld = AttentionMath.TransposedStride(seq);
        int rowsLength = heads * ld;
        T[] scratch = AttentionScratch<T>.Rent((heads * (dk + dv) * ld) + (5 * rowsLength) + dk + (2 * mixSize));
        fixed (T* sp = scratch)
        {
            T* kt = sp;
            T* vt = kt + (heads * dk * ld);
            T* raw = vt + (heads * dv * ld);
            T* p = raw + rowsLength;
            T* mixedP = p + rowsLength;
            T* dMixedP = mixedP + rowsLength;
            T* dP = dMixedP + rowsLength;
            T* qs = dP + rowsLength;
            T* preT = qs + dk;
            T* postT = preT + mixSize;
            for (int h = 0; h < heads; h++)
            {
                AttentionMath.Transpose(k + (h * dk), stride, seq, dk, kt + ((nint)h * dk * ld), ld);
                AttentionMath.Transpose(v + (h * dv), stride, seq, dv, vt + ((nint)h * dv * ld), ld);
            }

            AttentionMath.Transpose(job.PreMix, heads, heads, heads, preT, heads);
            AttentionMath.Transpose(job.PostMix, heads, heads, heads, postT, heads);
            new Span<T>(dPre, 2 * mixSize).Clear();
            AttentionMath.ClearRows(dkp, seq, gradStride, heads * dk);
            AttentionMath.ClearRows(dvp, seq, gradStride, heads * dv);
            for (int i = 0; i < seq; i++)
            {
                AttentionMath.KeyRange(o, i, out int lo, out int hi);
                int n = hi - lo + 1;
                int padded = AttentionMath.Padded(n);
                T lambda = T.CreateTruncating(AttentionMath.Lambda(o, n));
                MixedLogits(job, q, stride, i, lo, n, padded, ld, lambda, kt, raw, p, qs);
                for (int h = 0; h < heads; h++)
                {
                    AttentionMath.ExpShifted(p + (h * ld), padded, stats[(h * seq) + i]);
                }

                // P' = post · P; dP'_h = dO_h Vᵀ; dV_h += P'_hᵀ dO_h.
                for (int h = 0; h < heads; h++)
                {
                    T* mixed = mixedP + (h * ld);
                    T* doh = dOutput + (i * outStride) + (h * dv);
                    AttentionMath.RowTimesMatrix(job.PostMix + (h * heads), heads, p, ld, mixed, padded, false);
                    AttentionMath.RowTimesMatrix(doh, dv, vt + ((nint)h * dv * ld) + lo, ld, dMixedP + (h * ld), padded, false);
                    AttentionMath.AddScaledRows(mixed, n, doh, dv, dvp + (lo * gradStride) + (h * dv), gradStride);
                }

                // dpost[h, g] += ⟨dP'_h, P_g⟩; dP_g = Σ_h post[h, g] dP'_h; dJ_g = P_g ⊙ (dP_g − ⟨dP_g, P_g⟩).
                for (int h = 0; h < heads; h++)
                {
                    for (int g = 0; g < heads; g++)
                    {
                        dPost[(h * heads) + g] += AttentionMath.Dot(dMixedP + (h * ld), p + (g * ld), padded);
                    }
                }

                for (int g = 0; g < heads; g++)
                {
                    T* dPg = dP + (g * ld);
                    T* pg = p + (g * ld);
                    AttentionMath.RowTimesMatrix(postT + (g * heads), heads, dMixedP, ld, dPg, padded, false);
                    AttentionMath.SoftmaxBackward(pg, dPg, AttentionMath.Dot(dPg, pg, padded), T.One, padded);
                }

                // dpre[h, g] += ⟨dJ_h, Ĵ_g⟩; dĴ_g = Σ_h pre[h, g] dJ_h (into dMixedP, free now).
                for (int h = 0; h < heads; h++)
                {
                    for (int g = 0; g < heads; g++)
                    {
                        dPre[(h * heads) + g] += AttentionMath.Dot(dP + (h * ld), raw + (g * ld), padded);
                    }
                }

                // dq_g = λ Σ_j dĴ_g[j] k_j; dk_j += λ dĴ_g[j] q_g.
                for (int g = 0; g < heads; g++)
                {
                    T* dRaw = dMixedP + (g * ld);
                    AttentionMath.RowTimesMatrix(preT + (g * heads), heads, dP, ld, dRaw, padded, false);
                    AttentionMath.Scale(dRaw, lambda, dRaw, padded);
                    AttentionMath.RowTimesMatrix(dRaw, n, k + (lo * stride) + (g * dk), stride, dq + (i * gradStride) + (g * dk), dk, false);
                    AttentionMath.AddScaledRows(dRaw, n, q + (i * stride) + (g * dk), dk, dkp + (lo * gradStride) + (g * dk), gradStride);
                }
            }
        }
    }

    /// <summary>The job of a call: the shared driver's, one part per batch element (the mixes couple the heads), with
    /// the mixing matrices and the mixing-gradient partials.</summary>
    private sealed class Job<T> : AttentionJob<T>
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        internal T* PreMix;
        internal T* PostMix;
        internal T* MixPartials;

        /// <summary>Per batch element: dpre then dpost, H² each (grown, never shrunk).</summary>
        internal T[] Partials = [];

        protected override void Forward(in AttentionSlice<T> part) => ForwardPart(this, part);

        protected override void Backward(in AttentionSlice<T> part) => BackwardPart(this, part);

        protected override void ClearExtra() => PreMix = PostMix = MixPartials = null;
    }
}
