using System;
using Dsl.Runtime;

namespace Dsl.Training;

/// <summary>
/// Metrics of a pair model (a CoSENT or cosine-MSE encoder: examples are sentence pairs, each with one
/// gold score), in the <see cref="Metric{TTarget}"/> form <see cref="Trainer.AddMetric{TTarget}"/> takes:
/// <c>trainer.AddMetric&lt;float&gt;("spearman", PairMetrics.CosineSpearman)</c>.
/// </summary>
public static class PairMetrics
{
    /// <summary>Spearman's ρ between the cosine similarity of each pair's two embeddings and its gold score
    /// (the STS benchmark's measure). <paramref name="outputs"/> holds two embeddings per pair, back to back
    /// (what a pair model's Predict writes); a zero embedding has cosine 0.</summary>
    /// <exception cref="ArgumentException">outputs is not two equal embeddings per score.</exception>
    public static double CosineSpearman(ReadOnlySpan<float> outputs, ReadOnlySpan<float> scores)
    {
        var cosines = new double[scores.Length];
        Cosines(outputs, scores.Length, cosines);
        var gold = new double[scores.Length];
        for (int i = 0; i < gold.Length; i++) gold[i] = scores[i];
        return RankCorrelation.Spearman(cosines, gold);
    }

    /// <summary>cos(u_i, v_i) of each of <paramref name="pairs"/> pairs of embeddings in <paramref name="outputs"/>, in double.</summary>
    /// <exception cref="ArgumentException">outputs is not two equal embeddings per pair, or cosines is too short.</exception>
    public static void Cosines(ReadOnlySpan<float> outputs, int pairs, Span<double> cosines)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(pairs);
        if (pairs == 0) return;
        if (outputs.Length % (2 * pairs) != 0)
            throw new ArgumentException($"{outputs.Length} outputs are not two equal embeddings for each of {pairs} pairs", nameof(outputs));
        if (cosines.Length < pairs) throw new ArgumentException($"room for {cosines.Length} cosines, {pairs} pairs", nameof(cosines));
        int dim = outputs.Length / (2 * pairs);
        for (int i = 0; i < pairs; i++)
        {
            ReadOnlySpan<float> u = outputs.Slice(2 * i * dim, dim), v = outputs.Slice(((2 * i) + 1) * dim, dim);
            double uv = 0, uu = 0, vv = 0;
            for (int k = 0; k < dim; k++)
            {
                uv += u[k] * v[k];
                uu += u[k] * u[k];
                vv += v[k] * v[k];
            }

            cosines[i] = uu > 0 && vv > 0 ? uv / Math.Sqrt(uu * vv) : 0;
        }
    }
}
