using System;
using System.Runtime.Intrinsics;
using Dsl.Kernels;
using Xunit;

namespace Dsl.Tests.Kernels;

public sealed class ActivationTests
{
    [Theory]
    [MemberData(nameof(ActivationCases.All), MemberType = typeof(ActivationCases))]
    public void Derivative_matches_central_differences_in_double(string name) =>
        ActivationCases.Visit(name, new FiniteDifferenceCheck());

    [Theory]
    [MemberData(nameof(ActivationCases.All), MemberType = typeof(ActivationCases))]
    public void Vector_path_agrees_with_scalar_path(string name) =>
        ActivationCases.Visit(name, new VectorScalarCheck());

    [Theory]
    [MemberData(nameof(ActivationCases.All), MemberType = typeof(ActivationCases))]
    public void Float_path_agrees_with_double_path(string name) =>
        ActivationCases.Visit(name, new FloatDoubleCheck());

    [Theory]
    [MemberData(nameof(ActivationCases.All), MemberType = typeof(ActivationCases))]
    public void Forward_in_place_and_backward_in_place_match_out_of_place(string name) =>
        ActivationCases.Visit(name, new AliasingCheck());

    [Theory]
    [MemberData(nameof(ActivationReferenceValues.Cases), MemberType = typeof(ActivationReferenceValues))]
    public void Matches_high_precision_reference_values(string name, double x, double expectedY, double expectedDerivative) =>
        ActivationCases.Visit(name, new ReferenceValueCheck(x, expectedY, expectedDerivative));

    [Fact]
    public void Derivative_needs_input_only_where_y_does_not_determine_it()
    {
        Assert.False(new Identity<double>().DerivativeNeedsInput);
        Assert.False(new Relu<double>().DerivativeNeedsInput);
        Assert.False(new Tanh<double>().DerivativeNeedsInput);
        Assert.False(new Sigmoid<double>().DerivativeNeedsInput);
        Assert.True(new GeluTanh<double>().DerivativeNeedsInput);
        Assert.True(new GeluErf<double>().DerivativeNeedsInput);
        Assert.True(new Silu<double>().DerivativeNeedsInput);
        Assert.True(new Softplus<double>().DerivativeNeedsInput);
        Assert.True(new SquarePlus<double>().DerivativeNeedsInput);
    }

    [Theory]
    [InlineData(9)]
    [InlineData(37)]
    public void Backward_of_y_only_activations_accepts_an_empty_x(int length)
    {
        double[] y = new double[length];
        double[] dy = new double[length];
        for (int i = 0; i < length; i++)
        {
            y[i] = Math.Tanh((i * 0.37) - 3);
            dy[i] = 1 + (i * 0.01);
        }

        double[] dx = new double[length];
        Activation.Backward(new Tanh<double>(), ReadOnlySpan<double>.Empty, y, dy, dx);
        for (int i = 0; i < length; i++)
        {
            Assert.Equal((1 - (y[i] * y[i])) * dy[i], dx[i], 15);
        }
    }

    [Fact]
    public void Drivers_reject_short_spans()
    {
        double[] x = new double[10];
        Assert.Throws<ArgumentException>(() => Activation.Forward(new Relu<double>(), x, new double[9]));
        Assert.Throws<ArgumentException>(() => Activation.Backward(new Relu<double>(), x, x, x, new double[9]));
        Assert.Throws<ArgumentException>(() => Activation.Backward(new Relu<double>(), x, new double[9], x, x));
        ArgumentException e = Assert.Throws<ArgumentException>(() => Activation.Backward(new Silu<double>(), ReadOnlySpan<double>.Empty, x, x, x));
        Assert.Contains("x", e.ParamName);
    }

    [Fact]
    public void Erf_and_erfc_match_known_values()
    {
        foreach ((double z, double erf, double erfc) in ActivationReferenceValues.Erf)
        {
            AssertRelative(erf, ErrorFunction.Erf(z), 2e-15, $"erf({z})");
            AssertRelative(erfc, ErrorFunction.Erfc(z), 2e-15, $"erfc({z})");
            AssertRelative(erf, ErrorFunction.Erf(Vector256.Create(z)).GetElement(3), 2e-15, $"vector erf({z})");
        }

        Assert.Equal(0.5204998778130465, ErrorFunction.Erf(0.5), 15);
        Assert.Equal(0.8427007929497149, ErrorFunction.Erf(1), 15);
        Assert.Equal(0.9953222650189527, ErrorFunction.Erf(2), 15);
        Assert.Equal(-0.9999779095030014, ErrorFunction.Erf(-3), 15);
        Assert.Equal(1.0, ErrorFunction.Erf(double.PositiveInfinity));
        Assert.Equal(-1.0, ErrorFunction.Erf(double.NegativeInfinity));
        Assert.Equal(0.0, ErrorFunction.Erfc(double.PositiveInfinity));
        Assert.True(double.IsNaN(ErrorFunction.Erf(double.NaN)));
    }

    [Fact]
    public void Erf_matches_an_independent_series_on_a_fine_grid()
    {
        // erf x = (2/√π) e^{−x²} Σ_n 2ⁿ x^{2n+1} / (1·3·…·(2n+1)): all terms positive, so no cancellation.
        for (double x = 0.01; x < 3.5; x += 0.0137)
        {
            double term = x, sum = x;
            for (int n = 1; term > 1e-18 * sum; n++)
            {
                term *= 2 * x * x / ((2 * n) + 1);
                sum += term;
            }

            double reference = 2 / Math.Sqrt(Math.PI) * Math.Exp(-x * x) * sum;
            AssertRelative(reference, ErrorFunction.Erf(x), 4e-15, $"erf({x})");
            AssertRelative(-reference, ErrorFunction.Erf(-x), 4e-15, $"erf({-x})");
        }
    }

    [Fact]
    public void Float_normal_cdf_is_accurate_to_a_few_ulp()
    {
        // Φ in float lanes against the double algorithm (itself ~1e-16): under 2 ulp where |x/√2| ≤ 0.46875
        // (one short rational), about 3 ulp beyond, where Φ is an exponential times a degree-8 rational.
        double worstCentre = 0, worstTail = 0;
        for (int i = 0; i < 200_000; i++)
        {
            float x = (float)(-12 + (i * 1e-4));
            double reference = ErrorFunction.NormalCdf((double)x);
            double value = ErrorFunction.NormalCdf(Vector256.Create(x)).GetElement(5);
            double error = Math.Abs(value / reference - 1);
            if (Math.Abs(x) <= 0.46875 * Math.Sqrt(2))
            {
                worstCentre = Math.Max(worstCentre, error);
            }
            else
            {
                worstTail = Math.Max(worstTail, error);
            }
        }

        Assert.True(worstCentre <= 2e-7, $"centre: {worstCentre:E2}");
        Assert.True(worstTail <= 5e-7, $"tail: {worstTail:E2}");
    }

    [Fact]
    public void GeluErf_gives_erf_through_its_definition()
    {
        // f(√2 z) = ½√2 z (1 + erf z): erf(0.5), erf(1), erf(2), erf(−3) recovered from the activation itself.
        var gelu = new GeluErf<double>();
        foreach ((double z, double erf) in new[] { (0.5, 0.5204998778130465), (1.0, 0.8427007929497149), (2.0, 0.9953222650189527), (-3.0, -0.9999779095030014) })
        {
            double x = Math.Sqrt(2) * z;
            double[] xs = [x, x, x, x, x, x, x, x, x];
            double[] ys = new double[9];
            Activation.Forward(gelu, xs, ys);
            foreach (double y in ys)
            {
                AssertRelative(erf, (2 * y / x) - 1, 1e-14, $"erf({z}) via GeluErf");
            }
        }
    }

    [Fact]
    public void SquarePlus_is_stable_for_large_negative_x()
    {
        // f(−1e4) = 4/(2(√(1e8 + 4) + 1e4)) = 9.999999900000002e-05; the naive (x + √(x² + b))/2 keeps ~8 digits.
        const double expected = 9.999999900000002e-05;
        var sp = new SquarePlus<double>(4);
        AssertRelative(expected, sp.Forward(-1e4), 2e-16, "scalar");
        double[] x = [-1e4, -1e4, -1e4, -1e4, -1e4];
        double[] y = new double[5];
        Activation.Forward(sp, x, y);
        Assert.All(y, v => AssertRelative(expected, v, 2e-16, "vector"));
        double naive = (-1e4 + Math.Sqrt(1e8 + 4)) / 2;
        Assert.True(Math.Abs(naive / expected - 1) > 1e-10, "the test point must be one where the naive form fails");

        float[] xf = [-1e4f, -1e4f, -1e4f, -1e4f, -1e4f, -1e4f, -1e4f, -1e4f, -1e4f];
        float[] yf = new float[9];
        Activation.Forward(new SquarePlus<float>(4), xf, yf);
        Assert.All(yf, v => AssertRelative(expected, v, 2e-7, "float"));
    }

    [Fact]
    public void SquarePlus_with_b_zero_is_relu()
    {
        var sp = new SquarePlus<double>(0);
        var relu = new Relu<double>();
        double[] x = new double[37];
        for (int i = 0; i < x.Length; i++)
        {
            x[i] = (i - 18) * 0.731;
        }

        double[] ySp = new double[x.Length], yRelu = new double[x.Length];
        Activation.Forward(sp, x, ySp);
        Activation.Forward(relu, x, yRelu);
        Assert.Equal(yRelu, ySp);

        double[] dy = new double[x.Length];
        Array.Fill(dy, 1.0);
        double[] dSp = new double[x.Length], dRelu = new double[x.Length];
        Activation.Backward(sp, x, ySp, dy, dSp);
        Activation.Backward(relu, x, yRelu, dy, dRelu);
        Assert.Equal(dRelu, dSp); // including x = 0, where both give 0
    }

    [Fact]
    public void SquarePlus_default_is_b_four_and_rejects_bad_b()
    {
        Assert.Equal(4.0, new SquarePlus<double>().B);
        Assert.Equal(4.0, default(SquarePlus<double>).B);
        Assert.Equal(1.0, new SquarePlus<double>(1).B);
        ArgumentOutOfRangeException e = Assert.Throws<ArgumentOutOfRangeException>(() => new SquarePlus<double>(-1));
        Assert.Contains("-1", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => new SquarePlus<float>(float.NaN));
        Assert.Throws<ArgumentOutOfRangeException>(() => new SquarePlus<float>(float.PositiveInfinity));
    }

    [Fact]
    public void Saturating_activations_stay_finite_and_exact_at_the_extremes()
    {
        double[] x = [-1e4, -800, -740, -30, 30, 800, 1e4, double.PositiveInfinity, double.NegativeInfinity];
        double[] y = new double[x.Length];

        Activation.Forward(new Sigmoid<double>(), x, y);
        Assert.Equal([0, 0, 4.2e-322, 9.357622968839299e-14, 0.9999999999999064, 1, 1, 1, 0], y, new RelativeComparer(2e-16));

        Activation.Forward(new Tanh<double>(), x, y);
        Assert.Equal([-1, -1, -1, -1, 1, 1, 1, 1, -1], y);

        Activation.Forward(new Softplus<double>(), x, y);
        // ln(1 + e^{−740}) = e^{−740} is a subnormal 4.2e-322, and the stable form keeps it.
        Assert.Equal([0, 0, 4.2e-322, 9.357622968839737e-14, 30.000000000000092, 800, 1e4, double.PositiveInfinity, 0], y, new RelativeComparer(1e-15));

        double[] yf = new double[x.Length];
        Activation.Forward(new Silu<double>(), x, yf);
        Assert.All(yf[..7], v => Assert.True(double.IsFinite(v)));

        Activation.Forward(new GeluErf<double>(), x[..7], y.AsSpan(0, 7));
        Assert.Equal([0, 0, 0, -1.472014178144456e-196, 30, 800, 1e4], y[..7], new RelativeComparer(1e-14));
    }

    [Fact]
    public void Relu_propagates_nan_in_both_paths()
    {
        double[] x = new double[11];
        x[2] = double.NaN;
        x[9] = double.NaN;
        double[] y = new double[11];
        Activation.Forward(new Relu<double>(), x, y);
        Assert.True(double.IsNaN(y[2]));
        Assert.True(double.IsNaN(y[9]));
    }

    internal static void AssertRelative(double expected, double actual, double tolerance, string what)
    {
        double scale = Math.Max(Math.Abs(expected), 1e-300);
        double error = Math.Abs(actual - expected) / scale;
        Assert.True(error <= tolerance, $"{what}: expected {expected:R}, got {actual:R} (relative error {error:E2} > {tolerance:E2})");
    }

    private sealed class RelativeComparer(double tolerance) : System.Collections.Generic.IEqualityComparer<double>
    {
        public bool Equals(double a, double b) =>
            a.Equals(b) || Math.Abs(a - b) <= tolerance * Math.Max(Math.Abs(a), Math.Abs(b));

        public int GetHashCode(double value) => 0;
    }

    /// <summary>
    /// dx from <see cref="Activation.Backward"/> against dy·(f(x + h) − f(x − h))/(2h) with f from
    /// <see cref="Activation.Forward"/> (so the vector lanes are differenced too), h = 6e-6·max(1, |x|),
    /// relative error ≤ 1e-6 (SEEDS.md §3), points at least 1e-3 from a kink.
    /// </summary>
    private sealed class FiniteDifferenceCheck : IActivationVisitor
    {
        public void Visit<TD, TF>(string name, TD d, TF f, double kink)
            where TD : struct, IActivation<double>
            where TF : struct, IActivation<float>
        {
            var rng = new System.Random(name.Length * 7919);
            int checkedPoints = 0;
            foreach (int n in ActivationCases.Lengths())
            {
                double[] x = new double[n], dy = new double[n], xp = new double[n], xm = new double[n];
                for (int i = 0; i < n; i++)
                {
                    do
                    {
                        x[i] = (rng.NextDouble() * 12) - 6;
                    }
                    while (!double.IsNaN(kink) && Math.Abs(x[i] - kink) < 1e-3);

                    dy[i] = (rng.NextDouble() * 3) - 1.5;
                    double h = 6e-6 * Math.Max(1, Math.Abs(x[i]));
                    xp[i] = x[i] + h;
                    xm[i] = x[i] - h;
                }

                double[] y = new double[n], yp = new double[n], ym = new double[n], dx = new double[n];
                Activation.Forward(d, x, y);
                Activation.Forward(d, xp, yp);
                Activation.Forward(d, xm, ym);
                Activation.Backward(d, x, y, dy, dx);
                for (int i = 0; i < n; i++)
                {
                    double numeric = dy[i] * (yp[i] - ym[i]) / (xp[i] - xm[i]);
                    double error = ActivationCases.RelativeError(dx[i], numeric);
                    Assert.True(error <= 1e-6, $"{name}, length {n}, x = {x[i]:R}: analytic {dx[i]:R}, numeric {numeric:R}, error {error:E2}");
                    checkedPoints++;
                }
            }

            Assert.True(checkedPoints > 1000);
        }
    }

    /// <summary>The driver's vector lanes against the scalar functions, over a wide range, to a few ulp.</summary>
    private sealed class VectorScalarCheck : IActivationVisitor
    {
        public void Visit<TD, TF>(string name, TD d, TF f, double kink)
            where TD : struct, IActivation<double>
            where TF : struct, IActivation<float>
        {
            var rng = new System.Random(17 + name.Length);
            const int n = 4003;
            double[] x = new double[n];
            for (int i = 0; i < n; i++)
            {
                x[i] = (i % 4) switch
                {
                    0 => (rng.NextDouble() * 80) - 40,
                    1 => (rng.NextDouble() * 4) - 2,
                    2 => ((rng.NextDouble() * 2) - 1) * Math.Pow(10, -rng.Next(0, 12)),
                    _ => (rng.NextDouble() * 1.5) - 0.75, // around the tanh and erf range switches
                };
            }

            double[] y = new double[n], dy = new double[n], dx = new double[n];
            Array.Fill(dy, 1.0);
            Activation.Forward(d, x, y);
            Activation.Backward(d, x, y, dy, dx);
            for (int i = 0; i < n; i++)
            {
                double ys = d.Forward(x[i]);
                Assert.True(Math.Abs(y[i] - ys) <= 1e-14 * Math.Max(Math.Abs(ys), 1e-300), $"{name} f({x[i]:R}): vector {y[i]:R}, scalar {ys:R}");

                // Derivatives are O(1) sums that can cancel (GELU' = Φ + xφ near x = −0.75), so allow
                // an absolute 4e-16 (2 ulp of 1); y-only derivatives (1 − y², y(1 − y)) inherit a few ulp of y.
                double ds = d.Derivative(x[i], y[i]);
                double slack = d.DerivativeNeedsInput ? 4e-16 : 1e-15;
                Assert.True(Math.Abs(dx[i] - ds) <= (1e-14 * Math.Abs(ds)) + slack, $"{name} f'({x[i]:R}): vector {dx[i]:R}, scalar {ds:R}");
            }
        }
    }

    /// <summary>The float instantiation (vector and tail) against the double one on the same inputs.</summary>
    private sealed class FloatDoubleCheck : IActivationVisitor
    {
        public void Visit<TD, TF>(string name, TD d, TF f, double kink)
            where TD : struct, IActivation<double>
            where TF : struct, IActivation<float>
        {
            var rng = new System.Random(23 + name.Length);
            foreach (int n in ActivationCases.Lengths())
            {
                float[] xf = new float[n], dyf = new float[n];
                double[] xd = new double[n], dyd = new double[n];
                for (int i = 0; i < n; i++)
                {
                    xf[i] = (float)((rng.NextDouble() * 8) - 4);
                    xd[i] = xf[i];
                    dyf[i] = 1;
                    dyd[i] = 1;
                }

                float[] yf = new float[n], dxf = new float[n];
                double[] yd = new double[n], dxd = new double[n];
                Activation.Forward(f, xf, yf);
                Activation.Backward(f, xf, yf, dyf, dxf);
                Activation.Forward(d, xd, yd);
                Activation.Backward(d, xd, yd, dyd, dxd);
                for (int i = 0; i < n; i++)
                {
                    // Relative 1e-6, with an absolute floor of 1e-7 for values near a zero of f or f'
                    // (float's own spacing near 1 is 1.2e-7, and y-only derivatives like 1 − y² inherit it).
                    Assert.True(Math.Abs(yf[i] - yd[i]) <= (1e-6 * Math.Abs(yd[i])) + 1e-7, $"{name} f({xd[i]:R}): float {yf[i]:R}, double {yd[i]:R}");
                    Assert.True(Math.Abs(dxf[i] - dxd[i]) <= (1e-6 * Math.Abs(dxd[i])) + 1e-7, $"{name} f'({xd[i]:R}): float {dxf[i]:R}, double {dxd[i]:R}");
                }
            }
        }
    }

    private sealed class AliasingCheck : IActivationVisitor
    {
        public void Visit<TD, TF>(string name, TD d, TF f, double kink)
            where TD : struct, IActivation<double>
            where TF : struct, IActivation<float>
        {
            const int n = 29;
            double[] x = new double[n], dy = new double[n];
            for (int i = 0; i < n; i++)
            {
                x[i] = (i * 0.41) - 5.3;
                dy[i] = 0.5 + (i * 0.03);
            }

            double[] y = new double[n], dx = new double[n];
            Activation.Forward(d, x, y);
            Activation.Backward(d, x, y, dy, dx);

            double[] inPlace = (double[])x.Clone();
            Activation.Forward(d, inPlace, inPlace);
            Assert.Equal(y, inPlace);

            double[] dInPlace = (double[])dy.Clone();
            Activation.Backward(d, x, y, dInPlace, dInPlace);
            Assert.Equal(dx, dInPlace);
        }
    }

    private sealed class ReferenceValueCheck(double x, double expectedY, double expectedDerivative) : IActivationVisitor
    {
        public void Visit<TD, TF>(string name, TD d, TF f, double kink)
            where TD : struct, IActivation<double>
            where TF : struct, IActivation<float>
        {
            // Scalar path, then the same x in every lane of the vector path (and one scalar tail element).
            double y = d.Forward(x);
            AssertRelative(expectedY, y, 1e-14, $"{name} scalar f({x})");
            double[] xs = new double[5];
            Array.Fill(xs, x);
            double[] ys = new double[5], dys = new double[5], dxs = new double[5];
            Array.Fill(dys, 1.0);
            Activation.Forward(d, xs, ys);
            Activation.Backward(d, xs, ys, dys, dxs);
            Assert.All(ys, v => AssertRelative(expectedY, v, 1e-14, $"{name} vector f({x})"));

            double slack = d.DerivativeNeedsInput ? 0 : 1e-15;
            double dScalar = d.Derivative(x, y);
            Assert.True(Math.Abs(dScalar - expectedDerivative) <= (1e-14 * Math.Abs(expectedDerivative)) + slack, $"{name} scalar f'({x}) = {dScalar:R}, expected {expectedDerivative:R}");
            Assert.All(dxs, v => Assert.True(Math.Abs(v - expectedDerivative) <= (1e-14 * Math.Abs(expectedDerivative)) + slack, $"{name} vector f'({x}) = {v:R}, expected {expectedDerivative:R}"));
        }
    }
}
