using System;
using System.Globalization;

namespace Dsl;

/// <summary>
/// Built-in operations usable in a forward pass. The generator recognises these calls and emits
/// fused kernels for them; called directly, they run the eager double-precision reference.
/// The reference formulas here are written independently of the SIMD kernels on purpose: they are
/// the oracle the kernels are tested against.
/// </summary>
public static partial class Ops
{
    /// <summary>max(x, 0).</summary>
    public static Tensor Relu(Tensor x) => Map(x, static v => v > 0 ? v : 0);
    /// <summary>GELU, tanh approximation: 0.5x(1 + tanh(√(2/π)(x + 0.044715x³))).</summary>
    public static Tensor Gelu(Tensor x) => Map(x, static v => 0.5 * v * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v))));
    /// <summary>GELU, exact: 0.5x(1 + erf(x/√2)).</summary>
    public static Tensor GeluExact(Tensor x) => Map(x, static v => 0.5 * v * (1 + ReferenceMath.Erf(v / Math.Sqrt(2))));
    /// <summary>SiLU: x·σ(x).</summary>
    public static Tensor Silu(Tensor x) => Map(x, static v => v / (1 + Math.Exp(-v)));
    /// <summary>Softplus: ln(1 + eˣ).</summary>
    public static Tensor Softplus(Tensor x) => Map(x, static v => Math.Max(v, 0) + Math.Log(1 + Math.Exp(-Math.Abs(v))));
    /// <summary>SquarePlus: (x + √(x² + b))/2.</summary>
    public static Tensor SquarePlus(Tensor x, double b = 4) => Map(x, v => (v + Math.Sqrt(v * v + b)) / 2);
    /// <summary>tanh(x).</summary>
    public static Tensor Tanh(Tensor x) => Map(x, Math.Tanh);
    /// <summary>σ(x) = 1/(1 + e⁻ˣ).</summary>
    public static Tensor Sigmoid(Tensor x) => Map(x, static v => 1 / (1 + Math.Exp(-v)));

    /// <summary>cumax (ON-LSTM's master gates): per row, the prefix sum of softmax over the features,
    /// y_j = Σ_{k≤j} e^{x_k} / Σ_k e^{x_k}; it rises from the first feature's share to 1.</summary>
    public static Tensor Cumax(Tensor x)
    {
        var y = new Tensor(x.Rows, x.Columns);
        for (int r = 0; r < x.Rows; r++)
        {
            double max = double.NegativeInfinity;
            for (int c = 0; c < x.Columns; c++) max = Math.Max(max, x[r, c]);
            double sum = 0;
            for (int c = 0; c < x.Columns; c++) sum += Math.Exp(x[r, c] - max);
            double running = 0;
            for (int c = 0; c < x.Columns; c++)
            {
                running += Math.Exp(x[r, c] - max);
                y[r, c] = running / sum;
            }
        }

        return y;
    }

    /// <summary>Mean over rows of −log softmax(logits)[label].</summary>
    public static Scalar SoftmaxCrossEntropy(Tensor logits, Labels labels)
    {
        if (labels.Count != logits.Rows)
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"{labels.Count} labels for {logits.Rows} rows of logits"), nameof(labels));
        double total = 0;
        for (int r = 0; r < logits.Rows; r++)
        {
            int y = labels.Values[r];
            if ((uint)y >= (uint)logits.Columns)
                throw new ArgumentOutOfRangeException(nameof(labels), string.Create(CultureInfo.InvariantCulture, $"label {y} in row {r} is outside [0, {logits.Columns})"));
            double max = double.NegativeInfinity;
            for (int c = 0; c < logits.Columns; c++) max = Math.Max(max, logits[r, c]);
            double sum = 0;
            for (int c = 0; c < logits.Columns; c++) sum += Math.Exp(logits[r, c] - max);
            total += Math.Log(sum) + max - logits[r, y];
        }
        return new Scalar(total / logits.Rows);
    }

    /// <summary>Mean over all elements of (prediction − target)².</summary>
    public static Scalar MeanSquaredError(Tensor predictions, Tensor targets)
    {
        Tensor.RequireSameShape(predictions, targets, nameof(MeanSquaredError));
        double total = 0;
        for (int i = 0; i < predictions.Data.Length; i++)
        {
            double d = predictions.Data[i] - targets.Data[i];
            total += d * d;
        }
        return new Scalar(total / predictions.Data.Length);
    }

    private static Tensor Map(Tensor x, Func<double, double> f)
    {
        var y = new Tensor(x.Rows, x.Columns);
        for (int i = 0; i < y.Data.Length; i++) y.Data[i] = f(x.Data[i]);
        return y;
    }
}

/// <summary>Scalar special functions for the reference path.</summary>
internal static class ReferenceMath
{
    /// <summary>erf by its Maclaurin series for |x| &lt; 3 and a continued fraction for erfc beyond (about 1e-14).</summary>
    public static double Erf(double x)
    {
        double a = Math.Abs(x);
        double r;
        if (a < 3)
        {
            // erf x = 2/√π Σ (−1)ⁿ x^(2n+1) / (n! (2n+1))
            double term = a, sum = a, x2 = a * a;
            for (int n = 1; n < 200; n++)
            {
                term *= -x2 / n;
                double t = term / (2 * n + 1);
                sum += t;
                if (Math.Abs(t) < 1e-17 * Math.Abs(sum)) break;
            }
            r = 2 / Math.Sqrt(Math.PI) * sum;
        }
        else
        {
            // erfc x = e^(−x²)/√π · 1/(x + 1/2/(x + 1/(x + 3/2/(x + …)))) evaluated bottom-up
            double f = a;
            for (int k = 60; k >= 1; k--) f = a + k / 2.0 / f;
            r = 1 - Math.Exp(-a * a) / Math.Sqrt(Math.PI) / f;
        }
        return x < 0 ? -r : r;
    }
}
