using System;
using Dsl.Kernels;
using Xunit;

namespace Dsl.Tests.Kernels;

/// <summary>
/// The fused loss kernels against the eager references in <see cref="Ops"/> (values) and against
/// central differences of those references (gradients with respect to the logits or embeddings),
/// plus the invariants and limits SEEDS §3 lists.
/// </summary>
public sealed class ExtendedLossTests
{
    private const int Rows = 5, Classes = 4;

    private static (double[] Logits, int[] Labels) Batch(int seed, double range = 3)
    {
        var random = new System.Random(seed);
        var logits = new double[Rows * Classes];
        for (int i = 0; i < logits.Length; i++) logits[i] = (random.NextDouble() * 2 - 1) * range;
        var labels = new int[Rows];
        for (int r = 0; r < Rows; r++) labels[r] = random.Next(Classes);
        return (logits, labels);
    }

    private static Tensor AsTensor(double[] data, int rows, int columns)
    {
        var t = new Tensor(rows, columns);
        data.CopyTo(t.Data, 0);
        return t;
    }

    /// <summary>Central differences of <paramref name="f"/> at <paramref name="x"/> against <paramref name="analytic"/>.</summary>
    private static void AssertGradient(double[] x, double[] analytic, Func<double[], double> f)
    {
        for (int i = 0; i < x.Length; i++)
        {
            double keep = x[i], h = 6e-6 * Math.Max(1, Math.Abs(keep));
            x[i] = keep + h;
            double plus = f(x);
            x[i] = keep - h;
            double minus = f(x);
            x[i] = keep;
            double numeric = (plus - minus) / (2 * h);
            double error = Math.Abs(analytic[i] - numeric) / Math.Max(Math.Max(Math.Abs(analytic[i]), Math.Abs(numeric)), 1e-4);
            Assert.True(error <= 1e-6, $"element {i}: analytic {analytic[i]:R}, numeric {numeric:R}");
        }
    }

    private static void AssertRowSumsZero(double[] gradient)
    {
        for (int r = 0; r < Rows; r++)
        {
            double sum = 0;
            for (int j = 0; j < Classes; j++) sum += gradient[r * Classes + j];
            Assert.True(Math.Abs(sum) < 1e-12, $"row {r}: Σ_j ∂L/∂z_j = {sum}");
        }
    }

    [Theory]
    [InlineData(2.0, 0.25)]
    [InlineData(0.5, 1.0)]
    [InlineData(0.0, 1.0)]
    public void Focal_matches_its_reference_and_differences(double gamma, double alpha)
    {
        var (z, y) = Batch(1);
        var d = new double[z.Length];
        double loss = FocalLoss.ForwardBackward<double>(z, y, Rows, Classes, gamma, alpha, d, 1.0 / Rows);
        double Reference(double[] logits) => Ops.FocalLoss(AsTensor(logits, Rows, Classes), new Labels(y), gamma, alpha);
        Assert.Equal(Reference(z), loss, 12);
        Assert.Equal(loss, FocalLoss.Forward<double>(z, y, Rows, Classes, gamma, alpha), 14);
        AssertGradient(z, d, Reference);
        AssertRowSumsZero(d);
        if (gamma == 0 && alpha == 1)
            Assert.Equal(Ops.SoftmaxCrossEntropy(AsTensor(z, Rows, Classes), new Labels(y)).Value, loss, 12); // γ = 0 is CE
    }

    [Fact]
    public void Focal_with_gamma_below_one_is_finite_when_the_label_is_certain()
    {
        // p_t → 1 in floating point: q^(γ−1) = ∞, the true gradient is 0 (SEEDS §3).
        double[] z = { 60, 0, 0, 0 };
        var d = new double[4];
        double loss = FocalLoss.ForwardBackward<double>(z, new[] { 0 }, 1, 4, 0.5, 1, d, 1.0);
        Assert.True(double.IsFinite(loss));
        Assert.All(d, v => Assert.True(double.IsFinite(v) && Math.Abs(v) < 1e-20, $"gradient {v}"));
    }

    [Fact]
    public void Label_smoothing_matches_its_reference_and_reduces_to_cross_entropy()
    {
        var (z, y) = Batch(2);
        var d = new double[z.Length];
        double loss = LabelSmoothedCrossEntropy.ForwardBackward<double>(z, y, Rows, Classes, 0.1, d, 1.0 / Rows);
        double Reference(double[] logits) => Ops.SoftmaxCrossEntropy(AsTensor(logits, Rows, Classes), new Labels(y), 0.1);
        Assert.Equal(Reference(z), loss, 12);
        AssertGradient(z, d, Reference);
        AssertRowSumsZero(d);
        Assert.Equal(Ops.SoftmaxCrossEntropy(AsTensor(z, Rows, Classes), new Labels(y)).Value,
            LabelSmoothedCrossEntropy.Forward<double>(z, y, Rows, Classes, 0), 12);
        Assert.Throws<ArgumentOutOfRangeException>(() => LabelSmoothedCrossEntropy.Forward<double>(z, y, Rows, Classes, 1.0));
    }

    [Fact]
    public void Logit_adjustment_matches_its_reference()
    {
        var (z, y) = Batch(3);
        double[] priors = { 0.6, 0.2, 0.15, 0.05 };
        var offsets = new double[Classes];
        LogitAdjustedCrossEntropy.Offsets<double>(priors, 1.5, offsets);
        var d = new double[z.Length];
        double loss = LogitAdjustedCrossEntropy.ForwardBackward<double>(z, y, Rows, Classes, offsets, d, 1.0 / Rows);
        double Reference(double[] logits) => Ops.LogitAdjustedCrossEntropy(AsTensor(logits, Rows, Classes), new Labels(y), 1.5, priors);
        Assert.Equal(Reference(z), loss, 12);
        AssertGradient(z, d, Reference);
        AssertRowSumsZero(d);
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => LogitAdjustedCrossEntropy.Offsets<double>(new[] { 0.5, 0, 0.3, 0.2 }, 1, offsets));
        Assert.Contains("class 1", error.Message);
    }

    [Fact]
    public void Counted_priors_are_smoothed_and_normalised()
    {
        double[] priors = LogitAdjustedCrossEntropy.CountPriors(new[] { 0, 0, 2 }, 3);
        Assert.Equal(new[] { 3.0 / 6, 1.0 / 6, 2.0 / 6 }, priors);
    }

    [Fact]
    public void TaiLr_value_matches_its_reference_and_the_gradient_holds_the_weight_fixed()
    {
        var (z, y) = Batch(4);
        var d = new double[z.Length];
        double loss = TaiLr.ForwardBackward<double>(z, y, Rows, Classes, 0.5, 0.1, d, 1.0 / Rows);
        Assert.Equal(Ops.TaiLr(AsTensor(z, Rows, Classes), new Labels(y), 0.5, 0.1).Value, loss, 12);
        // Frozen weights: w_r · CE_r, differentiated with w_r constant.
        var w = new double[Rows];
        for (int r = 0; r < Rows; r++)
        {
            double p = Math.Exp(-Ops.SoftmaxCrossEntropy(AsTensor(z[(r * Classes)..((r + 1) * Classes)], 1, Classes), new Labels(new[] { y[r] })).Value);
            w[r] = TaiLr.Weight(p, 0.5, 0.1);
        }

        double Frozen(double[] logits)
        {
            double total = 0;
            for (int r = 0; r < Rows; r++)
                total += w[r] * Ops.SoftmaxCrossEntropy(AsTensor(logits[(r * Classes)..((r + 1) * Classes)], 1, Classes), new Labels(new[] { y[r] })).Value;
            return total / Rows;
        }

        AssertGradient(z, d, Frozen);
        AssertRowSumsZero(d);
        // γ = 0: w = 1, cross-entropy.
        Assert.Equal(Ops.SoftmaxCrossEntropy(AsTensor(z, Rows, Classes), new Labels(y)).Value, TaiLr.Forward<double>(z, y, Rows, Classes, 0, 0), 12);
        Assert.Throws<ArgumentOutOfRangeException>(() => TaiLr.Forward<double>(z, y, Rows, Classes, 1.5, 0));
    }

    private static (double[] Embeddings, double[] Scores) Pairs(int pairs, int dim, int seed)
    {
        var random = new System.Random(seed);
        // Around one common direction, so the cosine gaps stay small (SEEDS §3: with λ = 20 the
        // curvature is about λ², and large gaps leave tiny gradients under rounding noise).
        var common = new double[dim];
        for (int k = 0; k < dim; k++) common[k] = random.NextDouble() * 2 - 1;
        var e = new double[2 * pairs * dim];
        for (int i = 0; i < e.Length; i++) e[i] = common[i % dim] + 0.3 * (random.NextDouble() * 2 - 1);
        var s = new double[pairs];
        for (int i = 0; i < pairs; i++) s[i] = Math.Round(random.NextDouble() * 5, 1);
        s[^1] = s[0]; // a tie
        return (e, s);
    }

    [Theory]
    [InlineData(20.0)]
    [InlineData(1.0)]
    public void CoSent_matches_its_reference_and_differences(double lambda)
    {
        const int P = 6, D = 5;
        var (e, s) = Pairs(P, D, 5);
        var scratch = new double[CoSent.ScratchPerPair * P];
        var d = new double[e.Length];
        double loss = CoSent.ForwardBackward<double>(e, s, P, D, lambda, scratch, d, 1.0);
        double Reference(double[] embeddings) => Ops.CoSent(AsTensor(embeddings, 2 * P, D), new Scores(s), lambda);
        Assert.Equal(Reference(e), loss, 11);
        Assert.Equal(loss, CoSent.Forward<double>(e, s, P, D, lambda, scratch), 14);
        AssertGradient(e, d, Reference);
        // Σ_j ∂L/∂c_j = 0 (SEEDS §3): the second half of the scratch holds ∂L/∂c after a pass.
        CoSent.ForwardBackward<double>(e, s, P, D, lambda, scratch, d, 1.0);
        double sum = 0;
        for (int i = 0; i < P; i++) sum += scratch[P + i];
        Assert.True(Math.Abs(sum) < 1e-12, $"Σ ∂L/∂c = {sum}");
    }

    [Fact]
    public void CoSent_is_stable_for_large_gaps_and_zero_without_ordered_pairs()
    {
        const int P = 2, D = 2;
        // Pair 0 (higher score) has cosine −1, pair 1 cosine +1: λ·gap = 40·… overflows a naive float sum.
        float[] e = { 1, 0, -1, 0, 1, 0, 1, 0 };
        var scratch = new double[4];
        double loss = CoSent.Forward<float>(e, new float[] { 5, 0 }, P, D, 1000, scratch);
        Assert.Equal(2000, loss, 6); // ln(1 + e^{2000}) = 2000
        Assert.Equal(0, CoSent.Forward<float>(e, new float[] { 3, 3 }, P, D, 20, scratch)); // ln 1
        Assert.Throws<ArgumentOutOfRangeException>(() => CoSent.Forward<float>(e, new float[] { 3, 3 }, P, D, 0, scratch));
    }

    [Fact]
    public void Cosine_mse_matches_its_reference_and_differences()
    {
        const int P = 5, D = 4;
        var (e, s) = Pairs(P, D, 6);
        for (int i = 0; i < P; i++) s[i] /= 5;
        var scratch = new double[CosineMse.ScratchPerPair * P];
        var d = new double[e.Length];
        double loss = CosineMse.ForwardBackward<double>(e, s, P, D, scratch, d, 1.0);
        double Reference(double[] embeddings) => Ops.CosineMse(AsTensor(embeddings, 2 * P, D), new Scores(s));
        Assert.Equal(Reference(e), loss, 12);
        AssertGradient(e, d, Reference);
    }

    [Fact]
    public void Mean_pool_matches_the_eager_reference_and_its_adjoint()
    {
        const int B = 3, T = 4, D = 3;
        int[] ids = { 5, 2, 0, 0, 0, 0, 0, 0, 1, 1, 1, 7 }; // the second example is all pads
        var random = new System.Random(7);
        var x = new double[B * T * D];
        for (int i = 0; i < x.Length; i++) x[i] = random.NextDouble() - 0.5;
        var y = new double[B * D];
        MeanPool.Forward<double>(x, ids, B, T, D, 0, y);
        var idTensor = new Tensor(B * T, 1);
        for (int i = 0; i < ids.Length; i++) idTensor[i, 0] = ids[i];
        var reference = Dsl.Runtime.Eager.MeanPool(AsTensor(x, B * T, D), idTensor, 0, T);
        for (int i = 0; i < y.Length; i++) Assert.Equal(reference.Data[i], y[i], 14);
        Assert.Equal(new double[D], y[D..(2 * D)]);

        // ⟨dy, pool(x)⟩ = ⟨pool*(dy), x⟩, and pad positions get exactly 0 (or keep their value when accumulating).
        var dy = new double[B * D];
        for (int i = 0; i < dy.Length; i++) dy[i] = random.NextDouble() - 0.5;
        var dx = new double[x.Length];
        MeanPool.Backward<double>(dy, ids, B, T, D, 0, dx, accumulate: false);
        double left = 0, right = 0;
        for (int i = 0; i < y.Length; i++) left += dy[i] * y[i];
        for (int i = 0; i < x.Length; i++) right += dx[i] * x[i];
        Assert.Equal(left, right, 13);
        Assert.All(dx[(2 * D)..(4 * D)], v => Assert.Equal(0, v));
        var accumulated = new double[x.Length];
        accumulated.AsSpan().Fill(1);
        MeanPool.Backward<double>(dy, ids, B, T, D, 0, accumulated, accumulate: true);
        for (int i = 0; i < x.Length; i++) Assert.Equal(1 + dx[i], accumulated[i], 14);
    }
}
