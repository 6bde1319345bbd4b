using System;
using Dsl.Kernels;

namespace Dsl.Reference;

/// <summary>
/// Plain double-precision reference implementations of the attention kernels' forwards: every
/// score matrix is materialised with −∞ masks and every sum is an explicit loop. Written
/// independently of <see cref="Attention"/>, <see cref="TalkingHeadsAttention"/>,
/// <see cref="LinearAttention"/> and <see cref="Rope"/> on purpose: they are the eager path of the
/// DSL's attention layers and the oracle the kernels are tested against. Slow (O(T²) memory per head).
/// </summary>
/// <remarks>
/// Layout as in <see cref="Attention"/>: row r (0 ≤ r &lt; batch·T, position r % T), head h,
/// component c at q[r·qStride + h·dk + c], k[r·kStride + h·dk + c], v[r·vStride + h·dv + c], and
/// the output at o[r·outStride + h·dv + c]. Arrays convert to the span parameters implicitly.
/// </remarks>
public static class NaiveAttention
{
    /// <summary>Whether query position <paramref name="i"/> may attend key position <paramref name="j"/>:
    /// causal needs j ≤ i; a window W &gt; 0 needs i − j &lt; W (causal) or |i − j| &lt; W.</summary>
    public static bool IsAllowed(in AttentionOptions options, int i, int j)
    {
        if (options.Causal && j > i)
        {
            return false;
        }

        return options.Window <= 0 || Math.Abs(i - j) < options.Window;
    }

    /// <summary>n_i: how many keys query position <paramref name="i"/> may attend.</summary>
    public static int AllowedKeys(in AttentionOptions options, int i)
    {
        int n = 0;
        for (int j = 0; j < options.Sequence; j++)
        {
            if (IsAllowed(options, i, j))
            {
                n++;
            }
        }

        return n;
    }

    /// <summary>λ_i: Scale for <see cref="AttentionScaleMode.Fixed"/>; log_512(n_i)/√dk for
    /// <see cref="AttentionScaleMode.EntropyInvariant"/>.</summary>
    public static double Lambda(in AttentionOptions options, int i)
    {
        if (options.ScaleMode == AttentionScaleMode.Fixed)
        {
            return options.Scale;
        }

        return Math.Log(AllowedKeys(options, i)) / Math.Log(512) / Math.Sqrt(options.KeySize);
    }

    /// <summary>Softmax attention on a packed buffer whose q, k and v share one row stride.</summary>
    /// <param name="options">Heads, sizes, sequence, mask and scale.</param>
    /// <param name="batch">Number of sequences.</param>
    /// <param name="q">Queries.</param>
    /// <param name="k">Keys.</param>
    /// <param name="v">Values.</param>
    /// <param name="qkvStride">Row stride of q, k and v.</param>
    /// <param name="output">Output, written.</param>
    /// <param name="outStride">Row stride of the output.</param>
    public static void Softmax(
        in AttentionOptions options, int batch, ReadOnlySpan<double> q, ReadOnlySpan<double> k, ReadOnlySpan<double> v, int qkvStride,
        Span<double> output, int outStride)
        => Softmax(options, batch, q, qkvStride, k, qkvStride, v, qkvStride, output, outStride);

    /// <summary>
    /// O_i = Σ_j softmax_j(λ_i q_i·k_j − m_h|i − j| + mask_ij) v_j per batch element and head (the ALiBi term only with
    /// <see cref="AttentionOptions.Alibi"/>), with mask_ij = −∞ for keys the row may not attend. A row with no allowed
    /// key would get O = 0 (cannot happen with
    /// these masks: the diagonal is always allowed).
    /// </summary>
    /// <param name="options">Heads, sizes, sequence, mask and scale.</param>
    /// <param name="batch">Number of sequences.</param>
    /// <param name="q">Queries.</param>
    /// <param name="qStride">Row stride of q.</param>
    /// <param name="k">Keys.</param>
    /// <param name="kStride">Row stride of k.</param>
    /// <param name="v">Values.</param>
    /// <param name="vStride">Row stride of v.</param>
    /// <param name="output">Output, written.</param>
    /// <param name="outStride">Row stride of the output.</param>
    public static void Softmax(
        in AttentionOptions options, int batch, ReadOnlySpan<double> q, int qStride, ReadOnlySpan<double> k, int kStride,
        ReadOnlySpan<double> v, int vStride, Span<double> output, int outStride)
    {
        AttentionChecks.Options(options);
        int heads = options.Heads, dk = options.KeySize, dv = options.ValueSize, seq = options.Sequence;
        double[,] logits = new double[seq, seq];
        for (int b = 0; b < batch; b++)
        {
            for (int h = 0; h < heads; h++)
            {
                for (int i = 0; i < seq; i++)
                {
                    for (int j = 0; j < seq; j++)
                    {
                        double s = 0;
                        for (int c = 0; c < dk; c++)
                        {
                            s += q[((b * seq) + i) * qStride + (h * dk) + c] * k[((b * seq) + j) * kStride + (h * dk) + c];
                        }

                        double bias = options.Alibi ? -Dsl.Contracts.AttentionSlots.AlibiSlope(heads, h) * Math.Abs(i - j) : 0;
                        logits[i, j] = IsAllowed(options, i, j) ? (Lambda(options, i) * s) + bias : double.NegativeInfinity;
                    }
                }

                double[,] p = SoftmaxRows(logits, seq);
                for (int i = 0; i < seq; i++)
                {
                    for (int c = 0; c < dv; c++)
                    {
                        double o = 0;
                        for (int j = 0; j < seq; j++)
                        {
                            o += p[i, j] * v[((b * seq) + j) * vStride + (h * dv) + c];
                        }

                        output[((b * seq) + i) * outStride + (h * dv) + c] = o;
                    }
                }
            }
        }
    }

    /// <summary>Talking-heads attention on a packed buffer whose q, k and v share one row stride.</summary>
    /// <param name="options">Heads, sizes, sequence, mask and scale.</param>
    /// <param name="batch">Number of sequences.</param>
    /// <param name="q">Queries.</param>
    /// <param name="k">Keys.</param>
    /// <param name="v">Values.</param>
    /// <param name="qkvStride">Row stride of q, k and v.</param>
    /// <param name="preMix">H × H pre-softmax mixing matrix, row-major.</param>
    /// <param name="postMix">H × H post-softmax mixing matrix, row-major.</param>
    /// <param name="output">Output, written.</param>
    /// <param name="outStride">Row stride of the output.</param>
    public static void TalkingHeads(
        in AttentionOptions options, int batch, ReadOnlySpan<double> q, ReadOnlySpan<double> k, ReadOnlySpan<double> v, int qkvStride,
        ReadOnlySpan<double> preMix, ReadOnlySpan<double> postMix, Span<double> output, int outStride)
        => TalkingHeads(options, batch, q, qkvStride, k, qkvStride, v, qkvStride, preMix, postMix, output, outStride);

    /// <summary>
    /// Talking-heads attention (Shazeer et al. 2020), per batch element: Ĵ_h = λ Q_h K_hᵀ (λ per row),
    /// J_i = Σ_j pre[i, j] Ĵ_j, masked after mixing, P_h = softmax(J_h) per row, P'_i = Σ_j post[i, j] P_j,
    /// O_i = P'_i V_i.
    /// </summary>
    /// <param name="options">Heads, sizes, sequence, mask and scale.</param>
    /// <param name="batch">Number of sequences.</param>
    /// <param name="q">Queries.</param>
    /// <param name="qStride">Row stride of q.</param>
    /// <param name="k">Keys.</param>
    /// <param name="kStride">Row stride of k.</param>
    /// <param name="v">Values.</param>
    /// <param name="vStride">Row stride of v.</param>
    /// <param name="preMix">H × H pre-softmax mixing matrix, row-major.</param>
    /// <param name="postMix">H × H post-softmax mixing matrix, row-major.</param>
    /// <param name="output">Output, written.</param>
    /// <param name="outStride">Row stride of the output.</param>
    public static void TalkingHeads(
        in AttentionOptions options, int batch, ReadOnlySpan<double> q, int qStride, ReadOnlySpan<double> k, int kStride,
        ReadOnlySpan<double> v, int vStride, ReadOnlySpan<double> preMix, ReadOnlySpan<double> postMix, Span<double> output, int outStride)
    {
        AttentionChecks.Options(options);
        int heads = options.Heads, dk = options.KeySize, dv = options.ValueSize, seq = options.Sequence;
        AttentionChecks.Length(nameof(preMix), preMix.Length, heads * heads, "Heads²");
        AttentionChecks.Length(nameof(postMix), postMix.Length, heads * heads, "Heads²");
        var raw = new double[heads][,];
        var probabilities = new double[heads][,];
        for (int b = 0; b < batch; b++)
        {
            for (int h = 0; h < heads; h++)
            {
                raw[h] = new double[seq, seq];
                for (int i = 0; i < seq; i++)
                {
                    for (int j = 0; j < seq; j++)
                    {
                        double s = 0;
                        for (int c = 0; c < dk; c++)
                        {
                            s += q[((b * seq) + i) * qStride + (h * dk) + c] * k[((b * seq) + j) * kStride + (h * dk) + c];
                        }

                        raw[h][i, j] = Lambda(options, i) * s;
                    }
                }
            }

            for (int h = 0; h < heads; h++)
            {
                var mixed = new double[seq, seq];
                for (int i = 0; i < seq; i++)
                {
                    for (int j = 0; j < seq; j++)
                    {
                        double s = 0;
                        for (int g = 0; g < heads; g++)
                        {
                            s += preMix[(h * heads) + g] * raw[g][i, j];
                        }

                        mixed[i, j] = IsAllowed(options, i, j) ? s : double.NegativeInfinity;
                    }
                }

                probabilities[h] = SoftmaxRows(mixed, seq);
            }

            for (int h = 0; h < heads; h++)
            {
                for (int i = 0; i < seq; i++)
                {
                    for (int c = 0; c < dv; c++)
                    {
                        double o = 0;
                        for (int j = 0; j < seq; j++)
                        {
                            double p = 0;
                            for (int g = 0; g < heads; g++)
                            {
                                p += postMix[(h * heads) + g] * probabilities[g][i, j];
                            }

                            o += p * v[((b * seq) + j) * vStride + (h * dv) + c];
                        }

                        output[((b * seq) + i) * outStride + (h * dv) + c] = o;
                    }
                }
            }
        }
    }

    /// <summary>Linear attention on a packed buffer whose q, k and v share one row stride.</summary>
    /// <param name="options">Heads, sizes, sequence and causality (window and scale are ignored).</param>
    /// <param name="batch">Number of sequences.</param>
    /// <param name="q">Queries.</param>
    /// <param name="k">Keys.</param>
    /// <param name="v">Values.</param>
    /// <param name="qkvStride">Row stride of q, k and v.</param>
    /// <param name="output">Output, written.</param>
    /// <param name="outStride">Row stride of the output.</param>
    public static void Linear(
        in AttentionOptions options, int batch, ReadOnlySpan<double> q, ReadOnlySpan<double> k, ReadOnlySpan<double> v, int qkvStride,
        Span<double> output, int outStride)
        => Linear(options, batch, q, qkvStride, k, qkvStride, v, qkvStride, output, outStride);

    /// <summary>
    /// Linear attention (Katharopoulos et al. 2020) in its quadratic form:
    /// o_i = Σ_{j∈A(i)} (φ(q_i)·φ(k_j)) v_j / Σ_{j∈A(i)} φ(q_i)·φ(k_j), φ = elu + 1, with A(i) = {j ≤ i}
    /// when causal and all positions otherwise. The window and the scale are ignored.
    /// </summary>
    /// <param name="options">Heads, sizes, sequence and causality.</param>
    /// <param name="batch">Number of sequences.</param>
    /// <param name="q">Queries.</param>
    /// <param name="qStride">Row stride of q.</param>
    /// <param name="k">Keys.</param>
    /// <param name="kStride">Row stride of k.</param>
    /// <param name="v">Values.</param>
    /// <param name="vStride">Row stride of v.</param>
    /// <param name="output">Output, written.</param>
    /// <param name="outStride">Row stride of the output.</param>
    public static void Linear(
        in AttentionOptions options, int batch, ReadOnlySpan<double> q, int qStride, ReadOnlySpan<double> k, int kStride,
        ReadOnlySpan<double> v, int vStride, Span<double> output, int outStride)
    {
        AttentionChecks.Options(options);
        int heads = options.Heads, dk = options.KeySize, dv = options.ValueSize, seq = options.Sequence;
        var weights = new double[seq];
        for (int b = 0; b < batch; b++)
        {
            for (int h = 0; h < heads; h++)
            {
                for (int i = 0; i < seq; i++)
                {
                    double denominator = 0;
                    for (int j = 0; j < seq; j++)
                    {
                        double w = 0;
                        if (!options.Causal || j <= i)
                        {
                            for (int c = 0; c < dk; c++)
                            {
                                w += Phi(q[((b * seq) + i) * qStride + (h * dk) + c]) * Phi(k[((b * seq) + j) * kStride + (h * dk) + c]);
                            }
                        }

                        weights[j] = w;
                        denominator += w;
                    }

                    for (int c = 0; c < dv; c++)
                    {
                        double o = 0;
                        for (int j = 0; j < seq; j++)
                        {
                            o += weights[j] * v[((b * seq) + j) * vStride + (h * dv) + c];
                        }

                        output[((b * seq) + i) * outStride + (h * dv) + c] = o / denominator;
                    }
                }
            }
        }
    }

    /// <summary>
    /// RoPE, half-split layout, in place: in each head the pair (x_j, x_{j+R/2}), j &lt; R/2, is rotated
    /// by m·θ_j with θ_j = theta^(−2j/R) and m = row % sequence; components ≥ R are untouched.
    /// </summary>
    /// <param name="x">Rows: component c of head h of row r at x[r·stride + h·headSize + c].</param>
    /// <param name="rows">Number of rows.</param>
    /// <param name="stride">Row stride.</param>
    /// <param name="heads">Number of heads.</param>
    /// <param name="headSize">Width of one head.</param>
    /// <param name="rotaryDim">Rotary dimension R, even and at most headSize.</param>
    /// <param name="sequence">Sequence length.</param>
    /// <param name="theta">The base of the frequencies.</param>
    public static void Rope(Span<double> x, int rows, int stride, int heads, int headSize, int rotaryDim, int sequence, double theta = 10000)
    {
        if (rotaryDim < 0 || rotaryDim % 2 != 0 || rotaryDim > headSize)
        {
            AttentionChecks.Throw(nameof(rotaryDim), $"rotaryDim {rotaryDim} must be even and at most headSize {headSize}.");
        }

        int half = rotaryDim / 2;
        for (int r = 0; r < rows; r++)
        {
            int m = r % sequence;
            for (int h = 0; h < heads; h++)
            {
                int head = (r * stride) + (h * headSize);
                for (int j = 0; j < half; j++)
                {
                    double angle = m * Math.Pow(theta, -2.0 * j / rotaryDim);
                    double x1 = x[head + j], x2 = x[head + half + j];
                    x[head + j] = (x1 * Math.Cos(angle)) - (x2 * Math.Sin(angle));
                    x[head + half + j] = (x1 * Math.Sin(angle)) + (x2 * Math.Cos(angle));
                }
            }
        }
    }

    /// <summary>φ(x) = elu(x) + 1: x + 1 for x &gt; 0, eˣ otherwise.</summary>
    public static double Phi(double x) => x > 0 ? x + 1 : Math.Exp(x);

    /// <summary>Row-wise softmax with max shift; a row that is all −∞ becomes all 0.</summary>
    private static double[,] SoftmaxRows(double[,] logits, int n)
    {
        var p = new double[n, n];
        for (int i = 0; i < n; i++)
        {
            double max = double.NegativeInfinity;
            for (int j = 0; j < n; j++)
            {
                max = Math.Max(max, logits[i, j]);
            }

            if (double.IsNegativeInfinity(max))
            {
                continue;
            }

            double sum = 0;
            for (int j = 0; j < n; j++)
            {
                sum += Math.Exp(logits[i, j] - max);
            }

            for (int j = 0; j < n; j++)
            {
                p[i, j] = Math.Exp(logits[i, j] - max) / sum;
            }
        }

        return p;
    }
}
