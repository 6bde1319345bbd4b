using System;
using System.Numerics;
using Dsl.Optimizers;
using Dsl.Runtime;
using Xunit;

namespace Dsl.Tests.Optimizers;

/// <summary>
/// Steps large enough to be cut into blocks and spread over the pool (UpdateBlocks): the same bits on one thread
/// and on two, the norm the update pass sums equal to <see cref="Optimizer.GlobalNorm{T}"/>, and every element
/// (tensor tails, block edges) updated as a per-element reference in double says, the gap between tensors untouched.
/// </summary>
[Collection(Dsl.Tests.Kernels.SharedRuntimeStateCollection.Name)]
public sealed class ParallelUpdateTests
{
    // A matrix longer than three blocks with an odd tail, an uncovered gap, a bias of two blocks and a bit, a small matrix.
    private static readonly ParameterTensor[] s_tensors =
    [
        new("a.weight", 0, 100_003, IsMatrix: true),
        new("a.bias", 100_008, 70_001, IsMatrix: false),
        new("b.weight", 170_009, 33, IsMatrix: true),
    ];

    private const int Count = 170_042;
    private const int GapStart = 100_003, GapEnd = 100_008;

    private static double Theta0(int i) => 0.5 - (1e-5 * i);

    private static double Grad(int i, int t) => Math.Sin((1.3 * i) + (0.7 * t)) * (1 + (0.1 * t));

    private static bool Covered(int i) => i < GapStart || i >= GapEnd;

    private static Optimizer Create(string kind) => kind switch
    {
        "plain" => new AdamW(1e-2, weightDecay: 0.1),
        "clipped" => new AdamW(1e-2, weightDecay: 0.1) { MaxGradientNorm = 1 },
#pragma warning disable DSL317 // the L2 path is what this case measures
        "l2" => new AdamW(1e-2, weightDecay: 0, l2: 1e-3, decayAll: true),
#pragma warning restore DSL317
        "sgd" => new Sgd(1e-2, momentum: 0.9, weightDecay: 0.1),
#pragma warning disable DSL317 // the L2 path is what this case measures
        "sgd-l2" => new Sgd(1e-2, momentum: 0.9, l2: 1e-3),
#pragma warning restore DSL317
        "lion" => new Lion(1e-4, weightDecay: 0.1),
        "lion-all" => new Lion(1e-4, weightDecay: 0.1, decayAll: true),
        _ => throw new ArgumentException(kind, nameof(kind)),
    };

    /// <summary>Three steps (the last one guarded) on <paramref name="threads"/> threads: parameters, state and the
    /// norm of each step.</summary>
    private static (T[] Parameters, T[] State, double[] Norms) Run<T>(string kind, int threads) where T : unmanaged, IFloatingPointIeee754<T>
    {
        WorkerPool pool = WorkerPool.Shared;
        int saved = pool.Threads;
        try
        {
            pool.Threads = Math.Min(threads, pool.MaxThreads);
            Optimizer optimizer = Create(kind);
            var theta = new T[Count];
            var grad = new T[Count];
            var state = new T[2 * Count];
            for (int i = 0; i < Count; i++) theta[i] = T.CreateTruncating(Theta0(i));
            var norms = new double[3];
            for (int t = 0; t < 3; t++)
            {
                for (int i = 0; i < Count; i++) grad[i] = T.CreateTruncating(Covered(i) ? Grad(i, t) : 1e6);
                if (t < 2)
                {
                    optimizer.Step<T>(theta, grad, state, s_tensors);
                }
                else
                {
                    Assert.True(optimizer.TryStep<T>(theta, grad, state, s_tensors, loss: 1.0));
                }

                norms[t] = optimizer.LastGradientNorm;
                Assert.Equal(Optimizer.GlobalNorm<T>(grad, s_tensors), norms[t]);
            }

            return (theta, state, norms);
        }
        finally
        {
            pool.Threads = saved;
        }
    }

    [Theory]
    [InlineData("plain")]
    [InlineData("clipped")]
    [InlineData("l2")]
    [InlineData("sgd")]
    [InlineData("sgd-l2")]
    [InlineData("lion")]
    [InlineData("lion-all")]
    public void Two_threads_give_the_bits_of_one(string kind)
    {
        var (p1, s1, n1) = Run<float>(kind, 1);
        var (p2, s2, n2) = Run<float>(kind, 2);
        Assert.Equal(n1, n2);
        Assert.True(p1.AsSpan().SequenceEqual(p2), "parameters differ");
        Assert.True(s1.AsSpan().SequenceEqual(s2), "state differs");

        var (d1, e1, m1) = Run<double>(kind, 1);
        var (d2, e2, m2) = Run<double>(kind, 2);
        Assert.Equal(m1, m2);
        Assert.True(d1.AsSpan().SequenceEqual(d2), "parameters differ (double)");
        Assert.True(e1.AsSpan().SequenceEqual(e2), "state differs (double)");
    }

    [Theory]
    [InlineData("plain")]
    [InlineData("clipped")]
    [InlineData("l2")]
    public void Every_element_follows_the_reference(string kind)
    {
        var (theta, _, norms) = Run<double>(kind, 2);
        double lr = 1e-2, b1 = 0.9, b2 = 0.999, eps = 1e-8;
        double decay = kind == "l2" ? 0 : 0.1, l2 = kind == "l2" ? 1e-3 : 0;
        for (int i = 0; i < Count; i++)
        {
            double p = Theta0(i);
            if (!Covered(i))
            {
                Assert.Equal(p, theta[i]);
                continue;
            }

            double m = 0, v = 0;
            for (int t = 0; t < 3; t++)
            {
                double g = Grad(i, t);
                if (kind == "clipped")
                {
                    double factor = 1.0 / (norms[t] + 1e-6);
                    if (factor < 1) g *= factor;
                }

                bool matrix = i < GapStart || i >= 170_009;
                if (kind == "l2") g += l2 * p;
                m = (b1 * m) + ((1 - b1) * g);
                v = (b2 * v) + ((1 - b2) * g * g);
                if (decay > 0 && matrix) p *= 1 - (lr * decay);
                double bc1 = 1 - Math.Pow(b1, t + 1), bc2 = 1 - Math.Pow(b2, t + 1);
                p -= lr / bc1 * m / ((Math.Sqrt(v) / Math.Sqrt(bc2)) + eps);
            }

            Assert.True(Math.Abs(p - theta[i]) <= 1e-12 * Math.Max(1, Math.Abs(p)), $"element {i}: {theta[i]} where the reference has {p}");
        }

        for (int t = 0; t < 3; t++)
        {
            double sum = 0;
            for (int i = 0; i < Count; i++)
            {
                if (Covered(i)) sum += Grad(i, t) * Grad(i, t);
            }

            Assert.Equal(Math.Sqrt(sum), norms[t], 1e-9);
        }
    }

    /// <summary>SGD and Lion through the shared block driver: every element (tensor tails, block edges) as a per-element
    /// reference in double says, the gap between tensors untouched.</summary>
    [Theory]
    [InlineData("sgd")]
    [InlineData("sgd-l2")]
    [InlineData("lion")]
    [InlineData("lion-all")]
    public void Sgd_and_Lion_follow_the_reference(string kind)
    {
        var (theta, _, _) = Run<double>(kind, 2);
        bool lion = kind.StartsWith("lion", StringComparison.Ordinal);
        double lr = lion ? 1e-4 : 1e-2, decay = kind == "sgd-l2" ? 0 : 0.1, l2 = kind == "sgd-l2" ? 1e-3 : 0;
        for (int i = 0; i < Count; i++)
        {
            double p = Theta0(i);
            if (!Covered(i))
            {
                Assert.Equal(p, theta[i]);
                continue;
            }

            bool matrix = i < GapStart || i >= 170_009;
            bool decays = decay > 0 && (matrix || kind == "lion-all");
            double m = 0;
            for (int t = 0; t < 3; t++)
            {
                double g = Grad(i, t);
                if (lion)
                {
                    double c = (0.9 * m) + ((1 - 0.9) * g);
                    p = (p * (decays ? 1 - (lr * decay) : 1)) - (lr * Math.Sign(c));
                    m = (0.99 * m) + ((1 - 0.99) * g);
                }
                else
                {
                    if (matrix) g += l2 * p;
                    m = (0.9 * m) + g;
                    if (decays) p *= 1 - (lr * decay);
                    p -= lr * m;
                }
            }

            Assert.True(Math.Abs(p - theta[i]) <= 1e-12 * Math.Max(1, Math.Abs(p)), $"element {i}: {theta[i]} where the reference has {p}");
        }
    }
}
