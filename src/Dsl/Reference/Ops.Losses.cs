using System;
using System.Globalization;

namespace Dsl;

// The losses beyond plain cross-entropy and MSE: eager double references, written from the
// formulas (SEEDS §1.4, §1.6) independently of the fused kernels in Dsl.Kernels, which the tests
// hold to them. In a [Loss] method the generator recognises these calls and emits the kernels.
public static partial class Ops
{
    /// <summary>Label-smoothed softmax cross-entropy: mean over rows of −Σ_j q_j ln softmax(z)_j with
    /// q = (1 − ε)e_y + ε/K. ε = <paramref name="smoothing"/> ∈ [0, 1) (0.1 is typical).</summary>
    public static Scalar SoftmaxCrossEntropy(Tensor logits, Labels labels, double smoothing)
    {
        RequireLabels(logits, labels);
        if (!(smoothing >= 0 && smoothing < 1))
            throw new ArgumentOutOfRangeException(nameof(smoothing), smoothing, Invariant($"label smoothing ε is {smoothing}; it must lie in [0, 1)"));
        int k = logits.Columns;
        double total = 0;
        for (int r = 0; r < logits.Rows; r++)
        {
            double[] logP = LogSoftmax(logits, r, null);
            for (int j = 0; j < k; j++) total -= (smoothing / k + (j == labels.Values[r] ? 1 - smoothing : 0)) * logP[j];
        }

        return new Scalar(total / logits.Rows);
    }

    /// <summary>Focal loss on softmax: mean over rows of −α (1 − p_t)^γ ln p_t (γ = 0, α = 1 is cross-entropy).</summary>
    public static Scalar FocalLoss(Tensor logits, Labels labels, double gamma = 2, double alpha = 1)
    {
        RequireLabels(logits, labels);
        if (!(gamma >= 0) || double.IsInfinity(gamma))
            throw new ArgumentOutOfRangeException(nameof(gamma), gamma, Invariant($"focal γ is {gamma}; it must be finite and ≥ 0"));
        if (!(alpha >= 0) || double.IsInfinity(alpha))
            throw new ArgumentOutOfRangeException(nameof(alpha), alpha, Invariant($"focal α is {alpha}; it must be finite and ≥ 0"));
        double total = 0;
        for (int r = 0; r < logits.Rows; r++)
        {
            double logPt = LogSoftmax(logits, r, null)[labels.Values[r]];
            total += -alpha * Math.Pow(1 - Math.Exp(logPt), gamma) * logPt;
        }

        return new Scalar(total / logits.Rows);
    }

    /// <summary>Logit-adjusted cross-entropy: mean over rows of −ln softmax(z + τ ln π)_y. <paramref name="priors"/>
    /// (any positive weights, normalised here) default to uniform, which is plain cross-entropy; a model can also
    /// set them at run time from the training labels (<c>Compiled.SetClassPriors</c>).</summary>
    public static Scalar LogitAdjustedCrossEntropy(Tensor logits, Labels labels, double tau = 1, double[]? priors = null)
    {
        RequireLabels(logits, labels);
        if (!(tau >= 0) || double.IsInfinity(tau))
            throw new ArgumentOutOfRangeException(nameof(tau), tau, Invariant($"logit adjustment τ is {tau}; it must be finite and ≥ 0"));
        int k = logits.Columns;
        var offsets = new double[k];
        if (priors is not null)
        {
            if (priors.Length != k) throw new ArgumentException(Invariant($"{priors.Length} priors for {k} classes"), nameof(priors));
            double sum = 0;
            foreach (double p in priors)
            {
                if (!(p > 0) || double.IsInfinity(p)) throw new ArgumentOutOfRangeException(nameof(priors), p, "every prior must be positive and finite");
                sum += p;
            }

            for (int j = 0; j < k; j++) offsets[j] = tau * Math.Log(priors[j] / sum);
        }

        double total = 0;
        for (int r = 0; r < logits.Rows; r++) total -= LogSoftmax(logits, r, offsets)[labels.Values[r]];
        return new Scalar(total / logits.Rows);
    }

    /// <summary>TaiLr: mean over rows of −w ln p with p = softmax(z)_y and the stop-gradient weight
    /// w = clamp(p/(γ + (1 − γ)p), b, 1); γ ∈ [0, 1] (0 is cross-entropy), b = <paramref name="minWeight"/> ∈ [0, 1].
    /// The value is the same whether or not w is differentiated; the generated backward holds w fixed.</summary>
    public static Scalar TaiLr(Tensor logits, Labels labels, double gamma, double minWeight = 0)
    {
        RequireLabels(logits, labels);
        if (!(gamma >= 0 && gamma <= 1)) throw new ArgumentOutOfRangeException(nameof(gamma), gamma, Invariant($"TaiLr γ is {gamma}; it must lie in [0, 1]"));
        if (!(minWeight >= 0 && minWeight <= 1)) throw new ArgumentOutOfRangeException(nameof(minWeight), minWeight, Invariant($"TaiLr b is {minWeight}; it must lie in [0, 1]"));
        double total = 0;
        for (int r = 0; r < logits.Rows; r++)
        {
            double logP = LogSoftmax(logits, r, null)[labels.Values[r]];
            double p = Math.Exp(logP);
            double denominator = gamma + (1 - gamma) * p;
            double w = Math.Min(1, Math.Max(minWeight, denominator > 0 ? p / denominator : 1));
            total += -w * logP;
        }

        return new Scalar(total / logits.Rows);
    }

    /// <summary>CoSENT over sentence pairs: the rows of <paramref name="embeddings"/> are interleaved, row 2i
    /// the first sentence of pair i and row 2i + 1 the second; loss = ln(1 + Σ_{s_a &gt; s_b} e^{λ(cos_b − cos_a)}).
    /// Only the order of the scores matters. λ = 20 by default.</summary>
    public static Scalar CoSent(Tensor embeddings, Scores scores, double lambda = 20)
    {
        if (!(lambda > 0) || double.IsInfinity(lambda))
            throw new ArgumentOutOfRangeException(nameof(lambda), lambda, Invariant($"CoSENT λ is {lambda}; it must be finite and > 0"));
        double[] c = PairCosines(embeddings, scores);
        // logsumexp over {0} ∪ {λ(c_b − c_a)}, written as a list and reduced once.
        var terms = new System.Collections.Generic.List<double> { 0 };
        for (int a = 0; a < c.Length; a++)
            for (int b = 0; b < c.Length; b++)
                if (scores.Values[a] > scores.Values[b]) terms.Add(lambda * (c[b] - c[a]));
        double max = double.NegativeInfinity;
        foreach (double t in terms) max = Math.Max(max, t);
        double sum = 0;
        foreach (double t in terms) sum += Math.Exp(t - max);
        return new Scalar(max + Math.Log(sum));
    }

    /// <summary>Cosine-similarity MSE (Sentence-BERT's regression objective) over interleaved pairs as in
    /// <see cref="CoSent"/>: mean over pairs of (cos(u_i, v_i) − s_i)². Scale STS scores to [0, 1] first.</summary>
    public static Scalar CosineMse(Tensor embeddings, Scores scores)
    {
        double[] c = PairCosines(embeddings, scores);
        double total = 0;
        for (int i = 0; i < c.Length; i++) total += (c[i] - scores.Values[i]) * (c[i] - scores.Values[i]);
        return new Scalar(c.Length == 0 ? 0 : total / c.Length);
    }

    /// <summary>Flooding: |L − b| + b on a mini-batch mean loss; below the level b training ascends. b ≥ 0.</summary>
    public static Scalar Flood(Scalar loss, double level)
    {
        if (!(level >= 0) || double.IsInfinity(level))
            throw new ArgumentOutOfRangeException(nameof(level), level, Invariant($"flood level b is {level}; it must be finite and ≥ 0"));
        return new Scalar(Math.Abs(loss.Value - level) + level);
    }

    private static double[] PairCosines(Tensor embeddings, Scores scores)
    {
        if (embeddings.Rows != 2 * scores.Count)
            throw new ArgumentException(Invariant($"{embeddings.Rows} embedding rows for {scores.Count} scored pairs (expected two rows per pair, interleaved)"), nameof(scores));
        var c = new double[scores.Count];
        for (int i = 0; i < c.Length; i++)
        {
            double uv = 0, uu = 0, vv = 0;
            for (int k = 0; k < embeddings.Columns; k++)
            {
                double u = embeddings[2 * i, k], v = embeddings[2 * i + 1, k];
                uv += u * v;
                uu += u * u;
                vv += v * v;
            }

            c[i] = uu > 0 && vv > 0 ? uv / (Math.Sqrt(uu) * Math.Sqrt(vv)) : 0;
        }

        return c;
    }

    private static double[] LogSoftmax(Tensor logits, int row, double[]? offsets)
    {
        int k = logits.Columns;
        var shifted = new double[k];
        double max = double.NegativeInfinity;
        for (int j = 0; j < k; j++)
        {
            shifted[j] = logits[row, j] + (offsets?[j] ?? 0);
            max = Math.Max(max, shifted[j]);
        }

        double sum = 0;
        for (int j = 0; j < k; j++) sum += Math.Exp(shifted[j] - max);
        double lse = max + Math.Log(sum);
        for (int j = 0; j < k; j++) shifted[j] -= lse;
        return shifted;
    }

    private static void RequireLabels(Tensor logits, Labels labels)
    {
        if (labels.Count != logits.Rows)
            throw new ArgumentException(Invariant($"{labels.Count} labels for {logits.Rows} rows of logits"), nameof(labels));
        for (int r = 0; r < labels.Count; r++)
            if ((uint)labels.Values[r] >= (uint)logits.Columns)
                throw new ArgumentOutOfRangeException(nameof(labels), Invariant($"label {labels.Values[r]} in row {r} is outside [0, {logits.Columns})"));
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}

/// <summary>Gold similarity scores, one per sentence pair (the pair losses' targets). Only their order
/// matters to CoSENT; cosine-MSE compares them with cosines, so scale them to [0, 1].</summary>
public sealed class Scores
{
    /// <summary>Wraps <paramref name="values"/> (copied).</summary>
    public Scores(ReadOnlySpan<float> values)
    {
        Values = new double[values.Length];
        for (int i = 0; i < values.Length; i++) Values[i] = values[i];
    }

    /// <summary>Wraps <paramref name="values"/> (copied).</summary>
    public Scores(ReadOnlySpan<double> values) => Values = values.ToArray();

    /// <summary>The scores.</summary>
    public double[] Values { get; }

    /// <summary>Number of pairs.</summary>
    public int Count => Values.Length;
}
