using System;
using System.Numerics;
using Dsl.Optimizers;
using Xunit;

namespace Dsl.Tests.Optimizers;

public sealed class GradientClippingTests
{
    // The layout of OptimizerTests: a 13-element matrix, two uncovered elements, a 5-element bias.
    private const int Count = 20;
    private static readonly ParameterTensor[] s_tensors =
    [
        new("hidden.weight", 0, 13, IsMatrix: true),
        new("hidden.bias", 15, 5, IsMatrix: false),
    ];

    private static double Theta0(int i) => 0.5 - (0.07 * i);

    private static double Grad(int i, int t) => Math.Sin((1.3 * i) + (0.7 * t)) * (1 + (0.1 * t));

    private static bool Covered(int i) => i < 13 || i >= 15;

    /// <summary>√Σ g² over the covered elements at step t (the uncovered ones carry a huge gradient
    /// in <see cref="Run{T}"/> to prove they are left out).</summary>
    private static double Norm(int t)
    {
        double sum = 0;
        for (int i = 0; i < Count; i++)
        {
            if (Covered(i))
            {
                sum += Grad(i, t) * Grad(i, t);
            }
        }

        return Math.Sqrt(sum);
    }

    /// <summary>PyTorch's clip_grad_norm_ factor: max/(norm + 1e-6), applied only below 1.</summary>
    private static double Factor(int t, double max)
    {
        double factor = max / (Norm(t) + 1e-6);
        return max > 0 && factor < 1 ? factor : 1;
    }

    private static double[] AdamWClosedForm(int steps, double lr, double b1, double b2, double eps, double wd, double max)
    {
        double[] theta = new double[Count], m = new double[Count], v = new double[Count];
        for (int i = 0; i < Count; i++)
        {
            theta[i] = Theta0(i);
        }

        for (int t = 1; t <= steps; t++)
        {
            double c = Factor(t, max);
            for (int i = 0; i < Count; i++)
            {
                if (!Covered(i))
                {
                    continue;
                }

                double g = c * Grad(i, t);
                if (i < 13)
                {
                    theta[i] -= lr * wd * theta[i];
                }

                m[i] = (b1 * m[i]) + ((1 - b1) * g);
                v[i] = (b2 * v[i]) + ((1 - b2) * g * g);
                theta[i] -= lr * (m[i] / (1 - Math.Pow(b1, t))) / (Math.Sqrt(v[i] / (1 - Math.Pow(b2, t))) + eps);
            }
        }

        return theta;
    }

    private static double[] SgdClosedForm(int steps, double lr, double mu, double max)
    {
        double[] theta = new double[Count], velocity = new double[Count];
        for (int i = 0; i < Count; i++)
        {
            theta[i] = Theta0(i);
        }

        for (int t = 1; t <= steps; t++)
        {
            double c = Factor(t, max);
            for (int i = 0; i < Count; i++)
            {
                if (Covered(i))
                {
                    velocity[i] = (mu * velocity[i]) + (c * Grad(i, t));
                    theta[i] -= lr * velocity[i];
                }
            }
        }

        return theta;
    }

    private static T[] Run<T>(Optimizer optimizer, int steps, double[]? norms = null) where T : unmanaged, IFloatingPointIeee754<T>
    {
        T[] theta = new T[Count], grad = new T[Count], state = new T[Optimizer.MaxStateSlots * Count];
        for (int i = 0; i < Count; i++)
        {
            theta[i] = T.CreateTruncating(Theta0(i));
        }

        for (int t = 1; t <= steps; t++)
        {
            for (int i = 0; i < Count; i++)
            {
                grad[i] = T.CreateTruncating(Covered(i) ? Grad(i, t) : 1e6);
            }

            T[] before = (T[])grad.Clone();
            optimizer.Step<T>(theta, grad, state, s_tensors);
            Assert.Equal(before, grad); // the factor is applied inside the update, never to the gradients
            if (norms is not null)
            {
                norms[t - 1] = optimizer.LastGradientNorm;
            }
        }

        return theta;
    }

    // Relative to max(|expected|, 0.01): θ crosses zero here, where float keeps only its absolute precision.
    private static void AssertClose<T>(double[] expected, T[] actual, double tolerance, string what) where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int i = 0; i < expected.Length; i++)
        {
            double a = double.CreateTruncating(actual[i]);
            Assert.True(Math.Abs(a - expected[i]) <= tolerance * Math.Max(Math.Abs(expected[i]), 1e-2), $"{what}[{i}]: expected {expected[i]:R}, got {a:R}");
        }
    }

    [Fact]
    public void The_last_gradient_norm_is_reported_with_clipping_off()
    {
        var opt = new AdamW(0.01);
        Assert.Equal(0, opt.MaxGradientNorm);
        Assert.Equal(0, opt.LastGradientNorm);
        double[] norms = new double[3];
        Run<double>(opt, 3, norms);
        double[] normsF = new double[3];
        Run<float>(new Sgd(0.1), 3, normsF);
        for (int t = 1; t <= 3; t++)
        {
            Assert.Equal(Norm(t), norms[t - 1], 14);
            Assert.True(Math.Abs(Norm(t) - normsF[t - 1]) <= 1e-7 * Norm(t), $"float norm {normsF[t - 1]:R} vs {Norm(t):R}");
        }

        Assert.Equal(5.0, Optimizer.GlobalNorm<double>(new double[] { 3, 99, 4 }, [new("a", 0, 1, true), new("b", 2, 1, false)]));
        Assert.Equal(0.0, Optimizer.GlobalNorm<float>([], []));
    }

    [Theory]
    [InlineData(0.0)]     // off
    [InlineData(1.0)]     // clips every step
    [InlineData(3.5)]     // clips steps 2 and 3 only (norms ≈ 3.28, 3.71, 3.97)
    [InlineData(1e6)]     // on but never reached
    public void AdamW_matches_the_closed_form_with_and_without_clipping(double max)
    {
        double[] expected = AdamWClosedForm(3, 0.01, 0.9, 0.999, 1e-8, 0.1, max);
        var opt = new AdamW(0.01, 0.9, 0.999, 1e-8, 0.1) { MaxGradientNorm = max };
        AssertClose(expected, Run<double>(opt, 3), 1e-13, "double");
        AssertClose(expected, Run<float>(new AdamW(0.01, 0.9, 0.999, 1e-8, 0.1) { MaxGradientNorm = max }, 3), 2e-6, "float");

        if (max is 0 or 1e6)
        {
            // An unclipped step is bit-for-bit the step of an optimizer without clipping.
            Assert.Equal(Run<double>(new AdamW(0.01, 0.9, 0.999, 1e-8, 0.1), 3), Run<double>(new AdamW(0.01, 0.9, 0.999, 1e-8, 0.1) { MaxGradientNorm = max }, 3));
        }
    }

    [Fact]
    public void The_partial_clipping_case_clips_some_steps_and_not_others()
    {
        Assert.True(Norm(1) < 3.5 && Norm(2) > 3.5 && Norm(3) > 3.5, $"norms {Norm(1)}, {Norm(2)}, {Norm(3)}");
    }

    [Fact]
    public void AdamW_with_clipping_matches_values_recorded_from_pytorch()
    {
        // torch 1.13, float64: AdamW(lr=0.01, betas=(0.9, 0.999), eps=1e-8), weight decay 0.1 on the
        // weight and 0 on the bias, torch.nn.utils.clip_grad_norm_([weight, bias], 2.5) before each
        // of 3 steps; clip_grad_norm_ returned 3.276554394272861, 3.707397927071994, 3.967172082107031.
        double[] weight =
        [
            0.4686509865609778, 0.4042342226343451, 0.386735244526181, 0.31779969122604546, 0.22456497648035376,
            0.11968875171227192, 0.0587063538590666, 0.03911903018753667, -0.0322946405993784, -0.13196088879477222,
            -0.2290048260397406, -0.2853188964457698, -0.30925295518962864,
        ];
        double[] bias = [-0.5790950813685165, -0.6293402595630103, -0.6600783697850344, -0.7370437301816049, -0.8586439991568712];
        double[] norms = new double[3];
        double[] theta = Run<double>(new AdamW(0.01, 0.9, 0.999, 1e-8, 0.1) { MaxGradientNorm = 2.5 }, 3, norms);
        AssertClose(weight, theta[..13], 1e-13, "weight");
        AssertClose(bias, theta[15..], 1e-13, "bias");
        Assert.Equal([3.276554394272861, 3.707397927071994, 3.967172082107031], norms, (a, b) => Math.Abs(a - b) <= 1e-14 * a);
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(1.0)]
    [InlineData(3.5)]
    public void Sgd_matches_the_closed_form_with_and_without_clipping(double max)
    {
        double[] expected = SgdClosedForm(3, 0.1, 0.9, max);
        AssertClose(expected, Run<double>(new Sgd(0.1, 0.9) { MaxGradientNorm = max }, 3), 1e-13, "double");
        AssertClose(expected, Run<float>(new Sgd(0.1, 0.9) { MaxGradientNorm = max }, 3), 3e-6, "float");
    }

    [Fact]
    public void Sgd_with_clipping_matches_values_recorded_from_pytorch()
    {
        // torch 1.13, float64: SGD([weight, bias], lr=0.1, momentum=0.9), clip_grad_norm_([weight, bias], 2.0), 3 steps.
        double[] weight =
        [
            0.2049980188444895, 0.2287258507951521, 0.5473207828660959, 0.5914903291922905, 0.1939758369350619,
            -0.16541319546390298, -0.06272115757372598, 0.24905771052206896, 0.21061647265038436, -0.2242785316410784,
            -0.5210552662072535, -0.3474852836273126, -0.06039917900464674,
        ];
        double[] bias = [-0.8616640048417374, -0.6286211807591937, -0.38294830666715296, -0.5871068826533415, -1.0445542805978778];
        double[] theta = Run<double>(new Sgd(0.1, 0.9) { MaxGradientNorm = 2.0 }, 3);
        AssertClose(weight, theta[..13], 1e-13, "weight");
        AssertClose(bias, theta[15..], 1e-13, "bias");
    }

    [Fact]
    public void A_non_finite_norm_is_reported_and_not_clipped()
    {
        var opt = new Sgd(0.1, 0) { MaxGradientNorm = 1 };
        double[] theta = new double[Count], grad = new double[Count], state = new double[Count];
        grad[0] = double.PositiveInfinity;
        opt.Step<double>(theta, grad, state, s_tensors);
        Assert.Equal(double.PositiveInfinity, opt.LastGradientNorm);
        Assert.Equal(double.NegativeInfinity, theta[0]);
        Assert.Equal(0.0, theta[1]);
    }

    [Fact]
    public void MaxGradientNorm_rejects_bad_values_naming_them()
    {
        var opt = new AdamW();
        var e = Assert.Throws<ArgumentException>(() => opt.MaxGradientNorm = -1);
        Assert.Equal("MaxGradientNorm", e.ParamName);
        Assert.StartsWith("MaxGradientNorm must be non-negative and finite, was -1", e.Message);
        Assert.Contains("was NaN", Assert.Throws<ArgumentException>(() => opt.MaxGradientNorm = double.NaN).Message);
        Assert.Throws<ArgumentException>(() => new Sgd(0.1) { MaxGradientNorm = double.PositiveInfinity });
        Assert.Equal(0, opt.MaxGradientNorm);
        opt.MaxGradientNorm = 1.0;
        opt.MaxGradientNorm = 0; // back off
        Assert.Equal(0, opt.MaxGradientNorm);
    }

    [Fact]
    public void Clipped_steps_allocate_nothing()
    {
        AssertNoAllocation<float>(new AdamW { MaxGradientNorm = 1e-3 });
        AssertNoAllocation<double>(new AdamW { MaxGradientNorm = 1e-3 });
        AssertNoAllocation<float>(new Sgd(0.1) { MaxGradientNorm = 1e-3 });
        AssertNoAllocation<double>(new Sgd(0.1));
    }

    private static void AssertNoAllocation<T>(Optimizer optimizer) where T : unmanaged, IFloatingPointIeee754<T>
    {
        T[] theta = new T[Count], grad = new T[Count], state = new T[Optimizer.MaxStateSlots * Count];
        grad.AsSpan().Fill(T.CreateTruncating(0.01));
        optimizer.Step<T>(theta, grad, state, s_tensors);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 100; i++)
        {
            optimizer.Step<T>(theta, grad, state, s_tensors);
        }

        Assert.Equal(before, GC.GetAllocatedBytesForCurrentThread());
        Assert.True(optimizer.LastGradientNorm > 0);
    }
}
