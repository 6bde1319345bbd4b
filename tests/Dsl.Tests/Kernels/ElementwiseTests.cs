using System;
using System.Numerics;
using Dsl.Kernels;
using Xunit;

namespace Dsl.Tests.Kernels;

public sealed class ElementwiseTests
{
    public static TheoryData<int> Lengths()
    {
        var data = new TheoryData<int>();
        foreach (int n in ActivationCases.Lengths())
        {
            data.Add(n);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Lengths))]
    public void Add_scale_and_scale_add_match_scalar_references(int n)
    {
        CheckOps<double>(n);
        CheckOps<float>(n);
    }

    private static void CheckOps<T>(int n) where T : unmanaged, IFloatingPointIeee754<T>
    {
        T[] a = EpilogueTests.Filled(n, T.CreateTruncating(0.1), 3);
        T[] b = EpilogueTests.Filled(n, T.CreateTruncating(-0.4), 5);
        T s = T.CreateTruncating(-1.7);

        T[] y = new T[n];
        Elementwise.Add<T>(a, b, y);
        for (int i = 0; i < n; i++)
        {
            Assert.Equal(a[i] + b[i], y[i]);
        }

        T[] acc = (T[])b.Clone();
        Elementwise.AddInPlace<T>(acc, a);
        Assert.Equal(y, acc);

        Elementwise.Scale<T>(a, s, y);
        for (int i = 0; i < n; i++)
        {
            Assert.Equal(a[i] * s, y[i]);
        }

        T[] sa = (T[])b.Clone();
        Elementwise.ScaleAdd<T>(a, s, sa);
        for (int i = 0; i < n; i++)
        {
            // Both paths fuse, so the result is the correctly rounded a·s + b.
            Assert.Equal(T.FusedMultiplyAdd(a[i], s, b[i]), sa[i]);
        }

        // Aliasing: y = a + y and y = s·y in place.
        T[] alias = (T[])b.Clone();
        Elementwise.Add<T>(a, alias, alias);
        Assert.Equal(acc, alias);
        T[] scaled = (T[])a.Clone();
        Elementwise.Scale<T>(scaled, s, scaled);
        Elementwise.Scale<T>(a, s, y);
        Assert.Equal(y, scaled);
    }

    [Fact]
    public void Length_mismatches_throw()
    {
        double[] a = new double[5];
        Assert.Throws<ArgumentException>(() => Elementwise.Add<double>(a, new double[4], new double[5]));
        Assert.Throws<ArgumentException>(() => Elementwise.Add<double>(a, a, new double[4]));
        Assert.Throws<ArgumentException>(() => Elementwise.AddInPlace<double>(a, new double[6]));
        Assert.Throws<ArgumentException>(() => Elementwise.Scale<double>(a, 2, new double[4]));
        Assert.Throws<ArgumentException>(() => Elementwise.ScaleAdd<double>(a, 2, new double[4]));
        Assert.Throws<ArgumentException>(() => Elementwise.ColumnSums<double>(a, 2, 3, new double[3], false));
        Assert.Throws<ArgumentException>(() => Elementwise.ColumnSums<double>(new double[6], 2, 3, new double[2], false));
        Assert.Throws<ArgumentOutOfRangeException>(() => Elementwise.ColumnSums<double>(a, -1, 3, new double[3], false));
    }

    [Theory]
    [InlineData(0, 7)]
    [InlineData(1, 1)]
    [InlineData(3, 0)]
    [InlineData(5, 3)]
    [InlineData(7, 8)]
    [InlineData(2, 33)]
    [InlineData(9, 40)]
    [InlineData(4, 77)]
    [InlineData(11, 131)]
    public void Column_sums_match_a_row_by_row_reference(int rows, int cols)
    {
        CheckColumnSums<double>(rows, cols);
        CheckColumnSums<float>(rows, cols);
    }

    private static void CheckColumnSums<T>(int rows, int cols) where T : unmanaged, IFloatingPointIeee754<T>
    {
        T[] m = EpilogueTests.Filled(rows * cols, T.CreateTruncating(0.05), 7);
        T[] start = EpilogueTests.Filled(cols + 2, T.CreateTruncating(1.0), 9);
        foreach (bool accumulate in new[] { false, true })
        {
            T[] expected = (T[])start.Clone();
            for (int j = 0; j < cols; j++)
            {
                T s = accumulate ? start[j] : T.Zero;
                for (int i = 0; i < rows; i++)
                {
                    s += m[(i * cols) + j];
                }

                expected[j] = s;
            }

            T[] sums = (T[])start.Clone();
            Elementwise.ColumnSums<T>(m, rows, cols, sums, accumulate);
            Assert.Equal(expected, sums); // same summation order in every path: exact; the 2 extra entries untouched
        }
    }

    [Fact]
    public void Column_sums_of_a_128_by_1024_bias_gradient()
    {
        const int rows = 128, cols = 1024;
        float[] m = EpilogueTests.Filled(rows * cols, 0.01f, 5);
        float[] sums = new float[cols];
        Elementwise.ColumnSums<float>(m, rows, cols, sums, accumulate: false);
        for (int j = 0; j < cols; j++)
        {
            double reference = 0;
            for (int i = 0; i < rows; i++)
            {
                reference += m[(i * cols) + j];
            }

            Assert.True(Math.Abs(sums[j] - reference) <= 1e-5 * Math.Max(1, Math.Abs(reference)), $"column {j}: {sums[j]} vs {reference}");
        }
    }
}
