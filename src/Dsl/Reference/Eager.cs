using System;
using System.Globalization;
using System.Numerics;
using Dsl.Contracts;

namespace Dsl.Runtime;

/// <summary>
/// The eager, double-precision implementations that generated layer members call when a user's
/// forward method is run directly. They read the model's parameters from its arena through a
/// <see cref="LayerBinding"/> the generator writes; each is a plain loop nest, written
/// independently of the SIMD kernels, so tests can hold the fused code to it.
/// </summary>
public static partial class Eager
{
    /// <summary>y = x·Wᵀ + b. Binding: <see cref="DenseSlots"/>.</summary>
    public static Tensor Dense<T>(Tensor x, T[] arena, LayerBinding binding) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (weight, bias, inFeatures, outFeatures) = DenseSlots.Read(binding.Ints);
        RequireColumns("Dense", x, inFeatures);
        var y = new Tensor(x.Rows, outFeatures);
        for (int r = 0; r < x.Rows; r++)
            for (int o = 0; o < outFeatures; o++)
            {
                double s = bias >= 0 ? D(arena[bias + o]) : 0;
                for (int i = 0; i < inFeatures; i++) s += x[r, i] * D(arena[weight + o * inFeatures + i]);
                y[r, o] = s;
            }

        return y;
    }

    /// <summary>Row r of the result is row ids[r] of the table; x holds one id per row. Binding: <see cref="EmbeddingSlots"/>.</summary>
    public static Tensor Embedding<T>(Tensor x, T[] arena, LayerBinding binding) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (table, vocabulary, dim) = EmbeddingSlots.Read(binding.Ints);
        RequireColumns("Embedding", x, 1);
        var y = new Tensor(x.Rows, dim);
        for (int r = 0; r < x.Rows; r++)
        {
            double id = x[r, 0];
            if (id != Math.Floor(id) || id < 0 || id >= vocabulary)
                throw new ArgumentOutOfRangeException(nameof(x), Invariant($"row {r} holds token id {id}, outside [0, {vocabulary})"));
            for (int c = 0; c < dim; c++) y[r, c] = D(arena[table + (int)id * dim + c]);
        }

        return y;
    }

    /// <summary>y[b·T + t] = x[b·T + t] + P[t]. Binding: <see cref="PositionEmbeddingSlots"/>.</summary>
    public static Tensor PositionEmbedding<T>(Tensor x, T[] arena, LayerBinding binding) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (table, sequence, width) = PositionEmbeddingSlots.Read(binding.Ints);
        RequireColumns("PositionEmbedding", x, width);
        RequireSequence("PositionEmbedding", x, sequence);
        var y = new Tensor(x.Rows, width);
        for (int r = 0; r < x.Rows; r++)
            for (int c = 0; c < width; c++) y[r, c] = x[r, c] + D(arena[table + (r % sequence) * width + c]);
        return y;
    }

    /// <summary>(x − μ)/√(σ² + ε)·γ + β per row. Binding: <see cref="LayerNormSlots"/>.</summary>
    public static Tensor LayerNorm<T>(Tensor x, T[] arena, LayerBinding binding) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (gamma, beta, width, epsilon) = LayerNormSlots.Read(binding.Ints, binding.Doubles);
        RequireColumns("LayerNorm", x, width);
        var y = new Tensor(x.Rows, width);
        for (int r = 0; r < x.Rows; r++)
        {
            double mean = 0, variance = 0;
            for (int c = 0; c < width; c++) mean += x[r, c];
            mean /= width;
            for (int c = 0; c < width; c++) variance += (x[r, c] - mean) * (x[r, c] - mean);
            variance /= width;
            double inverse = 1 / Math.Sqrt(variance + epsilon);
            for (int c = 0; c < width; c++)
                y[r, c] = (x[r, c] - mean) * inverse * D(arena[gamma + c]) + (beta >= 0 ? D(arena[beta + c]) : 0);
        }

        return y;
    }

    /// <summary>x/√(mean(x²) + ε)·g per row. Binding: <see cref="RmsNormSlots"/>.</summary>
    public static Tensor RmsNorm<T>(Tensor x, T[] arena, LayerBinding binding) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (gain, width, epsilon) = RmsNormSlots.Read(binding.Ints, binding.Doubles);
        RequireColumns("RmsNorm", x, width);
        var y = new Tensor(x.Rows, width);
        for (int r = 0; r < x.Rows; r++)
        {
            double squares = 0;
            for (int c = 0; c < width; c++) squares += x[r, c] * x[r, c];
            double inverse = 1 / Math.Sqrt(squares / width + epsilon);
            for (int c = 0; c < width; c++) y[r, c] = x[r, c] * inverse * (gain >= 0 ? D(arena[gain + c]) : 1);
        }

        return y;
    }

    /// <summary>DeepNorm's skip: α·x. Binding: <see cref="DeepNormSlots"/>.</summary>
    public static Tensor DeepNorm<T>(Tensor x, T[] arena, LayerBinding binding) where T : unmanaged, IFloatingPointIeee754<T>
    {
        _ = arena;
        return x * DeepNormSlots.Read(binding.Doubles).Alpha;
    }

    /// <summary>Dropout in the eager reference is the identity: the reference is the inference path.</summary>
    public static Tensor Dropout(Tensor x) => x;

    private static double D<T>(T value) where T : unmanaged, IFloatingPointIeee754<T> => double.CreateChecked(value);

    private static void RequireColumns(string layer, Tensor x, int width)
    {
        if (width == 0)
            throw new InvalidOperationException(Invariant($"{layer} is not used by the model's forward pass, so its width is unknown"));
        if (x.Columns != width)
            throw new ArgumentException(Invariant($"{layer} expects {width} input features, got a tensor of shape [{x.Rows}, {x.Columns}]"), nameof(x));
    }

    private static void RequireSequence(string layer, Tensor x, int sequence)
    {
        if (x.Rows % sequence != 0)
            throw new ArgumentException(Invariant($"{layer} expects whole sequences of {sequence} rows, got {x.Rows} rows"), nameof(x));
    }

    private static string Invariant(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}

/// <summary>What an eager layer body needs: arena offsets and sizes (<see cref="Ints"/>) and constants
/// (<see cref="Doubles"/>), in a per-op layout stated once in Dsl.Contracts (DenseSlots, AttentionSlots, …), which the
/// generator writes and the eager layers read.</summary>
/// <param name="Ints">Offsets (−1: absent) and sizes.</param>
/// <param name="Doubles">Constants such as ε, α or the attention scale.</param>
public sealed record LayerBinding(int[] Ints, double[] Doubles);

/// <summary>Where a module instance's parameters lie in its model's arena (generated code builds these).</summary>
/// <typeparam name="T">The arena's element type.</typeparam>
/// <param name="Arena">The model's arena.</param>
/// <param name="Layers">Per layer member of the module, in declaration order: its binding, or null (no parameters, or unused).</param>
public sealed record ModuleBinding<T>(T[] Arena, LayerBinding?[] Layers) where T : unmanaged, IFloatingPointIeee754<T>;
