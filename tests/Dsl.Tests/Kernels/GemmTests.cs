using System;
using System.Collections.Generic;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading;
using System.Threading.Tasks;
using Dsl.Kernels;
using Dsl.Runtime;
using Xunit;

namespace Dsl.Tests.Kernels;

/// <summary>Tests that change process-wide settings (WorkerPool.Shared.Threads, the forced GEMM
/// kernel) or measure allocations run alone, after the parallel tests.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SharedRuntimeStateCollection
{
    public const string Name = "Shared runtime state (threads, GEMM kernel)";
}

[Collection(SharedRuntimeStateCollection.Name)]
public sealed class GemmTests
{
    private static readonly int[] s_sizes = [0, 1, 2, 3, 5, 7, 15, 16, 17, 31, 33, 64, 100, 129];

    /// <summary>Every kernel family this machine can run (as ints: the enum is internal), times 1 and 2 threads.</summary>
    public static TheoryData<int, int> KernelsAndThreads()
    {
        var data = new TheoryData<int, int>();
        foreach (int kernel in SupportedKernels())
        {
            data.Add(kernel, 1);
            data.Add(kernel, 2);
        }

        return data;
    }

    public static TheoryData<int, int> BestKernelAndThreads() => new() { { (int)Gemm.BestKernel, 1 }, { (int)Gemm.BestKernel, 2 } };

    [Theory]
    [MemberData(nameof(KernelsAndThreads))]
    public void Multiply_Float_MatchesNaive_ForOddShapesAndAllTranspositions(int kernel, int threads)
        => WithSettings(kernel, threads, () => CheckShapes<float>(SmallShapes(), tolerance: 1e-5, seed: 1));

    [Theory]
    [MemberData(nameof(KernelsAndThreads))]
    public void Multiply_Double_MatchesNaive_ForOddShapesAndAllTranspositions(int kernel, int threads)
        => WithSettings(kernel, threads, () => CheckShapes<double>(SmallShapes(), tolerance: 1e-12, seed: 2));

    [Theory]
    [MemberData(nameof(BestKernelAndThreads))]
    public void Multiply_Float_MatchesNaive_AcrossSeveralCacheBlocks(int kernel, int threads)
        => WithSettings(kernel, threads, () => CheckShapes<float>(BlockShapes(), tolerance: 1e-5, seed: 3));

    [Theory]
    [MemberData(nameof(BestKernelAndThreads))]
    public void Multiply_Double_MatchesNaive_AcrossSeveralCacheBlocks(int kernel, int threads)
        => WithSettings(kernel, threads, () => CheckShapes<double>(BlockShapes(), tolerance: 1e-12, seed: 4));

    /// <summary>
    /// B packed a row at a time (the default) gives the bits of B packed panel by panel, for every kernel and
    /// thread count, at odd shapes, at shapes crossing the cache blocks and at the MLP's input-gradient shape.
    /// </summary>
    [Theory]
    [MemberData(nameof(KernelsAndThreads))]
    public void Multiply_RowWisePackingOfB_GivesThePanelWiseBits(int kernel, int threads)
        => WithSettings(kernel, threads, () =>
        {
            var random = new Random(5);
            List<(int M, int N, int K)> shapes = [.. SmallShapes(), .. BlockShapes(), (128, 1024, 1024), (37, 784, 300)];
            foreach ((int m, int n, int k) in shapes)
            {
                foreach (bool transA in new[] { false, true })
                {
                    SameBitsBothWays<float>(random, m, n, k, transA);
                    SameBitsBothWays<double>(random, m, n, k, transA);
                }
            }
        });

    [Fact]
    public void Multiply_WithZeroDepth_ClearsOrKeepsCAndRunsTheEpilogue()
    {
        // k = 0 reads neither A nor B (empty arrays are fine) and leaves C = accumulate ? C : 0.
        float[] c = [1, 2, 3, 9, 4, 5, 6, 9];
        var visits = new int[6];
        var seen = new float[6];
        var epilogue = new RecordingEpilogue<float>(visits, seen, cOffset: 0, ldc: 4, n: 3);
        Gemm.Multiply([], 0, 0, false, [], 0, 0, false, c, 0, 4, 2, 3, 0, accumulate: true, epilogue);
        Assert.Equal([3f, 5, 7, 9, 9, 11, 13, 9], c);
        Assert.Equal([1f, 2, 3, 4, 5, 6], seen);
        Assert.All(visits, v => Assert.Equal(1, v));

        Array.Clear(visits);
        Gemm.Multiply([], 0, 0, false, [], 0, 0, false, c, 0, 4, 2, 3, 0, accumulate: false, epilogue);
        Assert.Equal([1f, 1, 1, 9, 1, 1, 1, 9], c);
        Assert.All(visits, v => Assert.Equal(1, v));
    }

    [Fact]
    public void Multiply_TwoByTwo_GivesTheTextbookProduct()
    {
        // A hand-checked case that does not depend on the reference implementation.
        float[] a = [1, 2, 3, 4];
        float[] b = [5, 6, 7, 8];
        var c = new float[4];
        Gemm.Multiply(a, 0, 2, false, b, 0, 2, false, c, 0, 2, 2, 2, 2, false, default(NoEpilogue<float>));
        Assert.Equal([19f, 22, 43, 50], c);
        Gemm.Multiply(a, 0, 2, true, b, 0, 2, true, c, 0, 2, 2, 2, 2, true, default(NoEpilogue<float>));

        // Aᵀ·Bᵀ = [[1·5+3·6, 1·7+3·8], [2·5+4·6, 2·7+4·8]] = [[23, 31], [34, 46]].
        Assert.Equal([19f + 23, 22 + 31, 43 + 34, 50 + 46], c);
    }

    [Fact]
    public void Multiply_RejectsOperandsThatLeaveTheirArrays()
    {
        var a = new float[6];
        var b = new float[6];
        var c = new float[4];
        var none = default(NoEpilogue<float>);
        Assert.Throws<ArgumentOutOfRangeException>(() => Gemm.Multiply(a, 1, 3, false, b, 0, 2, false, c, 0, 2, 2, 2, 3, false, none));
        Assert.Throws<ArgumentOutOfRangeException>(() => Gemm.Multiply(a, 0, 3, false, b, 0, 3, false, c, 0, 2, 2, 2, 3, false, none));
        Assert.Throws<ArgumentOutOfRangeException>(() => Gemm.Multiply(a, 0, 3, false, b, 0, 2, false, c, 1, 2, 2, 2, 3, false, none));
        Assert.Throws<ArgumentOutOfRangeException>(() => Gemm.Multiply(a, 0, 3, false, b, 0, 2, false, c, 0, 1, 2, 2, 3, false, none));
        Assert.Throws<ArgumentOutOfRangeException>(() => Gemm.Multiply(a, -1, 3, false, b, 0, 2, false, c, 0, 2, 2, 2, 3, false, none));
        Assert.Throws<ArgumentOutOfRangeException>(() => Gemm.Multiply(a, 0, 3, false, b, 0, 2, false, c, 0, 2, -2, 2, 3, false, none));
        Assert.Throws<ArgumentNullException>(() => Gemm.Multiply(null!, 0, 3, false, b, 0, 2, false, c, 0, 2, 2, 2, 3, false, none));
    }

    [Fact]
    public void Multiply_ConcurrentCallers_AllGetCorrectResults()
    {
        // Not the intended use (one training loop, one thread), but parallel test runs do it.
        Parallel.For(0, 4, new ParallelOptions { MaxDegreeOfParallelism = 4 }, worker =>
        {
            var random = new Random(100 + worker);
            for (int iteration = 0; iteration < 5; iteration++)
            {
                CheckOne<float>(random, 40 + worker, 70, 50, iteration % 2 == 0, worker % 2 == 0, accumulate: true, tolerance: 1e-5);
            }
        });
    }

    [Fact]
    public void Multiply_AfterWarmUp_AllocatesNothing_OnTwoThreadsAtTheMlpShape()
    {
        const int m = 128, n = 1024, k = 784;
        var random = new Random(5);
        float[] x = RandomArray<float>(random, m * k);
        float[] w = RandomArray<float>(random, n * k);
        float[] dy = RandomArray<float>(random, m * n);
        float[] y = new float[m * n];
        float[] dw = new float[n * k];
        float[] dx = new float[m * k];
        float[] bias = RandomArray<float>(random, n);
        var epilogue = new AddBiasEpilogue(bias);

        WorkerPool pool = WorkerPool.Shared;
        int saved = pool.Threads;
        try
        {
            pool.Threads = Math.Min(2, pool.MaxThreads);
            void Step()
            {
                Gemm.Multiply(x, 0, k, false, w, 0, k, true, y, 0, n, m, n, k, false, epilogue);
                Gemm.Multiply(dy, 0, n, true, x, 0, k, false, dw, 0, k, n, k, m, false, default(NoEpilogue<float>));
                Gemm.Multiply(dy, 0, n, false, w, 0, k, false, dx, 0, k, m, k, n, false, default(NoEpilogue<float>));
            }

            for (int i = 0; i < 3; i++)
            {
                Step();
            }

            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 50; i++)
            {
                Gemm.Multiply(x, 0, k, false, w, 0, k, true, y, 0, n, m, n, k, false, epilogue);
            }

            Step();
            long after = GC.GetAllocatedBytesForCurrentThread();
            Assert.Equal(before, after);

            // And the products were real: spot-check one element of each against a dot product.
            double y0 = bias[5];
            double dw0 = 0, dx0 = 0;
            for (int p = 0; p < k; p++)
            {
                y0 += (double)x[(3 * k) + p] * w[(5 * k) + p];
            }

            for (int p = 0; p < m; p++)
            {
                dw0 += (double)dy[(p * n) + 7] * x[(p * k) + 11];
            }

            for (int p = 0; p < n; p++)
            {
                dx0 += (double)dy[(2 * n) + p] * w[(p * k) + 13];
            }

            Assert.Equal(y0, y[(3 * n) + 5], 1e-3);
            Assert.Equal(dw0, dw[(7 * k) + 11], 1e-3);
            Assert.Equal(dx0, dx[(2 * k) + 13], 1e-3);
        }
        finally
        {
            pool.Threads = saved;
        }
    }

    [Fact]
    public void RopeEpilogue_with_column_groups_matches_the_product_then_the_separate_rope_pass()
    {
        // Heads of 24 columns are not a multiple of any kernel's NR (4, 16, 32), so without
        // columnGroup the split between threads and the NC blocks would cut heads; 40 heads make the
        // q|k|v row (2·960 + 800 columns) span several NC blocks.
        const int sequence = 5, keySize = 24, rotary = 16, valueSize = 20;
        foreach (int heads in new[] { 3, 40 })
        {
            int n = (2 * heads * keySize) + (heads * valueSize), m = 3 * sequence * 4, k = 50;
            var random = new Random(heads);
            double[] x = RandomArray<double>(random, m * k);
            double[] w = RandomArray<double>(random, n * k);
            int tableOffset = n;
            double[] arena = new double[n + (sequence * rotary)];
            RandomArray<double>(random, n).CopyTo(arena, 0); // the bias
            Rope.BuildTable<double>(arena.AsSpan(tableOffset), sequence, rotary, 10000);

            double[] expected = new double[m * n];
            Gemm.Multiply(x, 0, k, false, w, 0, k, true, expected, 0, n, m, n, k, false, new BiasEpilogue<double>(arena, 0));
            ReadOnlySpan<double> table = arena.AsSpan(tableOffset);
            Rope.Forward<double>(expected, m, n, heads, keySize, rotary, sequence, table);
            Rope.Forward<double>(expected.AsSpan(heads * keySize), m, n, heads, keySize, rotary, sequence, table);

            foreach (int kernel in SupportedKernels())
            {
                foreach (int threads in new[] { 1, 2 })
                {
                    WithSettings(kernel, threads, () =>
                    {
                        double[] actual = new double[m * n];
                        var epilogue = new RopeEpilogue<double>(arena, 0, tableOffset, sequence, keySize, rotary, 2 * heads * keySize);
                        Gemm.Multiply(x, 0, k, false, w, 0, k, true, actual, 0, n, m, n, k, false, epilogue, columnGroup: keySize);
                        for (int i = 0; i < actual.Length; i++)
                        {
                            Assert.True(Math.Abs(actual[i] - expected[i]) <= 1e-12 * Math.Max(1, Math.Abs(expected[i])), $"heads {heads}, kernel {kernel}, {threads} threads: C[{i / n}, {i % n}] = {actual[i]}, expected {expected[i]}");
                        }
                    });
                }
            }
        }
    }

    [Fact]
    public void A_column_group_wider_than_a_column_block_is_refused_with_its_value()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Gemm.Multiply(new float[4], 0, 2, false, new float[4], 0, 2, true, new float[4], 0, 2, 2, 2, 2, false, default(NoEpilogue<float>), columnGroup: 100_003));
        Assert.Contains("100003", e.Message);
    }

    private static IEnumerable<int> SupportedKernels()
    {
        yield return 0; // scalar
        if (Gemm.BestKernel >= GemmKernel.Avx2)
        {
            yield return 1;
        }

        if (Gemm.BestKernel >= GemmKernel.Avx512)
        {
            yield return 2;
        }
    }

    /// <summary>Each awkward size in each position, plus mixes of them.</summary>
    private static List<(int M, int N, int K)> SmallShapes()
    {
        var shapes = new List<(int, int, int)>();
        foreach (int s in s_sizes)
        {
            shapes.Add((s, 17, 33));
            shapes.Add((31, s, 15));
            shapes.Add((7, 33, s));
        }

        shapes.AddRange([(1, 1, 1), (129, 100, 64), (100, 129, 31), (64, 64, 64), (16, 16, 16), (15, 129, 17), (129, 5, 100), (3, 2, 129), (33, 31, 129)]);
        return shapes;
    }

    /// <summary>Shapes that cross the KC, MC and NC block boundaries of every kernel.</summary>
    private static List<(int M, int N, int K)> BlockShapes() => [(150, 70, 600), (300, 40, 257), (20, 1100, 40), (145, 1030, 70)];

    private static void WithSettings(int kernel, int threads, Action test)
    {
        WorkerPool pool = WorkerPool.Shared;
        int saved = pool.Threads;
        try
        {
            pool.Threads = Math.Min(threads, pool.MaxThreads);
            Gemm.ForcedKernel = (GemmKernel)kernel;
            test();
        }
        finally
        {
            Gemm.ForcedKernel = null;
            pool.Threads = saved;
        }
    }

    private static void CheckShapes<T>(List<(int M, int N, int K)> shapes, double tolerance, int seed)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var random = new Random(seed);
        foreach ((int m, int n, int k) in shapes)
        {
            foreach (bool transA in new[] { false, true })
            {
                foreach (bool transB in new[] { false, true })
                {
                    CheckOne<T>(random, m, n, k, transA, transB, accumulate: false, tolerance);
                    CheckOne<T>(random, m, n, k, transA, transB, accumulate: true, tolerance);
                }
            }
        }
    }

    /// <summary>
    /// One product on operands stored with offsets and padded leading dimensions inside larger
    /// random arrays, checked against a double-precision triple loop; the epilogue must visit every
    /// element of C once, after its final value, and nothing outside C may change.
    /// </summary>
    private static void CheckOne<T>(Random random, int m, int n, int k, bool transA, bool transB, bool accumulate, double tolerance)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int aRows = transA ? k : m, aCols = transA ? m : k;
        int bRows = transB ? n : k, bCols = transB ? k : n;
        int lda = aCols + random.Next(0, 4), ldb = bCols + random.Next(0, 4), ldc = n + random.Next(0, 4);
        int aOffset = random.Next(0, 5), bOffset = random.Next(0, 5), cOffset = random.Next(0, 5);
        T[] a = RandomArray<T>(random, aOffset + (aRows * lda) + 3);
        T[] b = RandomArray<T>(random, bOffset + (bRows * ldb) + 3);
        T[] c = RandomArray<T>(random, cOffset + (m * ldc) + 3);
        T[] original = (T[])c.Clone();

        var visits = new int[m * n];
        var seen = new T[m * n];
        var epilogue = new RecordingEpilogue<T>(visits, seen, cOffset, ldc, n);
        Gemm.Multiply(a, aOffset, lda, transA, b, bOffset, ldb, transB, c, cOffset, ldc, m, n, k, accumulate, epilogue);

        string what = $"m={m} n={n} k={k} transA={transA} transB={transB} accumulate={accumulate}";
        Assert.False(epilogue.BadOffset[0], $"epilogue got an offset that is not its (row, col0): {what}");
        var inC = new bool[c.Length];
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                int at = cOffset + (i * ldc) + j;
                inC[at] = true;
                double expected = accumulate ? double.CreateChecked(original[at]) : 0;
                double magnitude = Math.Abs(expected);
                for (int p = 0; p < k; p++)
                {
                    double x = double.CreateChecked(transA ? a[aOffset + (p * lda) + i] : a[aOffset + (i * lda) + p]);
                    double y = double.CreateChecked(transB ? b[bOffset + (j * ldb) + p] : b[bOffset + (p * ldb) + j]);
                    expected += x * y;
                    magnitude += Math.Abs(x * y);
                }

                double allowed = tolerance * (magnitude + 1);
                double before = double.CreateChecked(seen[(i * n) + j]);
                double after = double.CreateChecked(c[at]);
                if (visits[(i * n) + j] != 1 || Math.Abs(before - expected) > allowed || Math.Abs(after - ((2 * before) + 1)) > allowed * 3)
                {
                    Assert.Fail($"{what}: C[{i},{j}] visited {visits[(i * n) + j]} times, epilogue saw {before}, expected {expected} ± {allowed}, final {after} (should be 2·seen + 1)");
                }
            }
        }

        for (int at = 0; at < c.Length; at++)
        {
            if (!inC[at] && c[at] != original[at])
            {
                Assert.Fail($"{what}: element {at} outside C changed");
            }
        }
    }

    private static void SameBitsBothWays<T>(Random random, int m, int n, int k, bool transA)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int lda = (transA ? m : k) + random.Next(0, 4), ldb = n + random.Next(0, 4), ldc = n + random.Next(0, 3);
        T[] a = RandomArray<T>(random, ((transA ? k : m) * lda) + 2);
        T[] b = RandomArray<T>(random, (k * ldb) + 2);
        T[] start = RandomArray<T>(random, (m * ldc) + 2);
        foreach (bool accumulate in new[] { false, true })
        {
            T[] byRows = (T[])start.Clone();
            T[] byPanels = (T[])start.Clone();
            Gemm.PackBByPanels = false;
            Gemm.Multiply(a, 1, lda, transA, b, 2, ldb, false, byRows, 1, ldc, m, n, k, accumulate, default(NoEpilogue<T>));
            try
            {
                Gemm.PackBByPanels = true;
                Gemm.Multiply(a, 1, lda, transA, b, 2, ldb, false, byPanels, 1, ldc, m, n, k, accumulate, default(NoEpilogue<T>));
            }
            finally
            {
                Gemm.PackBByPanels = false;
            }

            ReadOnlySpan<byte> rowBytes = MemoryMarshal.AsBytes(byRows.AsSpan());
            ReadOnlySpan<byte> panelBytes = MemoryMarshal.AsBytes(byPanels.AsSpan());
            int first = rowBytes.CommonPrefixLength(panelBytes);
            if (first < rowBytes.Length)
            {
                int i = first / Unsafe.SizeOf<T>();
                Assert.Fail($"{typeof(T).Name} m={m} n={n} k={k} transA={transA} accumulate={accumulate}: element {i} is {byRows[i]} packed by rows, {byPanels[i]} by panels");
            }
        }
    }

    private static T[] RandomArray<T>(Random random, int length)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var values = new T[length];
        for (int i = 0; i < length; i++)
        {
            values[i] = T.CreateChecked((random.NextDouble() * 2) - 1);
        }

        return values;
    }

    /// <summary>Records, per element of C, how often it was visited and the value it had then,
    /// checks the offset against (row, col), and changes C to 2·C + 1 so that a later overwrite shows.</summary>
    private readonly struct RecordingEpilogue<T>(int[] visits, T[] seen, int cOffset, int ldc, int n) : IGemmEpilogue<T>
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public bool[] BadOffset { get; } = new bool[1];

        public void Apply(T[] c, int offset, int row, int col0, int length)
        {
            if (offset != cOffset + (row * ldc) + col0 || col0 < 0 || col0 + length > n)
            {
                BadOffset[0] = true;
                return;
            }

            for (int t = 0; t < length; t++)
            {
                int index = (row * n) + col0 + t;
                Interlocked.Increment(ref visits[index]);
                seen[index] = c[offset + t];
                c[offset + t] = c[offset + t] + c[offset + t] + T.One;
            }
        }
    }

    private readonly struct AddBiasEpilogue(float[] bias) : IGemmEpilogue<float>
    {
        public void Apply(float[] c, int offset, int row, int col0, int length)
        {
            for (int t = 0; t < length; t++)
            {
                c[offset + t] += bias[col0 + t];
            }
        }
    }
}
