using System;
using System.Numerics;
using Dsl.Optimizers;
using Xunit;

namespace Dsl.Tests.Optimizers;

public sealed class OptimizerTests
{
    // A 13-element matrix (vector lanes plus a tail for float and double), two untouched elements,
    // then a 5-element bias that is not a matrix and must not be decayed.
    private const int Count = 20;
    private static readonly ParameterTensor[] s_tensors =
    [
        new("hidden.weight", 0, 13, IsMatrix: true),
        new("hidden.bias", 15, 5, IsMatrix: false),
    ];

    private static double Theta0(int i) => 0.5 - (0.07 * i);

    private static double Grad(int i, int t) => Math.Sin((1.3 * i) + (0.7 * t)) * (1 + (0.1 * t));

    private static bool Covered(int i) => i < 13 || i >= 15;

    private static bool IsMatrix(int i) => i < 13;

    /// <summary>The AdamW update written out in double, element by element.</summary>
    private static double[] AdamWClosedForm(int steps, double lr, double b1, double b2, double eps, double wd, bool decayAll)
    {
        double[] theta = new double[Count], m = new double[Count], v = new double[Count];
        for (int i = 0; i < Count; i++)
        {
            theta[i] = Theta0(i);
        }

        for (int t = 1; t <= steps; t++)
        {
            for (int i = 0; i < Count; i++)
            {
                if (!Covered(i))
                {
                    continue;
                }

                double g = Grad(i, t);
                if (IsMatrix(i) || decayAll)
                {
                    theta[i] -= lr * wd * theta[i];
                }

                m[i] = (b1 * m[i]) + ((1 - b1) * g);
                v[i] = (b2 * v[i]) + ((1 - b2) * g * g);
                double mHat = m[i] / (1 - Math.Pow(b1, t));
                double vHat = v[i] / (1 - Math.Pow(b2, t));
                theta[i] -= lr * mHat / (Math.Sqrt(vHat) + eps);
            }
        }

        return theta;
    }

    private static T[] Run<T>(Optimizer optimizer, int steps, T[] state) where T : unmanaged, IFloatingPointIeee754<T>
    {
        T[] theta = new T[Count], grad = new T[Count];
        for (int i = 0; i < Count; i++)
        {
            theta[i] = T.CreateTruncating(Theta0(i));
        }

        for (int t = 1; t <= steps; t++)
        {
            for (int i = 0; i < Count; i++)
            {
                grad[i] = T.CreateTruncating(Grad(i, t));
            }

            optimizer.Step<T>(theta, grad, state, s_tensors);
        }

        return theta;
    }

    private static void AssertClose<T>(double[] expected, T[] actual, double tolerance, string what) where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int i = 0; i < expected.Length; i++)
        {
            double a = double.CreateTruncating(actual[i]);
            Assert.True(Math.Abs(a - expected[i]) <= tolerance * Math.Max(Math.Abs(expected[i]), 1e-3), $"{what}[{i}]: expected {expected[i]:R}, got {a:R}");
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void AdamW_matches_the_closed_form_over_three_steps(bool decayAll)
    {
        double[] expected = AdamWClosedForm(3, 0.01, 0.9, 0.999, 1e-8, 0.1, decayAll);
        var opt = new AdamW(learningRate: 0.01, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0.1, decayAll: decayAll);
        double[] theta = Run(opt, 3, new double[2 * Count]);
        AssertClose(expected, theta, 1e-13, "double");
        Assert.Equal(3, opt.Steps);
        Assert.Equal(Theta0(13), theta[13]);
        Assert.Equal(Theta0(14), theta[14]);

        float[] thetaF = Run(new AdamW(0.01, 0.9, 0.999, 1e-8, 0.1, decayAll), 3, new float[2 * Count]);
        AssertClose(expected, thetaF, 2e-6, "float");
    }

    [Fact]
    public void AdamW_does_not_decay_vectors_unless_asked()
    {
        // Decay is the only difference between these runs: the bias must match the undecayed run
        // bit for bit unless DecayAll, and every matrix element must differ.
        double[] withDecay = Run(new AdamW(0.01, weightDecay: 0.5), 3, new double[2 * Count]);
        double[] noDecay = Run(new AdamW(0.01, weightDecay: 0), 3, new double[2 * Count]);
        double[] decayAll = Run(new AdamW(0.01, weightDecay: 0.5, decayAll: true), 3, new double[2 * Count]);
        for (int i = 15; i < 20; i++)
        {
            Assert.Equal(noDecay[i], withDecay[i]);
            Assert.NotEqual(noDecay[i], decayAll[i]);
        }

        for (int i = 0; i < 13; i++)
        {
            Assert.NotEqual(noDecay[i], withDecay[i]);
        }
    }

    [Fact]
    public void AdamW_matches_values_recorded_from_pytorch()
    {
        // torch 1.13, float64: torch.optim.AdamW(lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1),
        // the bias in a parameter group with weight_decay=0; same θ₀ and gradients as above, 3 steps.
        double[] weight =
        [
            0.46878043730839586, 0.4042573303504217, 0.3865019499688221, 0.31807226908676284, 0.2235453682731677,
            0.11968905555436761, 0.059122124131114694, 0.0388531404974581, -0.03202068688313991, -0.13236789215403466,
            -0.22913425884687064, -0.28455429163487334, -0.30943971120868297,
        ];
        double[] bias = [-0.579332367933927, -0.6283165509123355, -0.6601443874398158, -0.7372555221269804, -0.8583727997485475];
        double[] theta = Run(new AdamW(0.01, 0.9, 0.999, 1e-8, 0.1), 3, new double[2 * Count]);
        AssertClose(weight, theta[..13], 1e-13, "weight");
        AssertClose(bias, theta[15..], 1e-13, "bias");
    }

    [Fact]
    public void AdamW_state_holds_m_then_v()
    {
        double[] state = new double[2 * Count];
        Run(new AdamW(0.01, 0.9, 0.999), 1, state);
        for (int i = 0; i < Count; i++)
        {
            double g = Covered(i) ? Grad(i, 1) : 0;
            Assert.Equal(0.1 * g, state[i], 15);
            Assert.Equal(0.001 * g * g, state[Count + i], 15);
        }
    }

    [Fact]
    public void Sgd_matches_the_closed_form_over_three_steps()
    {
        const double lr = 0.1, mu = 0.9, wd = 0.05;
        double[] theta = new double[Count], velocity = new double[Count];
        for (int i = 0; i < Count; i++)
        {
            theta[i] = Theta0(i);
        }

        for (int t = 1; t <= 3; t++)
        {
            for (int i = 0; i < Count; i++)
            {
                if (!Covered(i))
                {
                    continue;
                }

                velocity[i] = t == 1 ? Grad(i, t) : (mu * velocity[i]) + Grad(i, t); // first step: v = g
                if (IsMatrix(i))
                {
                    theta[i] -= lr * wd * theta[i];
                }

                theta[i] -= lr * velocity[i];
            }
        }

        var opt = new Sgd(lr, mu, wd);
        double[] state = new double[Count];
        double[] actual = Run(opt, 3, state);
        AssertClose(theta, actual, 1e-14, "double");
        AssertClose(velocity, state, 1e-14, "velocity");
        Assert.Equal(3, opt.Steps);
        AssertClose(theta, Run(new Sgd(lr, mu, wd), 3, new float[Count]), 1e-6, "float");
    }

    [Fact]
    public void Sgd_matches_values_recorded_from_pytorch()
    {
        // torch 1.13, float64: torch.optim.SGD(lr=0.1, momentum=0.9), the 13-element weight, 3 steps.
        double[] weight =
        [
            -0.028941048667278296, 0.09471616763343906, 0.7095649838376431, 0.8123002797760456, 0.14986444222312975,
            -0.4098226388765353, -0.1493682424971268, 0.44711116649321136, 0.40322169252844914, -0.3192886462034943,
            -0.7644906747911863, -0.38271254234879676, 0.16418972869198162,
        ];
        double[] theta = Run(new Sgd(0.1, 0.9), 3, new double[Count]);
        AssertClose(weight, theta[..13], 1e-14, "weight");
    }

    [Fact]
    public void Sgd_without_momentum_is_plain_gradient_descent()
    {
        double[] theta = Run(new Sgd(0.25, momentum: 0), 2, new double[Count]);
        for (int i = 0; i < 13; i++)
        {
            Assert.Equal(Theta0(i) - (0.25 * Grad(i, 1)) - (0.25 * Grad(i, 2)), theta[i], 14);
        }
    }

    [Fact]
    public void Steps_allocate_nothing()
    {
        AssertNoAllocation<float>(new AdamW());
        AssertNoAllocation<double>(new AdamW(decayAll: true));
        AssertNoAllocation<float>(new Sgd(0.1, 0.9, 0.01));
        AssertNoAllocation<double>(new Sgd(0.1));
    }

    private static void AssertNoAllocation<T>(Optimizer optimizer) where T : unmanaged, IFloatingPointIeee754<T>
    {
        T[] theta = new T[Count], grad = new T[Count], state = new T[Optimizer.MaxStateSlots * Count];
        grad.AsSpan().Fill(T.CreateTruncating(0.01));
        ParameterTensor[] tensors = s_tensors;
        optimizer.Step<T>(theta, grad, state, tensors); // JIT and first-call work
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 100; i++)
        {
            optimizer.LearningRate *= 0.999; // as a schedule would
            optimizer.Step<T>(theta, grad, state, tensors);
        }

        long after = GC.GetAllocatedBytesForCurrentThread();
        Assert.Equal(before, after);
        Assert.Equal(101, optimizer.Steps);
    }

    [Fact]
    public void Constructors_reject_bad_hyper_parameters_naming_the_value()
    {
        ArgumentException e = Assert.Throws<ArgumentException>(() => new AdamW(learningRate: -1));
        Assert.Equal("learningRate", e.ParamName);
        Assert.StartsWith("learningRate must be positive and finite, was -1", e.Message);
        Assert.Contains("beta1 must be in [0, 1), was 1", Assert.Throws<ArgumentException>(() => new AdamW(beta1: 1)).Message);
        Assert.Contains("beta2 must be in [0, 1), was NaN", Assert.Throws<ArgumentException>(() => new AdamW(beta2: double.NaN)).Message);
        Assert.Contains("epsilon must be non-negative and finite, was -1E-08", Assert.Throws<ArgumentException>(() => new AdamW(epsilon: -1e-8)).Message);
        Assert.Contains("weightDecay must be non-negative and finite, was ∞", Assert.Throws<ArgumentException>(() => new AdamW(weightDecay: double.PositiveInfinity)).Message.Replace("Infinity", "∞"));
        Assert.Contains("learningRate must be positive and finite, was 0", Assert.Throws<ArgumentException>(() => new Sgd(0)).Message);
        Assert.Contains("momentum must be in [0, 1), was -0.5", Assert.Throws<ArgumentException>(() => new Sgd(0.1, momentum: -0.5)).Message);
        Assert.Contains("weightDecay must be non-negative and finite, was -0.1", Assert.Throws<ArgumentException>(() => new Sgd(0.1, weightDecay: -0.1)).Message);
    }

    [Fact]
    public void Step_rejects_inconsistent_regions()
    {
        var opt = new AdamW();
        double[] p = new double[Count];
        Assert.Contains("gradients has length 19", Assert.Throws<ArgumentException>(() => opt.Step<double>(p, new double[Count - 1], new double[2 * Count], s_tensors)).Message);
        Assert.Contains("needs 2 × 20 = 40", Assert.Throws<ArgumentException>(() => opt.Step<double>(p, p, new double[Count], s_tensors)).Message);
        ParameterTensor[] outside = [new("w", 15, 6, true)];
        Assert.Contains("'w'", Assert.Throws<ArgumentException>(() => opt.Step<double>(p, p, new double[2 * Count], outside)).Message);
        ParameterTensor[] negative = [new("w", -1, 2, true)];
        Assert.Throws<ArgumentException>(() => opt.Step<double>(p, p, new double[2 * Count], negative));
        opt.LearningRate = double.NaN;
        Assert.Contains("LearningRate must be non-negative and finite, was NaN", Assert.Throws<ArgumentException>(() => opt.Step<double>(p, p, new double[2 * Count], s_tensors)).Message);
        Assert.Equal(0, opt.Steps);

        var sgd = new Sgd(0.1);
        Assert.Throws<ArgumentException>(() => sgd.Step<float>(new float[4], new float[4], new float[3], ReadOnlySpan<ParameterTensor>.Empty));
        sgd.LearningRate = 0; // a warm-up schedule may start at zero
        sgd.Step<float>(new float[4], new float[4], new float[4], ReadOnlySpan<ParameterTensor>.Empty);
        Assert.Equal(1, sgd.Steps);
    }
}
