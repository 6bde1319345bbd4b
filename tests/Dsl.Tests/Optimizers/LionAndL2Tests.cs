using System;
using System.Numerics;
using Dsl.Optimizers;
using Xunit;

namespace Dsl.Tests.Optimizers;

// Closed-form checks use round learning rates (DSL315) and l2 (DSL317); the argument checks pass
// invalid values on purpose (DSL316).
#pragma warning disable DSL315, DSL316, DSL317

/// <summary>Lion and the L2-versus-decoupled decay options against their closed forms in double.</summary>
public sealed class LionAndL2Tests
{
    // A 13-element matrix (vector lanes and a tail for float and double), two untouched elements,
    // then a 5-element bias that is not a matrix.
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

    private static T[] Run<T>(Optimizer optimizer, int steps, int slots = 1) where T : unmanaged, IFloatingPointIeee754<T>
    {
        T[] theta = new T[Count], grad = new T[Count], state = new T[slots * Count];
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

    private static double[] LionClosedForm(int steps, double lr, double b1, double b2, double wd, bool decayAll)
    {
        double[] theta = new double[Count], m = new double[Count];
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
                double c = (b1 * m[i]) + ((1 - b1) * g);
                double decay = IsMatrix(i) || decayAll ? wd : 0;
                theta[i] -= lr * (Math.Sign(c) + (decay * theta[i]));
                m[i] = (b2 * m[i]) + ((1 - b2) * g);
            }
        }

        return theta;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Lion_matches_the_closed_form_over_several_steps(bool decayAll)
    {
        double[] expected = LionClosedForm(6, 0.01, 0.9, 0.99, 0.3, decayAll);
        double[] d = Run<double>(new Lion(0.01, weightDecay: 0.3, decayAll: decayAll), 6);
        float[] f = Run<float>(new Lion(0.01, weightDecay: 0.3, decayAll: decayAll), 6);
        for (int i = 0; i < Count; i++)
        {
            Assert.Equal(expected[i], d[i], 1e-14);
            Assert.Equal(expected[i], f[i], 1e-6);
        }

        Assert.Equal(Theta0(13), d[13]); // not in any tensor: untouched
        Assert.Equal(Theta0(14), d[14]);
    }

    [Fact]
    public void Lion_single_step_from_the_seeds_example()
    {
        // SEEDS §3: β = (0.9, 0.99), m = 0.2, g = −0.3, θ = 0.5, η = 1e-4, λ = 0.1 → c = 0.15, θ' = 0.499895, m' = 0.195.
        ParameterTensor[] one = [new("w", 0, 1, IsMatrix: true)];
        double[] theta = [0.5], grad = [-0.3], state = [0.2];
        new Lion(1e-4, weightDecay: 0.1).Step<double>(theta, grad, state, one);
        Assert.Equal(0.499895, theta[0], 1e-15);
        Assert.Equal(0.195, state[0], 1e-15);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(13)] // vector lanes and a tail
    public void Lion_tie_sign_zero_gives_a_decay_only_update(int length)
    {
        // β1 = 0.75, m = 0.25, g = −0.75: c = 0.1875 − 0.1875 = 0 exactly.
        ParameterTensor[] tensors = [new("w", 0, length, IsMatrix: true)];
        double[] theta = new double[length], grad = new double[length], state = new double[length];
        theta.AsSpan().Fill(0.5);
        grad.AsSpan().Fill(-0.75);
        state.AsSpan().Fill(0.25);
        new Lion(0.01, beta1: 0.75, beta2: 0.5, weightDecay: 0.2).Step<double>(theta, grad, state, tensors);
        for (int i = 0; i < length; i++)
        {
            Assert.Equal(0.5 * (1 - (0.01 * 0.2)), theta[i]); // only the decay
            Assert.Equal((0.5 * 0.25) + (0.5 * -0.75), state[i]); // m still moves
        }

        // Without decay a tie leaves θ bit-for-bit unchanged; a bias is not decayed by default.
        ParameterTensor[] bias = [new("b", 0, length, IsMatrix: false)];
        theta.AsSpan().Fill(0.5);
        state.AsSpan().Fill(0.25);
        new Lion(0.01, beta1: 0.75, weightDecay: 0.2).Step<double>(theta, grad, state, bias);
        Assert.All(theta, value => Assert.Equal(0.5, value));
    }

    [Fact]
    public void Lion_propagates_a_nan_momentum_instead_of_hiding_it()
    {
        ParameterTensor[] tensors = [new("w", 0, 9, IsMatrix: true)];
        float[] theta = new float[9], grad = new float[9], state = new float[9];
        grad[2] = float.NaN;
        grad[8] = float.NaN; // the scalar tail
        new Lion(0.1).Step<float>(theta, grad, state, tensors);
        Assert.True(float.IsNaN(theta[2]) && float.IsNaN(theta[8]));
        Assert.Equal(0f, theta[0]);
    }

    [Fact]
    public void Sgd_l2_without_momentum_equals_decoupled_decay()
    {
        // (1 − lr·λ)θ − lr·g both ways: under plain SGD, L2 and weight decay are the same update.
        double[] l2 = Run<double>(new Sgd(0.1, momentum: 0, l2: 0.05), 3);
        double[] decoupled = Run<double>(new Sgd(0.1, momentum: 0, weightDecay: 0.05), 3);
        double[] none = Run<double>(new Sgd(0.1, momentum: 0), 3);
        for (int i = 0; i < Count; i++)
        {
            Assert.Equal(decoupled[i], l2[i], 1e-15);
        }

        Assert.NotEqual(none[0], l2[0]);
        Assert.Equal(none[16], l2[16]); // biases are not penalised
    }

    [Fact]
    public void Sgd_l2_with_momentum_matches_the_closed_form()
    {
        double lr = 0.1, mu = 0.9, l2 = 0.05;
        double[] theta = new double[Count], v = new double[Count];
        for (int i = 0; i < Count; i++)
        {
            theta[i] = Theta0(i);
        }

        for (int t = 1; t <= 4; t++)
        {
            for (int i = 0; i < Count; i++)
            {
                if (Covered(i))
                {
                    double g = Grad(i, t) + (IsMatrix(i) ? l2 * theta[i] : 0);
                    v[i] = (mu * v[i]) + g;
                    theta[i] -= lr * v[i];
                }
            }
        }

        double[] d = Run<double>(new Sgd(lr, mu, l2: l2), 4);
        float[] f = Run<float>(new Sgd(lr, mu, l2: l2), 4);
        double[] decoupled = Run<double>(new Sgd(lr, mu, weightDecay: l2), 4);
        for (int i = 0; i < Count; i++)
        {
            Assert.Equal(theta[i], d[i], 1e-14);
            Assert.Equal(theta[i], f[i], 2e-6);
        }

        // With momentum the L2 term is carried in v, so the two decays part ways.
        Assert.True(Math.Abs(decoupled[0] - d[0]) > 1e-4, $"decoupled {decoupled[0]} vs L2 {d[0]}");
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(0.01)]
    public void Adam_l2_matches_the_closed_form_and_differs_from_decoupled_decay(double weightDecay)
    {
        double lr = 0.01, b1 = 0.9, b2 = 0.999, eps = 1e-8, l2 = 0.1;
        double[] theta = new double[Count], m = new double[Count], v = new double[Count];
        for (int i = 0; i < Count; i++)
        {
            theta[i] = Theta0(i);
        }

        for (int t = 1; t <= 5; t++)
        {
            for (int i = 0; i < Count; i++)
            {
                if (!Covered(i))
                {
                    continue;
                }

                double g = Grad(i, t) + (IsMatrix(i) ? l2 * theta[i] : 0); // L2 on θ before this step's decay
                if (IsMatrix(i))
                {
                    theta[i] -= lr * weightDecay * theta[i];
                }

                m[i] = (b1 * m[i]) + ((1 - b1) * g);
                v[i] = (b2 * v[i]) + ((1 - b2) * g * g);
                theta[i] -= lr * (m[i] / (1 - Math.Pow(b1, t))) / (Math.Sqrt(v[i] / (1 - Math.Pow(b2, t))) + eps);
            }
        }

        double[] d = Run<double>(new AdamW(lr, b1, b2, eps, weightDecay, l2: l2), 5, slots: 2);
        float[] f = Run<float>(new AdamW(lr, b1, b2, eps, weightDecay, l2: l2), 5, slots: 2);
        double[] decoupledOnly = Run<double>(new AdamW(lr, b1, b2, eps, weightDecay: l2), 5, slots: 2);
        for (int i = 0; i < Count; i++)
        {
            Assert.Equal(theta[i], d[i], 1e-13);
            Assert.Equal(theta[i], f[i], 1e-5);
        }

        Assert.True(Math.Abs(decoupledOnly[0] - d[0]) > 1e-5, $"decoupled {decoupledOnly[0]} vs L2 {d[0]}");
    }

    [Fact]
    public void L2_options_match_pytorch_weight_decay()
    {
        // torch 1.13, float64, the 13-element weight, 3 steps: Adam(lr=0.01, weight_decay=0.1) and
        // SGD(lr=0.1, momentum=0.9, weight_decay=0.05); PyTorch's weight_decay is the coupled L2.
        double[] adam =
        [
            0.4702131130374821, 0.4050556617599187, 0.3873476677405931, 0.3189077077914572, 0.2234331871631114,
            0.12010427049424907, 0.059208239593937714, 0.03891156836762999, -0.03215487631429076, -0.13244763115732083,
            -0.22975304829779353, -0.284656081963453, -0.3103878416389992,
        ];
        double[] sgd =
        [
            -0.04097019796159835, 0.08486057286572124, 0.6987268026403578, 0.8016271015133772, 0.14312636547257093,
            -0.41175620957261233, -0.14980227632284326, 0.4455391142246973, 0.4024055050878541, -0.3156981903900753,
            -0.7564343010893735, -0.3738093173941572, 0.17194433809361065,
        ];
        double[] adamTheta = Run<double>(new AdamW(0.01, weightDecay: 0, l2: 0.1), 3, slots: 2);
        double[] sgdTheta = Run<double>(new Sgd(0.1, 0.9, l2: 0.05), 3);
        for (int i = 0; i < 13; i++)
        {
            Assert.Equal(adam[i], adamTheta[i], 1e-14);
            Assert.Equal(sgd[i], sgdTheta[i], 1e-14);
        }
    }

    [Fact]
    public void Constructors_reject_bad_values_naming_them()
    {
        Assert.Contains("learningRate must be positive and finite, was 0", Assert.Throws<ArgumentException>(() => new Lion(0)).Message);
        Assert.Contains("beta1 must be in [0, 1), was 1", Assert.Throws<ArgumentException>(() => new Lion(beta1: 1)).Message);
        Assert.Contains("beta2 must be in [0, 1), was -0.1", Assert.Throws<ArgumentException>(() => new Lion(beta2: -0.1)).Message);
        Assert.Contains("weightDecay must be non-negative and finite, was NaN", Assert.Throws<ArgumentException>(() => new Lion(weightDecay: double.NaN)).Message);
        Assert.Contains("l2 must be non-negative and finite, was -1", Assert.Throws<ArgumentException>(() => new Sgd(0.1, l2: -1)).Message);
        Assert.Equal("l2", Assert.Throws<ArgumentException>(() => new AdamW(l2: double.PositiveInfinity)).ParamName);
    }
}
