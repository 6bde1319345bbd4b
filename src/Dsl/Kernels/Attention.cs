using System;
using System.Numerics;
using Dsl.Runtime;

namespace Dsl.Kernels;

/// <summary>How the attention logits q·k are scaled before the softmax.</summary>
public enum AttentionScaleMode
{
    /// <summary>logits = <see cref="AttentionOptions.Scale"/> · q·k (usually 1/√dk).</summary>
    Fixed = 0,

    /// <summary>
    /// logits_i = λ_i · q_i·k with λ_i = ln(n_i) / (ln 512 · √dk), where n_i is the number of keys
    /// row i may attend after the causal mask and the window (Su's entropy-invariant scale, equal to
    /// 1/√dk at n = 512). λ_i is a constant of the row: no gradient flows through n_i.
    /// </summary>
    EntropyInvariant = 1,
}

/// <summary>The shape and masking of a multi-head attention call.</summary>
/// <param name="Heads">Number of heads H.</param>
/// <param name="KeySize">Query/key width per head, dk.</param>
/// <param name="ValueSize">Value/output width per head, dv (may differ from dk).</param>
/// <param name="Sequence">Fixed sequence length T: rows = batch·T and row r is position r % T.</param>
/// <param name="Causal">Whether query i may attend only keys j ≤ i.</param>
/// <param name="Window">Local window W (0 = none): causal, key j is allowed iff 0 ≤ i − j &lt; W;
/// non-causal, iff |i − j| &lt; W. The diagonal is always allowed, so no row is fully masked.</param>
/// <param name="ScaleMode">How logits are scaled.</param>
/// <param name="Scale">The logit scale for <see cref="AttentionScaleMode.Fixed"/>; ignored otherwise.</param>
/// <param name="Alibi">ALiBi (Press et al., ICLR 2022): head h's logits get the fixed bias −m_h·|i − j| after the scale,
/// with the paper's slopes m_h (<see cref="Dsl.Contracts.AttentionSlots.AlibiSlope"/>). Softmax attention
/// (<see cref="Attention"/>) only: the talking-heads and linear kernels ignore it (the generator refuses those
/// combinations).</param>
public readonly record struct AttentionOptions(int Heads, int KeySize, int ValueSize, int Sequence, bool Causal, int Window, AttentionScaleMode ScaleMode, double Scale, bool Alibi = false);

/// <summary>
/// Multi-head softmax attention, flash style: O_i = Σ_j softmax_j(λ_i q_i·k_j) v_j over the keys row
/// i may attend, per (batch, head), with the log-sum-exp of every row saved for the backward.
/// </summary>
/// <remarks>
/// <para>
/// Layout: row r (0 ≤ r &lt; batch·T), head h, component c lives at q[r·qkvStride + h·dk + c],
/// k[r·qkvStride + h·dk + c] and v[r·qkvStride + h·dv + c]; the output at o[r·outStride + h·dv + c].
/// The three inputs are usually slices of one packed [rows, 2·H·dk + H·dv] buffer, so each span
/// need only be (rows − 1)·stride + width long.
/// </para>
/// <para>
/// Work is split over (batch, head) pairs through <see cref="WorkerPool.Shared"/>. A part copies
/// its head's K (and for the backward V) transposed into per-thread scratch, then walks the query
/// rows in blocks of <see cref="QueryBlock"/>: the forward computes a block's scores one chunk of
/// <c>64</c> keys at a time with an online softmax per row (running max and sum, the accumulator rescaled
/// when the max grows), so no T × T matrix ever exists; the backward recomputes P_ij = exp(λ_i s_ij − L_i)
/// from the saved L. Both do their work as small matrix products over the block's keys, so K and V are
/// read once per block of rows rather than once per row.
/// Scratch is allocated once per pool thread and reused, so warm calls allocate nothing.
/// </para>
/// <para>
/// Not reentrant across threads by design, like <see cref="Gemm"/>: concurrent calls compute correct
/// results, but one of them allocates its own job object.
/// </para>
/// </remarks>
public static unsafe class Attention
{
    /// <summary>
    /// O_i = Σ_{j allowed} P_ij v_j with P_ij = exp(λ_i q_i·k_j − L_i) and
    /// L_i = log Σ_{j allowed} exp(λ_i q_i·k_j), for every batch element, head and row.
    /// </summary>
    /// <param name="options">Heads, sizes, sequence length, mask and scale.</param>
    /// <param name="batch">Number of sequences; rows = batch · options.Sequence.</param>
    /// <param name="q">Queries (see the layout in the remarks of <see cref="Attention"/>).</param>
    /// <param name="k">Keys.</param>
    /// <param name="v">Values.</param>
    /// <param name="qkvStride">Distance between consecutive rows of q, k and v.</param>
    /// <param name="output">O, written at [r·outStride + h·dv + c].</param>
    /// <param name="outStride">Distance between consecutive rows of the output.</param>
    /// <param name="logSumExp">L, [batch, H, T]: index (b·H + h)·T + t. Needed by <see cref="Backward"/>.</param>
    /// <exception cref="ArgumentException">An option is out of range, a stride is smaller than its row, or a span is too short.</exception>
    public static void Forward<T>(
        in AttentionOptions options, int batch, ReadOnlySpan<T> q, ReadOnlySpan<T> k, ReadOnlySpan<T> v, int qkvStride,
        Span<T> output, int outStride, Span<T> logSumExp)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        AttentionChecks.Common(options, batch, q, k, v, qkvStride, output.Length, outStride, logSumExp.Length, nameof(logSumExp));
        if (batch == 0)
        {
            return;
        }

        Job<T> job = AttentionJob<T>.Rent<Job<T>>();
        fixed (T* pq = q, pk = k, pv = v, po = output, pl = logSumExp)
        {
            job.Set(options, pq, pk, pv, qkvStride, po, null, outStride, pl, null, null, null, 0);
            job.Dispatch(batch, perHead: true, MultiplyAdds(options, batch));
        }

        AttentionJob<T>.Return(job);
    }

    /// <summary>
    /// Gradients of <see cref="Forward"/>, overwriting dq, dk and dv. With D_i = dO_i·O_i,
    /// dP_ij = dO_i·v_j and dS_ij = P_ij (dP_ij − D_i): dq_i = λ_i Σ_j dS_ij k_j,
    /// dk_j = Σ_i λ_i dS_ij q_i and dv_j = Σ_i P_ij dO_i (λ_i is a constant of the row).
    /// </summary>
    /// <param name="options">The options of the forward call.</param>
    /// <param name="batch">Number of sequences.</param>
    /// <param name="q">Queries of the forward.</param>
    /// <param name="k">Keys of the forward.</param>
    /// <param name="v">Values of the forward.</param>
    /// <param name="qkvStride">Row stride of q, k and v.</param>
    /// <param name="output">O from the forward.</param>
    /// <param name="dOutput">Upstream gradient dL/dO, same layout as the output.</param>
    /// <param name="outStride">Row stride of output and dOutput.</param>
    /// <param name="logSumExp">L from the forward.</param>
    /// <param name="dq">dL/dq, written (not accumulated) with the layout of q and stride <paramref name="gradStride"/>.</param>
    /// <param name="dk">dL/dk, written, layout of k.</param>
    /// <param name="dv">dL/dv, written, layout of v.</param>
    /// <param name="gradStride">Row stride of dq, dk and dv.</param>
    /// <exception cref="ArgumentException">An option is out of range, a stride is smaller than its row, or a span is too short.</exception>
    public static void Backward<T>(
        in AttentionOptions options, int batch, ReadOnlySpan<T> q, ReadOnlySpan<T> k, ReadOnlySpan<T> v, int qkvStride,
        ReadOnlySpan<T> output, ReadOnlySpan<T> dOutput, int outStride, ReadOnlySpan<T> logSumExp,
        Span<T> dq, Span<T> dk, Span<T> dv, int gradStride)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        AttentionChecks.Common(options, batch, q, k, v, qkvStride, output.Length, outStride, logSumExp.Length, nameof(logSumExp));
        AttentionChecks.Strided(nameof(dOutput), dOutput.Length, batch * options.Sequence, outStride, options.Heads * options.ValueSize, nameof(outStride));
        AttentionChecks.Gradients(options, batch, dq.Length, dk.Length, dv.Length, gradStride);
        if (batch == 0)
        {
            return;
        }

        Job<T> job = AttentionJob<T>.Rent<Job<T>>();
        fixed (T* pq = q, pk = k, pv = v, po = output, pdo = dOutput, pl = logSumExp, pdq = dq, pdk = dk, pdv = dv)
        {
            job.Set(options, pq, pk, pv, qkvStride, po, pdo, outStride, pl, pdq, pdk, pdv, gradStride);
            job.Dispatch(batch, perHead: true, 2 * MultiplyAdds(options, batch));
        }

        AttentionJob<T>.Return(job);
    }

    /// <summary>About T²·(dk + dv)/2 multiply-adds per (batch, head) for a causal call, twice that otherwise.</summary>
    internal static long MultiplyAdds(in AttentionOptions o, int batch)
        => (long)batch * o.Heads * o.Sequence * o.Sequence * (o.KeySize + o.ValueSize) / (o.Causal ? 2 : 1);

    /// <summary>
    /// Forward for one (batch, head) pair. The query rows go in blocks of <see cref="QueryBlock"/>, the keys of the
    /// block's range [klo, khi] in chunks of <see cref="AttentionMath.KeyBlock"/>: per chunk, the scores of the whole
    /// block are one small matrix product (λQ)Kᵀ, each row updates its online softmax (running max and sum, its
    /// accumulator rescaled when the max grows), and the block's accumulators take P·V as one product. Keys of a
    /// chunk that a row may not attend are masked to −∞ and add nothing.
    /// </summary>
    private static void ForwardPart<T>(Job<T> job, in AttentionSlice<T> part)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        AttentionOptions o = job.Options;
        int heads = o.Heads, dk = o.KeySize, dv = o.ValueSize, seq = o.Sequence, h = part.Head;
        nint stride = job.QkvStride, outStride = job.OutStride;
        T* q = part.Q, k = part.K, v = part.V, output = part.Output, lse = part.Stats;
        int chunk = Math.Min(seq, AttentionMath.KeyBlock);
        int chunkWidth = AttentionMath.Padded(chunk);
        int rowsMax = Math.Min(QueryBlock, seq);
        int ld = AttentionMath.TransposedStride(seq);
        T slope = o.Alibi ? T.CreateTruncating(Dsl.Contracts.AttentionSlots.AlibiSlope(heads, h)) : T.Zero;

        // Scratch: K of this head transposed [dk, ld] (zero-padded); the block's scores [QueryBlock, chunk width],
        // λ·q [QueryBlock, dk] and accumulators [QueryBlock, dv]; each row's running max and sum.
        T[] scratch = AttentionScratch<T>.Rent((dk * ld) + (rowsMax * (chunkWidth + dk + dv + 2)));
        fixed (T* sp = scratch)
        {
            T* kt = sp;
            T* s = kt + (dk * ld);
            T* qs = s + (rowsMax * chunkWidth);
            T* acc = qs + (rowsMax * dk);
            T* maxes = acc + (rowsMax * dv);
            T* sums = maxes + rowsMax;
            AttentionMath.Transpose(k, stride, seq, dk, kt, ld);
            for (int i0 = 0; i0 < seq; i0 += QueryBlock)
            {
                int rows = Math.Min(QueryBlock, seq - i0);
                AttentionMath.KeyRange(o, i0, out int klo, out _);
                AttentionMath.KeyRange(o, i0 + rows - 1, out _, out int khi);
                for (int r = 0; r < rows; r++)
                {
                    int i = i0 + r;
                    AttentionMath.KeyRange(o, i, out int lo, out int hi);
                    T lambda = hi < lo ? T.Zero : T.CreateTruncating(AttentionMath.Lambda(o, hi - lo + 1));
                    AttentionMath.Scale(q + (i * stride), lambda, qs + (r * dk), dk);
                    maxes[r] = T.NegativeInfinity;
                    sums[r] = T.Zero;
                }

                new Span<T>(acc, rows * dv).Clear();
                for (int j0 = klo; j0 <= khi; j0 += chunk)
                {
                    // Scores over a padded width (no scalar tails); only the nb real keys meet V.
                    int nb = Math.Min(chunk, khi + 1 - j0);
                    int padded = AttentionMath.Padded(nb);
                    AttentionMath.MatrixProduct(qs, dk, 1, rows, dk, kt + j0, ld, s, padded, padded, false);
                    for (int r = 0; r < rows; r++)
                    {
                        int i = i0 + r;
                        AttentionMath.KeyRange(o, i, out int lo, out int hi);
                        int first = Math.Max(lo, j0), last = Math.Min(hi, j0 + nb - 1);
                        T* sr = s + (r * padded);
                        if (last < first)
                        {
                            // None of this chunk's keys: P = 0, the row's softmax unchanged.
                            new Span<T>(sr, padded).Clear();
                            continue;
                        }

                        if (o.Alibi) AddAlibi(sr + (first - j0), last - first + 1, slope, i, first);
                        AttentionMath.Fill(sr, first - j0, T.NegativeInfinity);
                        AttentionMath.Fill(sr + (last + 1 - j0), padded - (last + 1 - j0), T.NegativeInfinity);

                        // Online softmax: what was summed under the old max is rescaled (by 0 the first time,
                        // when the old max is −∞ and the sum and accumulator are still 0).
                        T max = maxes[r];
                        T newMax = T.Max(max, AttentionMath.Max(sr, padded));
                        T correction = T.Exp(max - newMax);
                        sums[r] = (sums[r] * correction) + AttentionMath.ExpShifted(sr, padded, newMax);
                        AttentionMath.Scale(acc + (r * dv), correction, acc + (r * dv), dv);
                        maxes[r] = newMax;
                    }

                    AttentionMath.MatrixProduct(s, padded, 1, rows, nb, v + (j0 * stride), stride, acc, dv, dv, true);
                }

                for (int r = 0; r < rows; r++)
                {
                    int i = i0 + r;
                    T* oi = output + (i * outStride);
                    if (T.IsNegativeInfinity(maxes[r]))
                    {
                        // Unreachable with these masks (the diagonal is always allowed); a row with no
                        // keys gets O = 0 and L = −∞, and the backward gives it zero gradients.
                        new Span<T>(oi, dv).Clear();
                        lse[i] = T.NegativeInfinity;
                        continue;
                    }

                    AttentionMath.Scale(acc + (r * dv), T.One / sums[r], oi, dv);
                    lse[i] = maxes[r] + T.Log(sums[r]);
                }
            }
        }
    }

    /// <summary>ALiBi: scores[jj] −= m·|i − (j0 + jj)| for the <paramref name="count"/> keys from j0, after the scale (the bias is
    /// a constant: the backward recomputes it and no gradient flows into it).</summary>
    private static void AddAlibi<T>(T* scores, int count, T slope, int i, int j0)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int jj = 0; jj < count; jj++)
        {
            scores[jj] -= slope * T.CreateTruncating(Math.Abs(i - (j0 + jj)));
        }
    }

    /// <summary>Query rows per block of the forward and the backward: each block meets K and V once, in small matrix products.</summary>
    internal const int QueryBlock = 16;

    /// <summary>
    /// Backward for one (batch, head) pair; it owns that pair's rows of dq, dk and dv. The query rows go in
    /// blocks of <see cref="QueryBlock"/>: for a block with the key range [klo, khi] (the union of its rows'
    /// ranges), P, dP and dS are <c>rows × keys</c> tiles, and dq = dS·K, dk += dSᵀ·Q and dv += Pᵀ·dO are
    /// matrix products over the block, so K, V, dk and dv are read (and dk, dv written) once per block rather
    /// than once per row. Keys of the range that a row may not attend get P = 0 and drop out.
    /// </summary>
    private static void BackwardPart<T>(Job<T> job, in AttentionSlice<T> part)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        AttentionOptions o = job.Options;
        int heads = o.Heads, dk = o.KeySize, dv = o.ValueSize, seq = o.Sequence, h = part.Head;
        nint stride = job.QkvStride, outStride = job.OutStride, gradStride = job.GradStride;
        T* q = part.Q, k = part.K, v = part.V, output = part.Output, dOutput = part.DOutput, lse = part.Stats;
        T* dq = part.DQ, dkp = part.DK, dvp = part.DV;

        // Scratch: Kᵀ [dk, ld], Vᵀ [dv, ld] (zero-padded); P and dP-then-dS tiles [QueryBlock, width];
        // λ·q for the block [QueryBlock, dk]; each row's λ and D.
        int ld = AttentionMath.TransposedStride(seq);
        int width = AttentionMath.Padded(seq);
        int rowsMax = Math.Min(QueryBlock, seq);
        T slope = o.Alibi ? T.CreateTruncating(Dsl.Contracts.AttentionSlots.AlibiSlope(heads, h)) : T.Zero;
        T[] scratch = AttentionScratch<T>.Rent(((dk + dv) * ld) + (2 * rowsMax * width) + (rowsMax * (dk + 2)));
        fixed (T* sp = scratch)
        {
            T* kt = sp;
            T* vt = kt + (dk * ld);
            T* p = vt + (dv * ld);
            T* ds = p + (rowsMax * width);
            T* qs = ds + (rowsMax * width);
            T* lambdas = qs + (rowsMax * dk);
            T* rowD = lambdas + rowsMax;
            AttentionMath.Transpose(k, stride, seq, dk, kt, ld);
            AttentionMath.Transpose(v, stride, seq, dv, vt, ld);
            AttentionMath.ClearRows(dkp, seq, gradStride, dk);
            AttentionMath.ClearRows(dvp, seq, gradStride, dv);
            for (int i0 = 0; i0 < seq; i0 += QueryBlock)
            {
                int rows = Math.Min(QueryBlock, seq - i0);

                // Both ends of a row's range never decrease with the row, so the block's range runs from
                // its first row's lo to its last row's hi.
                AttentionMath.KeyRange(o, i0, out int klo, out _);
                AttentionMath.KeyRange(o, i0 + rows - 1, out _, out int khi);
                int keys = khi - klo + 1;
                int padded = AttentionMath.Padded(keys);
                for (int r = 0; r < rows; r++)
                {
                    int i = i0 + r;
                    AttentionMath.KeyRange(o, i, out int lo, out int hi);
                    T lambda = hi < lo ? T.Zero : T.CreateTruncating(AttentionMath.Lambda(o, hi - lo + 1));
                    lambdas[r] = lambda;
                    rowD[r] = AttentionMath.Dot(dOutput + (i * outStride), output + (i * outStride), dv);
                    AttentionMath.Scale(q + (i * stride), lambda, qs + (r * dk), dk);
                }

                // S = (λ·Q) Kᵀ and dP = dO Vᵀ over the block's keys (padding included: Kᵀ and Vᵀ are zero there).
                AttentionMath.MatrixProduct(qs, dk, 1, rows, dk, kt + klo, ld, p, padded, padded, false);
                AttentionMath.MatrixProduct(dOutput + (i0 * outStride), outStride, 1, rows, dv, vt + klo, ld, ds, padded, padded, false);
                for (int r = 0; r < rows; r++)
                {
                    int i = i0 + r;
                    AttentionMath.KeyRange(o, i, out int lo, out int hi);
                    T* pr = p + (r * padded);
                    T* dsr = ds + (r * padded);
                    T rowLse = lse[i];
                    if (hi < lo || T.IsNegativeInfinity(rowLse))
                    {
                        // A row with no keys (unreachable with these masks) has zero gradients.
                        new Span<T>(pr, padded).Clear();
                        new Span<T>(dsr, padded).Clear();
                        continue;
                    }

                    // P_ij = exp(λ q_i·k_j − L_i), the scores recomputed as the forward computed them; keys
                    // outside the row's range masked to −∞ (P = 0). Then dS_ij = λ P_ij (dP_ij − D_i).
                    if (o.Alibi) AddAlibi(pr + (lo - klo), hi - lo + 1, slope, i, lo);
                    AttentionMath.Fill(pr, lo - klo, T.NegativeInfinity);
                    AttentionMath.Fill(pr + (hi + 1 - klo), padded - (hi + 1 - klo), T.NegativeInfinity);
                    AttentionMath.ExpShifted(pr, padded, rowLse);
                    AttentionMath.SoftmaxBackward(pr, dsr, rowD[r], lambdas[r], padded);
                }

                // dq = dS K; dk += dSᵀ Q; dv += Pᵀ dO (the transposes read through A's strides).
                AttentionMath.MatrixProduct(ds, padded, 1, rows, keys, k + (klo * stride), stride, dq + (i0 * gradStride), gradStride, dk, false);
                AttentionMath.MatrixProduct(ds, 1, padded, keys, rows, q + (i0 * stride), stride, dkp + (klo * gradStride), gradStride, dk, true);
                AttentionMath.MatrixProduct(p, 1, padded, keys, rows, dOutput + (i0 * outStride), outStride, dvp + (klo * gradStride), gradStride, dv, true);
            }
        }
    }

    /// <summary>The job of a forward or backward call: the shared driver's, one part per (batch, head) pair.</summary>
    private sealed class Job<T> : AttentionJob<T>
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        protected override void Forward(in AttentionSlice<T> part) => ForwardPart(this, part);

        protected override void Backward(in AttentionSlice<T> part) => BackwardPart(this, part);
    }
}
