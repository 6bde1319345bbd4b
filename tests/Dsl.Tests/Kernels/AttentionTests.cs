using System;
using System.Numerics;
using Dsl.Kernels;
using Dsl.Reference;
using Dsl.Runtime;
using Xunit;

namespace Dsl.Tests.Kernels;

public sealed class AttentionTests
{
    private const AttentionScaleMode Fixed = AttentionScaleMode.Fixed;
    private const AttentionScaleMode Entropy = AttentionScaleMode.EntropyInvariant;

    /// <summary>batch, T, H, dk, dv, causal, window, mode, scale (NaN: 1/√dk).</summary>
    public static TheoryData<int, int, int, int, int, bool, int, AttentionScaleMode, double> SmallCases() => new()
    {
        { 2, 5, 2, 3, 3, false, 0, Fixed, double.NaN },
        { 2, 5, 2, 3, 4, true, 0, Fixed, double.NaN },
        { 2, 5, 2, 3, 4, true, 0, Fixed, 0.7 },
        { 2, 5, 2, 3, 4, false, 0, Fixed, 1.3 },
        { 2, 5, 2, 3, 4, true, 0, Entropy, double.NaN },
        { 2, 5, 2, 3, 4, false, 0, Entropy, double.NaN },
        { 2, 7, 2, 3, 5, true, 3, Fixed, double.NaN },
        { 2, 7, 2, 3, 5, false, 2, Fixed, double.NaN },
        { 2, 7, 2, 3, 5, true, 3, Entropy, double.NaN },
        { 2, 7, 2, 3, 5, false, 3, Entropy, double.NaN },
        { 1, 6, 3, 4, 2, false, 1, Entropy, double.NaN },
        { 2, 9, 1, 8, 9, true, 0, Fixed, double.NaN },
        { 1, 11, 2, 17, 10, false, 4, Fixed, 0.4 },
    };

    /// <summary>Larger shapes: several key blocks (T &gt; 64), the CharGpt target, vector-width heads.</summary>
    public static TheoryData<int, int, int, int, int, bool, int, AttentionScaleMode, double> LargeCases() => new()
    {
        { 12, 64, 4, 32, 32, true, 0, Fixed, double.NaN },
        { 2, 64, 4, 64, 64, true, 0, Entropy, double.NaN },
        { 1, 100, 2, 5, 3, false, 0, Fixed, 0.5 },
        { 1, 150, 1, 16, 24, true, 0, Entropy, double.NaN },
        { 1, 150, 2, 16, 8, true, 90, Fixed, double.NaN },
        { 1, 130, 1, 33, 40, false, 70, Fixed, double.NaN },
    };

    internal static T[] Forward<T>(AttentionProblem p, T[] packed, T[] lse)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var output = new T[p.OutputLength];
        Attention.Forward(p.Options, p.Batch, p.Q(packed), p.K(packed), p.V(packed), p.Stride, output, p.OutStride, lse);
        return output;
    }

    internal static T[] Backward<T>(AttentionProblem p, T[] packed, T[] output, T[] dOutput, T[] lse)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        // NaN everywhere first: the backward must overwrite every gradient element, not accumulate.
        var grad = new T[packed.Length];
        grad.AsSpan().Fill(T.NaN);
        Attention.Backward(p.Options, p.Batch, p.Q(packed), p.K(packed), p.V(packed), p.Stride, output, dOutput, p.OutStride, lse, p.DQ(grad), p.DK(grad), p.DV(grad), p.Stride);
        return grad;
    }

    internal static double[] Naive(AttentionProblem p, double[] packed)
    {
        var output = new double[p.OutputLength];
        NaiveAttention.Softmax(p.Options, p.Batch, p.Q(packed), p.K(packed), p.V(packed), p.Stride, output, p.OutStride);
        return output;
    }

    private static AttentionProblem Problem(int batch, int seq, int heads, int dk, int dv, bool causal, int window, AttentionScaleMode mode, double scale, int seed = 1)
        => new(AttentionProblem.Make(heads, dk, dv, seq, causal, window, mode, scale), batch, seed + (seq * 7) + (dk * 13) + (window * 3) + (causal ? 1 : 0));

    private static void AssertForwardMatchesNaive(AttentionProblem p)
    {
        double[] expected = Naive(p, p.Packed);
        var lse = new double[p.StatsLength];
        GradientCheck.AssertClose(expected, Forward(p, p.Packed, lse), 1e-13, "double output");

        // L_i = log Σ_j exp(λ_i s_ij), checked through Σ_j exp(λ_i s_ij − L_i) = 1 in the naive way.
        AttentionOptions o = p.Options;
        for (int b = 0; b < p.Batch; b++)
        {
            for (int h = 0; h < o.Heads; h++)
            {
                for (int i = 0; i < o.Sequence; i++)
                {
                    double sum = 0;
                    for (int j = 0; j < o.Sequence; j++)
                    {
                        if (!NaiveAttention.IsAllowed(o, i, j))
                        {
                            continue;
                        }

                        double s = 0;
                        for (int c = 0; c < o.KeySize; c++)
                        {
                            s += p.Packed[(((b * o.Sequence) + i) * p.Stride) + (h * o.KeySize) + c] * p.Packed[(((b * o.Sequence) + j) * p.Stride) + p.QWidth + (h * o.KeySize) + c];
                        }

                        sum += Math.Exp((NaiveAttention.Lambda(o, i) * s) - lse[(((b * o.Heads) + h) * o.Sequence) + i]);
                    }

                    Assert.Equal(1.0, sum, 1e-13);
                }
            }
        }

        float[] packedF = AttentionProblem.ToFloat(p.Packed);
        double[] expectedF = Naive(p, AttentionProblem.ToDouble(packedF));
        float[] outputF = Forward(p, packedF, new float[p.StatsLength]);
        GradientCheck.AssertClose(expectedF, AttentionProblem.ToDouble(outputF), 2e-6, "float output");
    }

    [Theory]
    [MemberData(nameof(SmallCases))]
    public void Forward_matches_the_naive_reference_on_small_odd_shapes(int batch, int seq, int heads, int dk, int dv, bool causal, int window, AttentionScaleMode mode, double scale)
        => AssertForwardMatchesNaive(Problem(batch, seq, heads, dk, dv, causal, window, mode, scale));

    [Theory]
    [MemberData(nameof(LargeCases))]
    public void Forward_matches_the_naive_reference_on_large_shapes(int batch, int seq, int heads, int dk, int dv, bool causal, int window, AttentionScaleMode mode, double scale)
        => AssertForwardMatchesNaive(Problem(batch, seq, heads, dk, dv, causal, window, mode, scale));

    [Theory]
    [MemberData(nameof(SmallCases))]
    public void Backward_matches_central_differences_of_the_naive_forward(int batch, int seq, int heads, int dk, int dv, bool causal, int window, AttentionScaleMode mode, double scale)
    {
        AttentionProblem p = Problem(batch, seq, heads, dk, dv, causal, window, mode, scale, seed: 2);
        var lse = new double[p.StatsLength];
        double[] output = Forward(p, p.Packed, lse);
        double[] grad = Backward(p, p.Packed, output, p.DOutput, lse);
        var result = GradientCheck.Run(p.Packed, grad, GradientCheck.All(p.Packed.Length), () => Naive(p, p.Packed), p.WeightedDifference);
        GradientCheck.AssertPasses(result, "attention dq/dk/dv");
    }

    [Theory]
    [InlineData(1, 150, 1, 16, 24, true, 0, Entropy)]
    [InlineData(1, 130, 2, 5, 7, false, 70, Fixed)]
    [InlineData(2, 64, 4, 32, 32, true, 0, Fixed)]
    public void Backward_matches_central_differences_at_sampled_elements_of_large_shapes(int batch, int seq, int heads, int dk, int dv, bool causal, int window, AttentionScaleMode mode)
    {
        AttentionProblem p = Problem(batch, seq, heads, dk, dv, causal, window, mode, double.NaN, seed: 3);
        var lse = new double[p.StatsLength];
        double[] output = Forward(p, p.Packed, lse);
        double[] grad = Backward(p, p.Packed, output, p.DOutput, lse);

        // The kernel's own forward serves as the function here (the naive one is too slow for
        // hundreds of evaluations); it is checked against the naive one above.
        double[] Evaluate() => Forward(p, p.Packed, new double[p.StatsLength]);
        var result = GradientCheck.Run(p.Packed, grad, GradientCheck.Sample(p.Packed.Length, 60, seq), Evaluate, p.WeightedDifference);
        GradientCheck.AssertPasses(result, "attention dq/dk/dv (sampled)");
    }

    [Theory]
    [InlineData(2, 5, 2, 3, 4, true, 0, Fixed)]
    [InlineData(2, 7, 2, 3, 5, false, 3, Entropy)]
    [InlineData(12, 64, 4, 32, 32, true, 0, Fixed)]
    [InlineData(3, 64, 4, 64, 64, false, 0, Entropy)]
    [InlineData(1, 150, 2, 16, 8, true, 90, Fixed)]
    public void Float_backward_matches_double_backward(int batch, int seq, int heads, int dk, int dv, bool causal, int window, AttentionScaleMode mode)
    {
        AttentionProblem p = Problem(batch, seq, heads, dk, dv, causal, window, mode, double.NaN, seed: 4);
        p.RoundToFloat();
        var lse = new double[p.StatsLength];
        double[] output = Forward(p, p.Packed, lse);
        double[] grad = Backward(p, p.Packed, output, p.DOutput, lse);

        float[] packedF = AttentionProblem.ToFloat(p.Packed);
        var lseF = new float[p.StatsLength];
        float[] outputF = Forward(p, packedF, lseF);
        float[] gradF = Backward(p, packedF, outputF, AttentionProblem.ToFloat(p.DOutput), lseF);
        GradientCheck.AssertClose(grad, gradF, 1e-4, "float gradient");
    }

    [Fact]
    public void Gradient_check_rejects_an_analytic_gradient_off_by_a_tenth_of_a_percent()
    {
        AttentionProblem p = Problem(2, 5, 2, 3, 4, true, 0, Entropy, double.NaN, seed: 5);
        var lse = new double[p.StatsLength];
        double[] output = Forward(p, p.Packed, lse);
        double[] grad = Backward(p, p.Packed, output, p.DOutput, lse);
        GradientCheck.AssertPasses(GradientCheck.Run(p.Packed, grad, GradientCheck.All(p.Packed.Length), () => Naive(p, p.Packed), p.WeightedDifference), "unperturbed");

        // Perturb the largest entry of each of dq, dk and dv in turn by 0.1%: each must be caught.
        foreach (int offset in new[] { 0, p.QWidth, 2 * p.QWidth })
        {
            int width = offset == 2 * p.QWidth ? p.VWidth : p.QWidth;
            int largest = offset;
            for (int r = 0; r < p.Rows; r++)
            {
                for (int c = 0; c < width; c++)
                {
                    int i = (r * p.Stride) + offset + c;
                    if (Math.Abs(grad[i]) > Math.Abs(grad[largest]))
                    {
                        largest = i;
                    }
                }
            }

            double[] wrong = (double[])grad.Clone();
            wrong[largest] *= 1.001;
            var result = GradientCheck.Run(p.Packed, wrong, [largest], () => Naive(p, p.Packed), p.WeightedDifference);
            Assert.True(result.Worst > 10 * GradientCheck.Tolerance, $"a 0.1% error at {largest} gave metric {result.Worst:E3}");
        }
    }

    [Fact]
    public void Window_of_one_copies_the_values_and_gets_all_the_gradient()
    {
        // Each query attends only itself: O = V exactly (λ = ln 1 = 0 in the entropy-invariant mode),
        // dV = dO, and dq = dk = 0 up to rounding (a one-key softmax is constant).
        foreach (bool causal in new[] { true, false })
        {
            foreach (AttentionScaleMode mode in new[] { Fixed, Entropy })
            {
                AttentionProblem p = Problem(2, 6, 2, 3, 4, causal, 1, mode, double.NaN);
                var lse = new double[p.StatsLength];
                double[] output = Forward(p, p.Packed, lse);
                double[] grad = Backward(p, p.Packed, output, p.DOutput, lse);
                for (int r = 0; r < p.Rows; r++)
                {
                    for (int c = 0; c < p.VWidth; c++)
                    {
                        Assert.Equal(p.Packed[(r * p.Stride) + (2 * p.QWidth) + c], output[(r * p.OutStride) + c], 15);
                        Assert.Equal(p.DOutput[(r * p.OutStride) + c], grad[(r * p.Stride) + (2 * p.QWidth) + c], 15);
                    }

                    for (int c = 0; c < 2 * p.QWidth; c++)
                    {
                        Assert.Equal(0.0, grad[(r * p.Stride) + c], 15);
                    }
                }
            }
        }
    }

    [Fact]
    public void Saturated_logits_stay_finite_and_match_the_reference()
    {
        // Scale 200 makes the softmax practically one-hot: the max shift must keep exp from overflowing.
        AttentionProblem p = Problem(2, 70, 2, 8, 8, false, 0, Fixed, 200);
        var lse = new double[p.StatsLength];
        double[] output = Forward(p, p.Packed, lse);
        Assert.All(output, x => Assert.True(double.IsFinite(x)));
        Assert.All(lse, x => Assert.True(double.IsFinite(x)));
        GradientCheck.AssertClose(Naive(p, p.Packed), output, 1e-12, "saturated output");
        double[] grad = Backward(p, p.Packed, output, p.DOutput, lse);
        Assert.All(grad, x => Assert.True(double.IsFinite(x)));

        float[] packedF = AttentionProblem.ToFloat(p.Packed);
        var lseF = new float[p.StatsLength];
        float[] outputF = Forward(p, packedF, lseF);
        float[] gradF = Backward(p, packedF, outputF, AttentionProblem.ToFloat(p.DOutput), lseF);
        Assert.All(outputF, x => Assert.True(float.IsFinite(x)));
        Assert.All(gradF, x => Assert.True(float.IsFinite(x)));
    }

    [Fact]
    public void Entropy_invariant_scale_uses_the_number_of_allowed_keys_per_row()
    {
        var causal = AttentionProblem.Make(1, 16, 16, 10, true, 0, Entropy);
        Assert.Equal(Math.Log(1) / (Math.Log(512) * 4), NaiveAttention.Lambda(causal, 0), 15);
        Assert.Equal(Math.Log(7) / (Math.Log(512) * 4), NaiveAttention.Lambda(causal, 6), 15);
        var windowed = causal with { Causal = false, Window = 3 };
        Assert.Equal(3, NaiveAttention.AllowedKeys(windowed, 0));
        Assert.Equal(5, NaiveAttention.AllowedKeys(windowed, 5));
        Assert.Equal(3, NaiveAttention.AllowedKeys(windowed, 9));
        var full = causal with { Causal = false, Sequence = 512 };
        Assert.Equal(1 / 4.0, NaiveAttention.Lambda(full, 100), 15);
    }

    [Fact]
    public void Batch_zero_does_nothing_and_empty_spans_are_accepted()
    {
        var o = AttentionProblem.Make(2, 3, 4, 5, true, 0, Fixed);
        Attention.Forward<float>(o, 0, default, default, default, 20, default, 8, default);
        Attention.Backward<float>(o, 0, default, default, default, 20, default, default, 8, default, default, default, default, 20);
    }

    [Fact]
    public void Invalid_arguments_are_rejected_with_messages_that_name_the_values()
    {
        var o = AttentionProblem.Make(2, 3, 4, 5, true, 0, Fixed);
        var p = new AttentionProblem(o, 2, 1);
        double[] output = new double[p.OutputLength];
        double[] lse = new double[p.StatsLength];

        var e = Assert.Throws<ArgumentException>(() => Attention.Forward(o with { Heads = 0 }, 2, p.Q(p.Packed), p.K(p.Packed), p.V(p.Packed), p.Stride, output, p.OutStride, lse));
        Assert.Contains("Heads must be positive, was 0", e.Message);
        e = Assert.Throws<ArgumentException>(() => Attention.Forward(o with { Window = -2 }, 2, p.Q(p.Packed), p.K(p.Packed), p.V(p.Packed), p.Stride, output, p.OutStride, lse));
        Assert.Contains("Window must be 0 (no window) or positive, was -2", e.Message);
        e = Assert.Throws<ArgumentException>(() => Attention.Forward(o with { Scale = double.NaN }, 2, p.Q(p.Packed), p.K(p.Packed), p.V(p.Packed), p.Stride, output, p.OutStride, lse));
        Assert.Contains("Scale must be finite", e.Message);
        e = Assert.Throws<ArgumentException>(() => Attention.Forward(o, 2, p.Q(p.Packed)[..^1], p.K(p.Packed), p.V(p.Packed), p.Stride, output, p.OutStride, lse));
        Assert.Contains("q is too short: length 185, needs at least 186", e.Message);
        e = Assert.Throws<ArgumentException>(() => Attention.Forward(o, 2, p.Q(p.Packed), p.K(p.Packed), p.V(p.Packed), 7, output, p.OutStride, lse));
        Assert.Contains("qkvStride 7 is smaller than the row width 8 of v", e.Message);
        e = Assert.Throws<ArgumentException>(() => Attention.Forward(o, 2, p.Q(p.Packed), p.K(p.Packed), p.V(p.Packed), p.Stride, output, p.OutStride, lse.AsSpan(1)));
        Assert.Contains("logSumExp is too short: length 19, needs at least 20", e.Message);
        e = Assert.Throws<ArgumentException>(() => Attention.Backward<double>(o, 2, p.Q(p.Packed), p.K(p.Packed), p.V(p.Packed), p.Stride, output, p.DOutput, p.OutStride, lse, new double[10], new double[1000], new double[1000], p.Stride));
        Assert.Contains("dq is too short: length 10", e.Message);
    }

    /// <summary>
    /// The blocked kernels' small matrix product against a plain loop that fuses in the same order (so the bits
    /// must match on a machine with FMA): A row-major and transposed, with and without accumulating, at sizes
    /// that leave every remainder of the 4-row and 1- and 2-vector tiles, float and double.
    /// </summary>
    [Fact]
    public void MatrixProduct_matches_a_fused_loop_for_both_layouts_of_A()
    {
        MatrixProductCases<float>();
        MatrixProductCases<double>();
    }

    private static unsafe void MatrixProductCases<T>()
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var random = new Random(11);
        bool exact = System.Runtime.Intrinsics.X86.Fma.IsSupported || !System.Runtime.Intrinsics.Vector256.IsHardwareAccelerated;
        foreach (int m in new[] { 1, 3, 4, 5, 9 })
        {
            foreach (int n in new[] { 1, 7, 8, 16, 17, 33, 64, 70 })
            {
                foreach (int depth in new[] { 0, 1, 5, 16 })
                {
                    foreach (bool transposed in new[] { false, true })
                    {
                        foreach (bool accumulate in new[] { false, true })
                        {
                            int aRow = transposed ? 1 : depth + 2, aCol = transposed ? m + 3 : 1;
                            int ldb = n + 5, ldc = n + 1;
                            T[] a = RandomValues<T>(random, ((m + 3) * (depth + 2)) + 4);
                            T[] b = RandomValues<T>(random, (Math.Max(depth, 1) * ldb) + 4);
                            T[] c = RandomValues<T>(random, m * ldc);
                            T[] expected = (T[])c.Clone();
                            for (int i = 0; i < m; i++)
                            {
                                for (int x = 0; x < n; x++)
                                {
                                    T sum = accumulate ? expected[(i * ldc) + x] : T.Zero;
                                    for (int p = 0; p < depth; p++)
                                    {
                                        sum = T.FusedMultiplyAdd(a[(i * aRow) + (p * aCol)], b[(p * ldb) + x], sum);
                                    }

                                    expected[(i * ldc) + x] = sum;
                                }
                            }

                            fixed (T* pa = a, pb = b, pc = c)
                            {
                                AttentionMath.MatrixProduct(pa, aRow, aCol, m, depth, pb, ldb, pc, ldc, n, accumulate);
                            }

                            for (int e = 0; e < c.Length; e++)
                            {
                                double got = double.CreateChecked(c[e]), want = double.CreateChecked(expected[e]);
                                if (exact ? !c[e].Equals(expected[e]) : Math.Abs(got - want) > 1e-5 * (1 + Math.Abs(want)))
                                {
                                    Assert.Fail($"{typeof(T).Name} m={m} n={n} depth={depth} transposed={transposed} accumulate={accumulate}: C[{e}] = {got}, expected {want}");
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    private static T[] RandomValues<T>(Random random, int length)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var values = new T[length];
        for (int i = 0; i < length; i++)
        {
            values[i] = T.CreateChecked((random.NextDouble() * 2) - 1);
        }

        return values;
    }
}

/// <summary>Tests that change the shared pool's thread count or measure allocations run alone.</summary>
[Collection(SharedRuntimeStateCollection.Name)]
public sealed class AttentionSharedStateTests
{
    [Fact]
    public void One_thread_and_two_threads_give_identical_results()
    {
        var p = new AttentionProblem(AttentionProblem.Make(4, 16, 16, 64, true, 0, AttentionScaleMode.Fixed), 4, 9);
        WorkerPool pool = WorkerPool.Shared;
        int saved = pool.Threads;
        try
        {
            pool.Threads = 1;
            var lse1 = new double[p.StatsLength];
            double[] out1 = AttentionTests.Forward(p, p.Packed, lse1);
            double[] grad1 = AttentionTests.Backward(p, p.Packed, out1, p.DOutput, lse1);
            pool.Threads = Math.Min(2, pool.MaxThreads);
            var lse2 = new double[p.StatsLength];
            double[] out2 = AttentionTests.Forward(p, p.Packed, lse2);
            double[] grad2 = AttentionTests.Backward(p, p.Packed, out2, p.DOutput, lse2);
            Assert.Equal(out1, out2);
            Assert.Equal(grad1, grad2);
        }
        finally
        {
            pool.Threads = saved;
        }
    }

    [Fact]
    public void Warm_calls_of_every_kernel_allocate_nothing_on_any_thread()
    {
        // The CharGpt shape, float, on two pool threads: per-thread scratch and cached jobs are
        // created by the warm-up calls; after that no thread may allocate: neither the caller nor
        // the pool's helpers (each counts its own allocations; a process-wide count would also see
        // the test host's threads and other tests).
        const int batch = 12, seq = 64, heads = 4, size = 32;
        var o = AttentionProblem.Make(heads, size, size, seq, true, 0, AttentionScaleMode.Fixed);
        var p = new AttentionProblem(o, batch, 1);
        float[] packed = AttentionProblem.ToFloat(p.Packed);
        float[] dOutput = AttentionProblem.ToFloat(p.DOutput);
        float[] output = new float[p.OutputLength];
        float[] stats = new float[p.StatsLength];
        float[] grad = new float[packed.Length];
        float[] mix = new float[heads * heads];
        float[] dPre = new float[heads * heads], dPost = new float[heads * heads];
        float[] table = new float[Rope.TableLength(seq, size)];
        Rope.BuildTable<float>(table, seq, size);
        for (int h = 0; h < heads; h++)
        {
            mix[(h * heads) + h] = 1;
        }

        void Step()
        {
            Rope.Forward<float>(packed, p.Rows, p.Stride, heads, size, size, seq, table);
            Attention.Forward<float>(o, batch, p.Q(packed), p.K(packed), p.V(packed), p.Stride, output, p.OutStride, stats);
            Attention.Backward<float>(o, batch, p.Q(packed), p.K(packed), p.V(packed), p.Stride, output, dOutput, p.OutStride, stats, p.DQ(grad), p.DK(grad), p.DV(grad), p.Stride);
            TalkingHeadsAttention.Forward<float>(o, batch, p.Q(packed), p.K(packed), p.V(packed), p.Stride, mix, mix, output, p.OutStride, stats);
            TalkingHeadsAttention.Backward<float>(o, batch, p.Q(packed), p.K(packed), p.V(packed), p.Stride, mix, mix, output, dOutput, p.OutStride, stats, p.DQ(grad), p.DK(grad), p.DV(grad), p.Stride, dPre, dPost, false);
            LinearAttention.Forward<float>(o with { Causal = false }, batch, p.Q(packed), p.K(packed), p.V(packed), p.Stride, output, p.OutStride, stats);
            LinearAttention.Backward<float>(o with { Causal = false }, batch, p.Q(packed), p.K(packed), p.V(packed), p.Stride, output, dOutput, p.OutStride, stats, p.DQ(grad), p.DK(grad), p.DV(grad), p.Stride);
            Rope.Backward<float>(packed, p.Rows, p.Stride, heads, size, size, seq, table);
        }

        WorkerPool pool = WorkerPool.Shared;
        int saved = pool.Threads;
        try
        {
            pool.Threads = Math.Min(2, pool.MaxThreads);

            // Enough warm-up for tiered compilation to settle too (30 calls, then a background re-JIT).
            for (int i = 0; i < 40; i++)
            {
                Step();
            }

            long before = GC.GetAllocatedBytesForCurrentThread();
            long helpers = WorkerPool.HelperAllocatedBytesForCurrentThread;
            for (int i = 0; i < 5; i++)
            {
                Step();
            }

            long callerBytes = GC.GetAllocatedBytesForCurrentThread() - before;
            long helperBytes = WorkerPool.HelperAllocatedBytesForCurrentThread - helpers;
            Assert.True(callerBytes == 0, $"the calling thread allocated {callerBytes} bytes in 5 warm steps");
            Assert.True(helperBytes == 0, $"the pool's helper threads allocated {helperBytes} bytes in 5 warm steps");
        }
        finally
        {
            pool.Threads = saved;
        }
    }
}
