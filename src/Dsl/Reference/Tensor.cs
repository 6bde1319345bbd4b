using System;
using System.Globalization;

namespace Dsl;

/// <summary>
/// A row-major matrix of doubles: one row per example. This is the type of the forward pass a
/// user writes. Called directly, a model's forward runs eagerly in double precision through
/// <see cref="Ops"/> — slow, but easy to step through in a debugger, and the oracle the fused
/// generated code is tested against. Training never uses it.
/// </summary>
public sealed class Tensor
{
    /// <summary>Creates a zero tensor of <paramref name="rows"/> × <paramref name="columns"/>.</summary>
    public Tensor(int rows, int columns)
    {
        if (rows < 0 || columns < 0)
            throw new ArgumentOutOfRangeException(nameof(rows), string.Create(CultureInfo.InvariantCulture, $"a tensor's shape must be non-negative, was [{rows}, {columns}]"));
        Rows = rows;
        Columns = columns;
        Data = new double[checked(rows * columns)];
    }

    /// <summary>Number of rows (the batch).</summary>
    public int Rows { get; }
    /// <summary>Number of columns (the features).</summary>
    public int Columns { get; }
    /// <summary>The values, row-major.</summary>
    public double[] Data { get; }

    /// <summary>Element (row, column).</summary>
    public double this[int row, int column]
    {
        get => Data[row * Columns + column];
        set => Data[row * Columns + column] = value;
    }

    /// <summary>Copies <paramref name="values"/> (rows × columns, row-major) into a new tensor.</summary>
    public static Tensor FromRows(ReadOnlySpan<float> values, int rows, int columns)
    {
        var t = new Tensor(rows, columns);
        if (values.Length != t.Data.Length)
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"expected {rows}×{columns} = {t.Data.Length} values, got {values.Length}"), nameof(values));
        for (int i = 0; i < values.Length; i++) t.Data[i] = values[i];
        return t;
    }

    /// <summary>Elementwise sum of two tensors of the same shape (a residual connection).</summary>
    public static Tensor operator +(Tensor a, Tensor b)
    {
        RequireSameShape(a, b, "+");
        var y = new Tensor(a.Rows, a.Columns);
        for (int i = 0; i < y.Data.Length; i++) y.Data[i] = a.Data[i] + b.Data[i];
        return y;
    }

    /// <summary>Multiplication by a scalar.</summary>
    public static Tensor operator *(Tensor a, double s)
    {
        var y = new Tensor(a.Rows, a.Columns);
        for (int i = 0; i < y.Data.Length; i++) y.Data[i] = a.Data[i] * s;
        return y;
    }

    /// <summary>Multiplication by a scalar.</summary>
    public static Tensor operator *(double s, Tensor a) => a * s;

    internal static void RequireSameShape(Tensor a, Tensor b, string what)
    {
        if (a.Rows != b.Rows || a.Columns != b.Columns)
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"{what}: shapes differ, [{a.Rows}, {a.Columns}] and [{b.Rows}, {b.Columns}]"));
    }
}

/// <summary>A scalar result of the eager reference (a loss).</summary>
/// <param name="Value">The value.</param>
public readonly record struct Scalar(double Value)
{
    /// <summary>The value.</summary>
    public static implicit operator double(Scalar s) => s.Value;
}

/// <summary>Integer class labels, one per row.</summary>
public sealed class Labels
{
    /// <summary>Wraps <paramref name="values"/> (copied).</summary>
    public Labels(ReadOnlySpan<int> values) => Values = values.ToArray();
    /// <summary>The labels.</summary>
    public int[] Values { get; }
    /// <summary>Number of labels.</summary>
    public int Count => Values.Length;
}
