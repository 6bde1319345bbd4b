using System;
using System.Globalization;

namespace Dsl.Runtime;

/// <summary>
/// The eager, double-precision implementations that generated layer members call when a user's
/// forward method is run directly. They read the model's parameters from its arena.
/// </summary>
public static class Eager
{
    /// <summary>y = x·Wᵀ + b with W = arena[weight .. weight + out·in) as [out, in] and b = arena[bias ..] (bias &lt; 0: none).</summary>
    public static Tensor Dense<T>(Tensor x, T[] arena, int weight, int bias, int inFeatures, int outFeatures)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        if (x.Columns != inFeatures)
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"Dense expects {inFeatures} input features, got a tensor of shape [{x.Rows}, {x.Columns}]"), nameof(x));
        var y = new Tensor(x.Rows, outFeatures);
        for (int r = 0; r < x.Rows; r++)
            for (int o = 0; o < outFeatures; o++)
            {
                double s = bias >= 0 ? double.CreateChecked(arena[bias + o]) : 0;
                for (int i = 0; i < inFeatures; i++) s += x[r, i] * double.CreateChecked(arena[weight + o * inFeatures + i]);
                y[r, o] = s;
            }
        return y;
    }

    /// <summary>Dropout in the eager reference is the identity: the reference is the inference path.</summary>
    public static Tensor Dropout(Tensor x) => x;
}

/// <summary>Where a module instance's parameters lie in its model's arena (generated code builds these).</summary>
/// <typeparam name="T">The arena's element type.</typeparam>
/// <param name="Arena">The model's arena.</param>
/// <param name="Offsets">Per layer of the module, in declaration order: weight offset, bias offset (−1 if none), in and out features.</param>
public sealed record ModuleBinding<T>(T[] Arena, int[] Offsets) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>;
