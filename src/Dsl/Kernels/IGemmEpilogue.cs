using System.Numerics;

namespace Dsl.Kernels;

/// <summary>
/// Work applied by <see cref="Gemm"/> to a row segment of C once that segment holds its final
/// value (after the last K block), while it is still in cache: bias, activation, saving the
/// pre-activation. Implementations are small structs holding array references and offsets, so
/// they can be copied to worker threads without allocating.
/// </summary>
/// <typeparam name="T">float or double.</typeparam>
public interface IGemmEpilogue<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Applies the epilogue to <c>c[offset .. offset + length)</c>, which is row
    /// <paramref name="row"/> of C, columns <paramref name="col0"/> .. <c>col0 + length</c>.</summary>
    void Apply(T[] c, int offset, int row, int col0, int length);
}

/// <summary>The epilogue that does nothing: a plain matrix product.</summary>
public readonly struct NoEpilogue<T> : IGemmEpilogue<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <inheritdoc />
    public void Apply(T[] c, int offset, int row, int col0, int length) { }
}
