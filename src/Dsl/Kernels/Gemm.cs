using System.Numerics;

namespace Dsl.Kernels;

/// <summary>
/// Blocked, register-tiled, packed matrix product over row-major slices of arrays, with the
/// transposition variants a backward pass needs, multi-threaded through <see cref="Dsl.Runtime.WorkerPool"/>.
/// </summary>
public static class Gemm
{
    /// <summary>
    /// <c>C[i,j] = (accumulate ? C[i,j] : 0) + Σ_p opA[i,p] · opB[p,j]</c> for i &lt; m, j &lt; n, p &lt; k,
    /// where <c>opA[i,p] = transA ? a[aOffset + p*lda + i] : a[aOffset + i*lda + p]</c> and
    /// <c>opB[p,j] = transB ? b[bOffset + j*ldb + p] : b[bOffset + p*ldb + j]</c>;
    /// C is <c>c[cOffset + i*ldc + j]</c>. Then, for every row segment of C that is final,
    /// <see cref="IGemmEpilogue{T}.Apply"/> runs exactly once per element of C.
    /// Allocates nothing after the first call of each instantiation.
    /// </summary>
    public static void Multiply<T, TEpilogue>(
        T[] a, int aOffset, int lda, bool transA,
        T[] b, int bOffset, int ldb, bool transB,
        T[] c, int cOffset, int ldc,
        int m, int n, int k, bool accumulate, TEpilogue epilogue)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TEpilogue : struct, IGemmEpilogue<T>
        => throw new System.NotImplementedException();
}
