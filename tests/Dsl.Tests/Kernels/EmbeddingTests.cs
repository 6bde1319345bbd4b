using System;
using Dsl.Kernels;
using Xunit;

namespace Dsl.Tests.Kernels;

public sealed class EmbeddingTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(8)]
    [InlineData(13)]
    public void Forward_copies_the_rows_of_the_ids(int width)
    {
        const int vocabulary = 5;
        int[] ids = [4, 0, 2, 2, 1, 4, 3];
        double[] table = NormTesting.Random(vocabulary * width, width);
        double[] y = new double[ids.Length * width];
        Embedding.Forward<double>(ids, table, vocabulary, width, y);
        for (int r = 0; r < ids.Length; r++)
        {
            for (int i = 0; i < width; i++)
            {
                Assert.Equal(table[(ids[r] * width) + i], y[(r * width) + i]);
            }
        }

        float[] yF = new float[ids.Length * width];
        Embedding.Forward<float>(ids, NormTesting.ToFloat(table), vocabulary, width, yF);
        Assert.Equal(NormTesting.ToFloat(y), yF);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(9)]
    public void Backward_matches_central_differences_and_sums_repeated_ids(int width)
    {
        const int vocabulary = 6;
        int[] ids = [4, 0, 2, 2, 1, 4, 4];
        double[] table = NormTesting.Random(vocabulary * width, 3);
        double[] w = NormTesting.Random(ids.Length * width, 4);
        double[] y = new double[ids.Length * width];

        double Loss()
        {
            Embedding.Forward<double>(ids, table, vocabulary, width, y);
            return NormTesting.Dot(w, y);
        }

        double[] dTable = NormTesting.Random(vocabulary * width, 5); // overwritten: the stale values must go
        Embedding.Backward<double>(ids, w, width, dTable, vocabulary, accumulate: false);
        NormTesting.AssertGradient(table, dTable, Loss, "dTable");

        // Row 5 is never looked up, so its gradient is exactly zero.
        for (int i = 0; i < width; i++)
        {
            Assert.Equal(0.0, dTable[(5 * width) + i]);
        }

        double[] prior = NormTesting.Random(vocabulary * width, 6);
        double[] accumulated = (double[])prior.Clone();
        Embedding.Backward<double>(ids, w, width, accumulated, vocabulary, accumulate: true);
        for (int i = 0; i < prior.Length; i++)
        {
            Assert.Equal(prior[i] + dTable[i], accumulated[i], 14);
        }
    }

    [Theory]
    [InlineData(5)]
    [InlineData(-1)]
    [InlineData(int.MaxValue)]
    public void Bad_ids_are_rejected_naming_row_and_id_before_anything_is_written(int bad)
    {
        int[] ids = [0, 1, bad, 2];
        float[] table = new float[5 * 2], y = new float[8];
        Array.Fill(y, 42f);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Embedding.Forward<float>(ids, table, 5, 2, y));
        Assert.Equal("ids", e.ParamName);
        Assert.StartsWith($"ids[2] = {bad} is outside [0, 5) (row 2, id {bad}).", e.Message);
        Assert.All(y, v => Assert.Equal(42f, v));

        float[] dTable = new float[10];
        Array.Fill(dTable, 7f);
        e = Assert.Throws<ArgumentOutOfRangeException>(() => Embedding.Backward<float>(ids, y, 2, dTable, 5, accumulate: false));
        Assert.StartsWith($"ids[2] = {bad} is outside [0, 5)", e.Message);
        Assert.All(dTable, v => Assert.Equal(7f, v));
    }

    [Fact]
    public void Short_spans_and_bad_sizes_are_rejected()
    {
        int[] ids = [0, 1];
        Assert.StartsWith("table is too short: length 5, needs at least 6.",
            Assert.Throws<ArgumentException>(() => Embedding.Forward<double>(ids, new double[5], 3, 2, new double[4])).Message);
        Assert.StartsWith("y is too short: length 3, needs at least 4.",
            Assert.Throws<ArgumentException>(() => Embedding.Forward<double>(ids, new double[6], 3, 2, new double[3])).Message);
        Assert.StartsWith("vocabulary must be positive, was 0.",
            Assert.Throws<ArgumentOutOfRangeException>(() => Embedding.Forward<double>([], new double[6], 0, 2, new double[4])).Message);
        Assert.StartsWith("dTable is too short: length 5, needs at least 6.",
            Assert.Throws<ArgumentException>(() => Embedding.Backward<double>(ids, new double[4], 2, new double[5], 3, false)).Message);
    }

    [Theory]
    [InlineData(3, 4, 5, false)]
    [InlineData(12, 4, 8, false)]
    [InlineData(6, 4, 1, false)]
    [InlineData(2, 4, 3, false)] // fewer rows than positions
    [InlineData(12, 4, 8, true)]
    public void Position_forward_adds_the_row_of_each_position_and_may_run_in_place(int rows, int sequence, int width, bool inPlace)
    {
        double[] x = NormTesting.Random(rows * width, 10 + rows);
        double[] table = NormTesting.Random(sequence * width, 11);
        double[] y = inPlace ? (double[])x.Clone() : new double[rows * width];
        PositionEmbedding.Forward<double>(inPlace ? y : x, table, rows, sequence, width, y);
        for (int r = 0; r < rows; r++)
        {
            for (int i = 0; i < width; i++)
            {
                Assert.Equal(x[(r * width) + i] + table[((r % sequence) * width) + i], y[(r * width) + i]);
            }
        }
    }

    [Theory]
    [InlineData(12, 4, 8)]
    [InlineData(2, 4, 3)]
    [InlineData(7, 3, 1)]
    public void Position_backward_matches_central_differences(int rows, int sequence, int width)
    {
        double[] x = NormTesting.Random(rows * width, 20);
        double[] table = NormTesting.Random(sequence * width, 21);
        double[] w = NormTesting.Random(rows * width, 22);
        double[] y = new double[rows * width];

        double Loss()
        {
            PositionEmbedding.Forward<double>(x, table, rows, sequence, width, y);
            return NormTesting.Dot(w, y);
        }

        double[] dTable = NormTesting.Random(sequence * width, 23);
        PositionEmbedding.Backward<double>(w, rows, sequence, width, dTable, accumulate: false);
        NormTesting.AssertGradient(table, dTable, Loss, "dTable");

        double[] prior = NormTesting.Random(sequence * width, 24);
        double[] accumulated = (double[])prior.Clone();
        PositionEmbedding.Backward<double>(w, rows, sequence, width, accumulated, accumulate: true);
        for (int i = 0; i < prior.Length; i++)
        {
            Assert.Equal(prior[i] + dTable[i], accumulated[i], 14);
        }
    }

    [Fact]
    public void Position_embedding_rejects_bad_sizes()
    {
        Assert.StartsWith("sequence must be positive, was 0.",
            Assert.Throws<ArgumentOutOfRangeException>(() => PositionEmbedding.Forward<float>(new float[4], new float[4], 2, 0, 2, new float[4])).Message);
        Assert.StartsWith("table is too short: length 3, needs at least 4.",
            Assert.Throws<ArgumentException>(() => PositionEmbedding.Forward<float>(new float[4], new float[3], 2, 2, 2, new float[4])).Message);
        Assert.StartsWith("rows must be non-negative, was -2.",
            Assert.Throws<ArgumentOutOfRangeException>(() => PositionEmbedding.Backward<float>(new float[4], -2, 2, 2, new float[4], false)).Message);
        Assert.StartsWith("dy is too short: length 3, needs at least 4.",
            Assert.Throws<ArgumentException>(() => PositionEmbedding.Backward<float>(new float[3], 2, 2, 2, new float[4], false)).Message);
    }

    [Fact]
    public void Embeddings_allocate_nothing()
    {
        const int vocabulary = 65, width = 128, sequence = 64, rows = 2 * sequence;
        int[] ids = new int[rows];
        for (int i = 0; i < rows; i++)
        {
            ids[i] = (i * 7) % vocabulary;
        }

        float[] table = new float[vocabulary * width], positions = new float[sequence * width], y = new float[rows * width];
        float[] dTable = new float[vocabulary * width], dPositions = new float[sequence * width];

        void Run()
        {
            Embedding.Forward<float>(ids, table, vocabulary, width, y);
            PositionEmbedding.Forward<float>(y, positions, rows, sequence, width, y);
            PositionEmbedding.Backward<float>(y, rows, sequence, width, dPositions, accumulate: false);
            Embedding.Backward<float>(ids, y, width, dTable, vocabulary, accumulate: false);
        }

        Run();
        long before = GC.GetAllocatedBytesForCurrentThread();
        Run();
        Assert.Equal(before, GC.GetAllocatedBytesForCurrentThread());
    }
}
