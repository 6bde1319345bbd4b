using System.Numerics;

namespace Dsl.Kernels;

/// <summary>Adds the bias <c>arena[biasOffset + col]</c> to every element.</summary>
public readonly struct BiasEpilogue<T>(T[] arena, int biasOffset) : IGemmEpilogue<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <inheritdoc />
    public void Apply(T[] c, int offset, int row, int col0, int length) => throw new System.NotImplementedException();
}

/// <summary>
/// z = c + bias (bias optional: <paramref name="biasOffset"/> &lt; 0 means none); when
/// <paramref name="preActivationOffset"/> ≥ 0 stores z at <c>arena[preActivationOffset + row*ld + col]</c>
/// with ld = <paramref name="preActivationStride"/>; then c = f(z).
/// </summary>
public readonly struct BiasActivationEpilogue<T, TAct>(T[] arena, int biasOffset, TAct activation, int preActivationOffset, int preActivationStride) : IGemmEpilogue<T>
    where T : unmanaged, IFloatingPointIeee754<T>
    where TAct : struct, IActivation<T>
{
    /// <inheritdoc />
    public void Apply(T[] c, int offset, int row, int col0, int length) => throw new System.NotImplementedException();
}
