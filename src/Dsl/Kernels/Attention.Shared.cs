using System;
using System.Diagnostics.CodeAnalysis;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Threading;
using Dsl.Runtime;

namespace Dsl.Kernels;

/// <summary>
/// Row-level building blocks shared by the attention kernels (softmax, talking-heads, linear), on
/// pinned pointers: the kernels pin their spans once per call and hand the pointers to pool parts.
/// Every vector path is taken only for float and double (<c>typeof(T)</c> tests fold away per
/// instantiation); other element types run the scalar loops. Scalar tails fuse like the vector
/// lanes, so an element's value does not depend on where a vector loop ended.
/// </summary>
internal static unsafe class AttentionMath
{
    /// <summary>Keys per block of the forward's online softmax (the score tile of one query row).</summary>
    internal const int KeyBlock = 64;

    /// <summary>Calls with fewer multiply-adds than this run on the calling thread only.</summary>
    internal const long ParallelThreshold = 32 * 1024;

    private static readonly double s_log512 = Math.Log(512);

    private static bool Vectorised<T>() => typeof(T) == typeof(float) || typeof(T) == typeof(double);

    private static bool Use512<T>() => Vector512.IsHardwareAccelerated && Vectorised<T>();

    private static bool Use256<T>() => Vector256.IsHardwareAccelerated && Vectorised<T>();

    /// <summary>Score rows are computed over a multiple of this many keys (the widest vector of
    /// floats), so the vector loops have no scalar tail; the extra entries are masked to −∞.</summary>
    internal const int KeyPad = 16;

    /// <summary><paramref name="n"/> rounded up to a multiple of <see cref="KeyPad"/>.</summary>
    public static int Padded(int n) => (n + KeyPad - 1) & ~(KeyPad - 1);

    /// <summary>Row stride of a transposed [width, T] copy of K or V: room for a padded row of
    /// scores starting at any key, with zeros after the last key.</summary>
    public static int TransposedStride(int sequence) => Padded(sequence) + KeyPad;

    /// <summary>Runs <c>work.Run(i, parts)</c> for every part, on <see cref="WorkerPool.Shared"/> when
    /// there is enough work (<paramref name="multiplyAdds"/>) and more than one part, else inline.</summary>
    public static void Dispatch(IParallelWork work, int parts, long multiplyAdds)
    {
        WorkerPool pool = WorkerPool.Shared;
        if (parts > 1 && multiplyAdds >= ParallelThreshold && pool.Threads > 1)
        {
            pool.Run(work, parts);
            return;
        }

        for (int i = 0; i < parts; i++)
        {
            work.Run(i, parts);
        }
    }

    /// <summary>
    /// The keys query <paramref name="i"/> may attend, the contiguous range [lo, hi]: causal
    /// 0 ≤ i − j &lt; W, non-causal |i − j| &lt; W (W = 0: no window). Never empty for 0 ≤ i &lt; T.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void KeyRange(in AttentionOptions options, int i, out int lo, out int hi)
    {
        int window = options.Window;
        hi = options.Causal ? i : options.Sequence - 1;
        lo = 0;
        if (window > 0)
        {
            lo = Math.Max(0, i - window + 1);
            if (!options.Causal)
            {
                hi = Math.Min(options.Sequence - 1, i + window - 1);
            }
        }
    }

    /// <summary>The logit scale λ of a row that attends <paramref name="keys"/> keys:
    /// Fixed: Scale; EntropyInvariant: ln n / (ln 512 · √dk).</summary>
    public static double Lambda(in AttentionOptions options, int keys)
        => options.ScaleMode == AttentionScaleMode.EntropyInvariant
            ? Math.Log(keys) / (s_log512 * Math.Sqrt(options.KeySize))
            : options.Scale;

    /// <summary>
    /// y[x] = (accumulate ? y[x] : 0) + Σ_{c&lt;m} a[c] · M[c·ld + x] for x &lt; n: a row vector times
    /// an m × n matrix with row stride <paramref name="ld"/>. Four vectors of y stay in registers
    /// while c runs, so each element of M is loaded once and y is touched once.
    /// </summary>
    public static void RowTimesMatrix<T>(T* a, int m, T* matrix, nint ld, T* y, int n, bool accumulate)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int x = 0;
        if (Use512<T>())
        {
            int w = Vector512<T>.Count;
            for (; x + (4 * w) <= n; x += 4 * w)
            {
                T* col = matrix + x;
                Vector512<T> r0 = accumulate ? Vector512.Load(y + x) : Vector512<T>.Zero;
                Vector512<T> r1 = accumulate ? Vector512.Load(y + x + w) : Vector512<T>.Zero;
                Vector512<T> r2 = accumulate ? Vector512.Load(y + x + (2 * w)) : Vector512<T>.Zero;
                Vector512<T> r3 = accumulate ? Vector512.Load(y + x + (3 * w)) : Vector512<T>.Zero;
                for (int c = 0; c < m; c++, col += ld)
                {
                    Vector512<T> av = Vector512.Create(a[c]);
                    r0 = Fma(av, Vector512.Load(col), r0);
                    r1 = Fma(av, Vector512.Load(col + w), r1);
                    r2 = Fma(av, Vector512.Load(col + (2 * w)), r2);
                    r3 = Fma(av, Vector512.Load(col + (3 * w)), r3);
                }

                r0.Store(y + x);
                r1.Store(y + x + w);
                r2.Store(y + x + (2 * w));
                r3.Store(y + x + (3 * w));
            }

            for (; x + w <= n; x += w)
            {
                T* col = matrix + x;
                Vector512<T> r0 = accumulate ? Vector512.Load(y + x) : Vector512<T>.Zero;
                for (int c = 0; c < m; c++, col += ld)
                {
                    r0 = Fma(Vector512.Create(a[c]), Vector512.Load(col), r0);
                }

                r0.Store(y + x);
            }
        }

        if (Use256<T>())
        {
            int w = Vector256<T>.Count;
            for (; x + (4 * w) <= n; x += 4 * w)
            {
                T* col = matrix + x;
                Vector256<T> r0 = accumulate ? Vector256.Load(y + x) : Vector256<T>.Zero;
                Vector256<T> r1 = accumulate ? Vector256.Load(y + x + w) : Vector256<T>.Zero;
                Vector256<T> r2 = accumulate ? Vector256.Load(y + x + (2 * w)) : Vector256<T>.Zero;
                Vector256<T> r3 = accumulate ? Vector256.Load(y + x + (3 * w)) : Vector256<T>.Zero;
                for (int c = 0; c < m; c++, col += ld)
                {
                    Vector256<T> av = Vector256.Create(a[c]);
                    r0 = Fma(av, Vector256.Load(col), r0);
                    r1 = Fma(av, Vector256.Load(col + w), r1);
                    r2 = Fma(av, Vector256.Load(col + (2 * w)), r2);
                    r3 = Fma(av, Vector256.Load(col + (3 * w)), r3);
                }

                r0.Store(y + x);
                r1.Store(y + x + w);
                r2.Store(y + x + (2 * w));
                r3.Store(y + x + (3 * w));
            }

            for (; x + w <= n; x += w)
            {
                T* col = matrix + x;
                Vector256<T> r0 = accumulate ? Vector256.Load(y + x) : Vector256<T>.Zero;
                for (int c = 0; c < m; c++, col += ld)
                {
                    r0 = Fma(Vector256.Create(a[c]), Vector256.Load(col), r0);
                }

                r0.Store(y + x);
            }
        }

        for (; x < n; x++)
        {
            T s = accumulate ? y[x] : T.Zero;
            T* col = matrix + x;
            for (int c = 0; c < m; c++, col += ld)
            {
                s = T.FusedMultiplyAdd(a[c], *col, s);
            }

            y[x] = s;
        }
    }

    /// <summary>
    /// C[i·ldc + x] = (accumulate ? C[i·ldc + x] : 0) + Σ_{p&lt;depth} A[i·aRow + p·aCol] · B[p·ldb + x] for
    /// i &lt; m, x &lt; n: a small matrix product with A read through any pair of strides (row-major A has
    /// aCol = 1, a transposed one aRow = 1), B and C row-major. Tiles of 4 rows × 2 vectors of C stay in
    /// registers while p runs: per step, 2 loads of B and 4 broadcasts of A feed 8 FMAs, and C is read and
    /// written once per tile, not once per step.
    /// </summary>
    public static void MatrixProduct<T>(T* a, nint aRow, nint aCol, int m, int depth, T* b, nint ldb, T* c, nint ldc, int n, bool accumulate)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int x = 0;
        if (Use512<T>())
        {
            x = MatrixProduct512(a, aRow, aCol, m, depth, b, ldb, c, ldc, n, accumulate);
        }

        if (Use256<T>())
        {
            x = MatrixProduct256(a, aRow, aCol, m, depth, b, ldb, c, ldc, n, accumulate, x);
        }

        for (; x < n; x++)
        {
            for (int i = 0; i < m; i++)
            {
                T* ai = a + (i * aRow);
                T* bx = b + x;
                T sum = accumulate ? c[(i * ldc) + x] : T.Zero;
                for (int p = 0; p < depth; p++, ai += aCol, bx += ldb)
                {
                    sum = T.FusedMultiplyAdd(*ai, *bx, sum);
                }

                c[(i * ldc) + x] = sum;
            }
        }
    }

    /// <summary>The columns of <see cref="MatrixProduct"/> that whole 512-bit vectors cover; returns where they end.</summary>
    private static int MatrixProduct512<T>(T* a, nint aRow, nint aCol, int m, int depth, T* b, nint ldb, T* c, nint ldc, int n, bool accumulate)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int w = Vector512<T>.Count;
        int x = 0;
        for (; x + (2 * w) <= n; x += 2 * w)
        {
            int i = 0;
            for (; i + 4 <= m; i += 4)
            {
                T* c0 = c + (i * ldc) + x, c1 = c0 + ldc, c2 = c1 + ldc, c3 = c2 + ldc;
                Vector512<T> r00 = accumulate ? Vector512.Load(c0) : Vector512<T>.Zero, r01 = accumulate ? Vector512.Load(c0 + w) : Vector512<T>.Zero;
                Vector512<T> r10 = accumulate ? Vector512.Load(c1) : Vector512<T>.Zero, r11 = accumulate ? Vector512.Load(c1 + w) : Vector512<T>.Zero;
                Vector512<T> r20 = accumulate ? Vector512.Load(c2) : Vector512<T>.Zero, r21 = accumulate ? Vector512.Load(c2 + w) : Vector512<T>.Zero;
                Vector512<T> r30 = accumulate ? Vector512.Load(c3) : Vector512<T>.Zero, r31 = accumulate ? Vector512.Load(c3 + w) : Vector512<T>.Zero;
                T* ap = a + (i * aRow);
                T* bp = b + x;
                for (int p = 0; p < depth; p++, ap += aCol, bp += ldb)
                {
                    Vector512<T> b0 = Vector512.Load(bp), b1 = Vector512.Load(bp + w);
                    Vector512<T> a0 = Vector512.Create(ap[0]);
                    r00 = Fma(a0, b0, r00);
                    r01 = Fma(a0, b1, r01);
                    Vector512<T> a1 = Vector512.Create(ap[aRow]);
                    r10 = Fma(a1, b0, r10);
                    r11 = Fma(a1, b1, r11);
                    Vector512<T> a2 = Vector512.Create(ap[2 * aRow]);
                    r20 = Fma(a2, b0, r20);
                    r21 = Fma(a2, b1, r21);
                    Vector512<T> a3 = Vector512.Create(ap[3 * aRow]);
                    r30 = Fma(a3, b0, r30);
                    r31 = Fma(a3, b1, r31);
                }

                r00.Store(c0);
                r01.Store(c0 + w);
                r10.Store(c1);
                r11.Store(c1 + w);
                r20.Store(c2);
                r21.Store(c2 + w);
                r30.Store(c3);
                r31.Store(c3 + w);
            }

            for (; i < m; i++)
            {
                T* c0 = c + (i * ldc) + x;
                Vector512<T> r00 = accumulate ? Vector512.Load(c0) : Vector512<T>.Zero, r01 = accumulate ? Vector512.Load(c0 + w) : Vector512<T>.Zero;
                T* ap = a + (i * aRow);
                T* bp = b + x;
                for (int p = 0; p < depth; p++, ap += aCol, bp += ldb)
                {
                    Vector512<T> a0 = Vector512.Create(ap[0]);
                    r00 = Fma(a0, Vector512.Load(bp), r00);
                    r01 = Fma(a0, Vector512.Load(bp + w), r01);
                }

                r00.Store(c0);
                r01.Store(c0 + w);
            }
        }

        for (; x + w <= n; x += w)
        {
            int i = 0;
            for (; i + 4 <= m; i += 4)
            {
                T* c0 = c + (i * ldc) + x, c1 = c0 + ldc, c2 = c1 + ldc, c3 = c2 + ldc;
                Vector512<T> r0 = accumulate ? Vector512.Load(c0) : Vector512<T>.Zero;
                Vector512<T> r1 = accumulate ? Vector512.Load(c1) : Vector512<T>.Zero;
                Vector512<T> r2 = accumulate ? Vector512.Load(c2) : Vector512<T>.Zero;
                Vector512<T> r3 = accumulate ? Vector512.Load(c3) : Vector512<T>.Zero;
                T* ap = a + (i * aRow);
                T* bp = b + x;
                for (int p = 0; p < depth; p++, ap += aCol, bp += ldb)
                {
                    Vector512<T> b0 = Vector512.Load(bp);
                    r0 = Fma(Vector512.Create(ap[0]), b0, r0);
                    r1 = Fma(Vector512.Create(ap[aRow]), b0, r1);
                    r2 = Fma(Vector512.Create(ap[2 * aRow]), b0, r2);
                    r3 = Fma(Vector512.Create(ap[3 * aRow]), b0, r3);
                }

                r0.Store(c0);
                r1.Store(c1);
                r2.Store(c2);
                r3.Store(c3);
            }

            for (; i < m; i++)
            {
                T* c0 = c + (i * ldc) + x;
                Vector512<T> r0 = accumulate ? Vector512.Load(c0) : Vector512<T>.Zero;
                T* ap = a + (i * aRow);
                T* bp = b + x;
                for (int p = 0; p < depth; p++, ap += aCol, bp += ldb)
                {
                    r0 = Fma(Vector512.Create(ap[0]), Vector512.Load(bp), r0);
                }

                r0.Store(c0);
            }
        }

        return x;
    }

    /// <summary>The columns from <paramref name="x"/> of <see cref="MatrixProduct"/> that whole 256-bit vectors cover; returns where they end.</summary>
    private static int MatrixProduct256<T>(T* a, nint aRow, nint aCol, int m, int depth, T* b, nint ldb, T* c, nint ldc, int n, bool accumulate, int x)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int w = Vector256<T>.Count;
        for (; x + (2 * w) <= n; x += 2 * w)
        {
            int i = 0;
            for (; i + 4 <= m; i += 4)
            {
                T* c0 = c + (i * ldc) + x, c1 = c0 + ldc, c2 = c1 + ldc, c3 = c2 + ldc;
                Vector256<T> r00 = accumulate ? Vector256.Load(c0) : Vector256<T>.Zero, r01 = accumulate ? Vector256.Load(c0 + w) : Vector256<T>.Zero;
                Vector256<T> r10 = accumulate ? Vector256.Load(c1) : Vector256<T>.Zero, r11 = accumulate ? Vector256.Load(c1 + w) : Vector256<T>.Zero;
                Vector256<T> r20 = accumulate ? Vector256.Load(c2) : Vector256<T>.Zero, r21 = accumulate ? Vector256.Load(c2 + w) : Vector256<T>.Zero;
                Vector256<T> r30 = accumulate ? Vector256.Load(c3) : Vector256<T>.Zero, r31 = accumulate ? Vector256.Load(c3 + w) : Vector256<T>.Zero;
                T* ap = a + (i * aRow);
                T* bp = b + x;
                for (int p = 0; p < depth; p++, ap += aCol, bp += ldb)
                {
                    Vector256<T> b0 = Vector256.Load(bp), b1 = Vector256.Load(bp + w);
                    Vector256<T> a0 = Vector256.Create(ap[0]);
                    r00 = Fma(a0, b0, r00);
                    r01 = Fma(a0, b1, r01);
                    Vector256<T> a1 = Vector256.Create(ap[aRow]);
                    r10 = Fma(a1, b0, r10);
                    r11 = Fma(a1, b1, r11);
                    Vector256<T> a2 = Vector256.Create(ap[2 * aRow]);
                    r20 = Fma(a2, b0, r20);
                    r21 = Fma(a2, b1, r21);
                    Vector256<T> a3 = Vector256.Create(ap[3 * aRow]);
                    r30 = Fma(a3, b0, r30);
                    r31 = Fma(a3, b1, r31);
                }

                r00.Store(c0);
                r01.Store(c0 + w);
                r10.Store(c1);
                r11.Store(c1 + w);
                r20.Store(c2);
                r21.Store(c2 + w);
                r30.Store(c3);
                r31.Store(c3 + w);
            }

            for (; i < m; i++)
            {
                T* c0 = c + (i * ldc) + x;
                Vector256<T> r00 = accumulate ? Vector256.Load(c0) : Vector256<T>.Zero, r01 = accumulate ? Vector256.Load(c0 + w) : Vector256<T>.Zero;
                T* ap = a + (i * aRow);
                T* bp = b + x;
                for (int p = 0; p < depth; p++, ap += aCol, bp += ldb)
                {
                    Vector256<T> a0 = Vector256.Create(ap[0]);
                    r00 = Fma(a0, Vector256.Load(bp), r00);
                    r01 = Fma(a0, Vector256.Load(bp + w), r01);
                }

                r00.Store(c0);
                r01.Store(c0 + w);
            }
        }

        for (; x + w <= n; x += w)
        {
            int i = 0;
            for (; i + 4 <= m; i += 4)
            {
                T* c0 = c + (i * ldc) + x, c1 = c0 + ldc, c2 = c1 + ldc, c3 = c2 + ldc;
                Vector256<T> r0 = accumulate ? Vector256.Load(c0) : Vector256<T>.Zero;
                Vector256<T> r1 = accumulate ? Vector256.Load(c1) : Vector256<T>.Zero;
                Vector256<T> r2 = accumulate ? Vector256.Load(c2) : Vector256<T>.Zero;
                Vector256<T> r3 = accumulate ? Vector256.Load(c3) : Vector256<T>.Zero;
                T* ap = a + (i * aRow);
                T* bp = b + x;
                for (int p = 0; p < depth; p++, ap += aCol, bp += ldb)
                {
                    Vector256<T> b0 = Vector256.Load(bp);
                    r0 = Fma(Vector256.Create(ap[0]), b0, r0);
                    r1 = Fma(Vector256.Create(ap[aRow]), b0, r1);
                    r2 = Fma(Vector256.Create(ap[2 * aRow]), b0, r2);
                    r3 = Fma(Vector256.Create(ap[3 * aRow]), b0, r3);
                }

                r0.Store(c0);
                r1.Store(c1);
                r2.Store(c2);
                r3.Store(c3);
            }

            for (; i < m; i++)
            {
                T* c0 = c + (i * ldc) + x;
                Vector256<T> r0 = accumulate ? Vector256.Load(c0) : Vector256<T>.Zero;
                T* ap = a + (i * aRow);
                T* bp = b + x;
                for (int p = 0; p < depth; p++, ap += aCol, bp += ldb)
                {
                    r0 = Fma(Vector256.Create(ap[0]), Vector256.Load(bp), r0);
                }

                r0.Store(c0);
            }
        }

        return x;
    }

    /// <summary>rows[j·stride + c] += coef[j] · x[c] for j &lt; n, c &lt; width: n rank-1 row updates
    /// with x held in registers (a chunk of up to four vectors at a time).</summary>
    public static void AddScaledRows<T>(T* coef, int n, T* x, int width, T* rows, nint stride)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int c = 0;
        if (Use512<T>())
        {
            int w = Vector512<T>.Count;
            for (; c + (2 * w) <= width; c += 2 * w)
            {
                Vector512<T> x0 = Vector512.Load(x + c);
                Vector512<T> x1 = Vector512.Load(x + c + w);
                T* row = rows + c;
                for (int j = 0; j < n; j++, row += stride)
                {
                    Vector512<T> a = Vector512.Create(coef[j]);
                    Fma(a, x0, Vector512.Load(row)).Store(row);
                    Fma(a, x1, Vector512.Load(row + w)).Store(row + w);
                }
            }

            for (; c + w <= width; c += w)
            {
                Vector512<T> x0 = Vector512.Load(x + c);
                T* row = rows + c;
                for (int j = 0; j < n; j++, row += stride)
                {
                    Fma(Vector512.Create(coef[j]), x0, Vector512.Load(row)).Store(row);
                }
            }
        }

        if (Use256<T>())
        {
            int w = Vector256<T>.Count;
            for (; c + (2 * w) <= width; c += 2 * w)
            {
                Vector256<T> x0 = Vector256.Load(x + c);
                Vector256<T> x1 = Vector256.Load(x + c + w);
                T* row = rows + c;
                for (int j = 0; j < n; j++, row += stride)
                {
                    Vector256<T> a = Vector256.Create(coef[j]);
                    Fma(a, x0, Vector256.Load(row)).Store(row);
                    Fma(a, x1, Vector256.Load(row + w)).Store(row + w);
                }
            }

            for (; c + w <= width; c += w)
            {
                Vector256<T> x0 = Vector256.Load(x + c);
                T* row = rows + c;
                for (int j = 0; j < n; j++, row += stride)
                {
                    Fma(Vector256.Create(coef[j]), x0, Vector256.Load(row)).Store(row);
                }
            }
        }

        if (c < width)
        {
            T* row = rows;
            for (int j = 0; j < n; j++, row += stride)
            {
                T a = coef[j];
                for (int t = c; t < width; t++)
                {
                    row[t] = T.FusedMultiplyAdd(a, x[t], row[t]);
                }
            }
        }
    }

    /// <summary>dp[j] = scale · p[j] · (dp[j] − d): the softmax backward dS = P ⊙ (dP − D), scaled.</summary>
    public static void SoftmaxBackward<T>(T* p, T* dp, T d, T scale, int n)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int j = 0;
        if (Use256<T>())
        {
            int w = Vector256<T>.Count;
            Vector256<T> dv = Vector256.Create(d);
            Vector256<T> sv = Vector256.Create(scale);
            for (; j + w <= n; j += w)
            {
                (sv * Vector256.Load(p + j) * (Vector256.Load(dp + j) - dv)).Store(dp + j);
            }
        }

        for (; j < n; j++)
        {
            dp[j] = scale * p[j] * (dp[j] - d);
        }
    }

    /// <summary>x[i] = value for i &lt; n.</summary>
    public static void Fill<T>(T* x, int n, T value)
        where T : unmanaged
        => new Span<T>(x, n).Fill(value);

    /// <summary>Σ_i x[i] · y[i].</summary>
    public static T Dot<T>(T* x, T* y, int n)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int i = 0;
        T sum = T.Zero;
        if (Use256<T>() && n >= Vector256<T>.Count)
        {
            int w = Vector256<T>.Count;
            Vector256<T> acc0 = Vector256<T>.Zero;
            Vector256<T> acc1 = Vector256<T>.Zero;
            for (; i + (2 * w) <= n; i += 2 * w)
            {
                acc0 = Fma(Vector256.Load(x + i), Vector256.Load(y + i), acc0);
                acc1 = Fma(Vector256.Load(x + i + w), Vector256.Load(y + i + w), acc1);
            }

            for (; i + w <= n; i += w)
            {
                acc0 = Fma(Vector256.Load(x + i), Vector256.Load(y + i), acc0);
            }

            sum = Vector256.Sum(acc0 + acc1);
        }

        for (; i < n; i++)
        {
            sum = T.FusedMultiplyAdd(x[i], y[i], sum);
        }

        return sum;
    }

    /// <summary>y[i] += a · x[i].</summary>
    public static void Axpy<T>(T a, T* x, T* y, int n)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int i = 0;
        if (Use512<T>())
        {
            int w = Vector512<T>.Count;
            Vector512<T> av = Vector512.Create(a);
            for (; i + w <= n; i += w)
            {
                Fma(av, Vector512.Load(x + i), Vector512.Load(y + i)).Store(y + i);
            }
        }

        if (Use256<T>())
        {
            int w = Vector256<T>.Count;
            Vector256<T> av = Vector256.Create(a);
            for (; i + w <= n; i += w)
            {
                Fma(av, Vector256.Load(x + i), Vector256.Load(y + i)).Store(y + i);
            }
        }

        for (; i < n; i++)
        {
            y[i] = T.FusedMultiplyAdd(a, x[i], y[i]);
        }
    }

    /// <summary>y[i] = a · x[i] (y may be x).</summary>
    public static void Scale<T>(T* x, T a, T* y, int n)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int i = 0;
        if (Use256<T>())
        {
            int w = Vector256<T>.Count;
            Vector256<T> av = Vector256.Create(a);
            for (; i + w <= n; i += w)
            {
                (av * Vector256.Load(x + i)).Store(y + i);
            }
        }

        for (; i < n; i++)
        {
            y[i] = a * x[i];
        }
    }

    /// <summary>max_i x[i] (−∞ for n = 0).</summary>
    public static T Max<T>(T* x, int n)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int i = 0;
        T max = T.NegativeInfinity;
        if (Use256<T>() && n >= Vector256<T>.Count)
        {
            int w = Vector256<T>.Count;
            Vector256<T> m = Vector256.Create(T.NegativeInfinity);
            for (; i + w <= n; i += w)
            {
                m = Vector256.Max(m, Vector256.Load(x + i));
            }

            for (int lane = 0; lane < w; lane++)
            {
                max = T.Max(max, m.GetElement(lane));
            }
        }

        for (; i < n; i++)
        {
            max = T.Max(max, x[i]);
        }

        return max;
    }

    /// <summary>x[i] = e^{x[i] − shift} in place; returns Σ_i of the new values.</summary>
    public static T ExpShifted<T>(T* x, int n, T shift)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int i = 0;
        T sum = T.Zero;
        if (Use256<T>() && n >= Vector256<T>.Count)
        {
            int w = Vector256<T>.Count;
            Vector256<T> sv = Vector256.Create(shift);
            Vector256<T> acc = Vector256<T>.Zero;
            for (; i + w <= n; i += w)
            {
                Vector256<T> e = Exp(Vector256.Load(x + i) - sv);
                e.Store(x + i);
                acc += e;
            }

            sum = Vector256.Sum(acc);
        }

        for (; i < n; i++)
        {
            T e = T.Exp(x[i] - shift);
            x[i] = e;
            sum += e;
        }

        return sum;
    }

    /// <summary>dst[c·dstStride + r] = src[r·srcStride + c] for r &lt; rows, c &lt; cols; then zeros in
    /// dst[c·dstStride + r] for rows ≤ r &lt; dstStride (the padding of transposed K and V).</summary>
    public static void Transpose<T>(T* src, nint srcStride, int rows, int cols, T* dst, nint dstStride)
        where T : unmanaged
    {
        for (int r = 0; r < rows; r++)
        {
            T* row = src + (r * srcStride);
            for (int c = 0; c < cols; c++)
            {
                dst[(c * dstStride) + r] = row[c];
            }
        }

        for (int c = 0; c < cols; c++)
        {
            new Span<T>(dst + (c * dstStride) + rows, (int)(dstStride - rows)).Clear();
        }
    }

    /// <summary>Clears <paramref name="rows"/> runs of <paramref name="width"/> elements, <paramref name="stride"/> apart.</summary>
    public static void ClearRows<T>(T* p, int rows, nint stride, int width)
        where T : unmanaged
    {
        for (int r = 0; r < rows; r++)
        {
            new Span<T>(p + (r * stride), width).Clear();
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<T> Fma<T>(Vector512<T> a, Vector512<T> b, Vector512<T> c)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float))
        {
            return Vector512.FusedMultiplyAdd(a.AsSingle(), b.AsSingle(), c.AsSingle()).As<float, T>();
        }

        if (typeof(T) == typeof(double))
        {
            return Vector512.FusedMultiplyAdd(a.AsDouble(), b.AsDouble(), c.AsDouble()).As<double, T>();
        }

        return (a * b) + c;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<T> Fma<T>(Vector256<T> a, Vector256<T> b, Vector256<T> c)
        where T : unmanaged, IFloatingPointIeee754<T>
        => SimdMath.Fma(a, b, c);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<T> Exp<T>(Vector256<T> x)
        where T : unmanaged, IFloatingPointIeee754<T>
        => SimdMath.Exp(x);
}

/// <summary>
/// The driver the attention kernels share: the pinned arguments of one call, the split into pool parts
/// (one per (example, head) pair, or one per example for kernels that couple the heads) and each part's
/// pointers into q, k, v, the output, the statistics and the gradients. A kernel derives its job from
/// this, adds what only it needs, and writes the forward and backward of one part.
/// </summary>
/// <remarks>
/// A call rents the calling thread's cached job (<see cref="Rent{TJob}"/>), sets it, dispatches and
/// clears it, and returns it (<see cref="Return{TJob}"/>): after each thread's first call, nothing is allocated.
/// </remarks>
internal abstract unsafe class AttentionJob<T> : IParallelWork
    where T : unmanaged, IFloatingPointIeee754<T>
{
    internal AttentionOptions Options;
    internal T* Q;
    internal T* K;
    internal T* V;
    internal int QkvStride;
    internal T* Output;
    internal T* DOutput;
    internal int OutStride;
    internal T* Stats;
    internal T* DQ;
    internal T* DK;
    internal T* DV;
    internal int GradStride;
    private bool _perHead;

    /// <summary>Whether this call is a backward (it has an upstream gradient).</summary>
    internal bool IsBackward => DOutput != null;

    /// <summary>The calling thread's cached job of this kind, or a new one on its first call.</summary>
    internal static TJob Rent<TJob>()
        where TJob : AttentionJob<T>, new()
        => Interlocked.Exchange(ref JobCache<TJob>.t_cached, null) ?? new TJob();

    /// <summary>Gives a job back to the calling thread's cache once its call is over.</summary>
    internal static void Return<TJob>(TJob job)
        where TJob : AttentionJob<T>, new()
        => Volatile.Write(ref JobCache<TJob>.t_cached, job);

    /// <summary>Sets the pinned arguments of a call (null gradients and dOutput for a forward).</summary>
    internal void Set(
        in AttentionOptions options, T* q, T* k, T* v, int qkvStride, T* output, T* dOutput, int outStride,
        T* stats, T* dq, T* dk, T* dv, int gradStride)
    {
        Options = options;
        Q = q;
        K = k;
        V = v;
        QkvStride = qkvStride;
        Output = output;
        DOutput = dOutput;
        OutStride = outStride;
        Stats = stats;
        DQ = dq;
        DK = dk;
        DV = dv;
        GradStride = gradStride;
    }

    /// <summary>
    /// Runs the parts, on the pool when there is enough work: one per (example, head) pair when
    /// <paramref name="perHead"/>, else one per example (<see cref="AttentionSlice{T}.Head"/> 0, the slice
    /// pointing at head 0 of that example's rows); then drops every pointer (the spans are unpinned next).
    /// </summary>
    internal void Dispatch(int batch, bool perHead, long multiplyAdds)
    {
        _perHead = perHead;
        try
        {
            AttentionMath.Dispatch(this, perHead ? batch * Options.Heads : batch, multiplyAdds);
        }
        finally
        {
            Set(default, null, null, null, 0, null, null, 0, null, null, null, null, 0);
            ClearExtra();
        }
    }

    /// <inheritdoc/>
    public void Run(int index, int count)
    {
        int heads = Options.Heads;
        int b = _perHead ? index / heads : index;
        int h = _perHead ? index - (b * heads) : 0;
        var slice = new AttentionSlice<T>(this, b, h);
        if (IsBackward)
        {
            Backward(slice);
        }
        else
        {
            Forward(slice);
        }
    }

    /// <summary>The forward of one part.</summary>
    protected abstract void Forward(in AttentionSlice<T> part);

    /// <summary>The backward of one part; it owns the part's rows of dq, dk and dv.</summary>
    protected abstract void Backward(in AttentionSlice<T> part);

    /// <summary>Drops the pointers and arrays a derived job adds, after a call.</summary>
    protected virtual void ClearExtra()
    {
    }

    private static class JobCache<TJob>
        where TJob : class
    {
        // One per calling thread: two threads running a kernel at once (two models trained side by side)
        // each keep their own, so neither allocates after its first call.
        [ThreadStatic]
        internal static TJob? t_cached;
    }
}

/// <summary>
/// One part's view of an attention call: example <see cref="Example"/>, head <see cref="Head"/>. Row t of the
/// example (0 ≤ t &lt; T) is at <c>Q + t·QkvStride</c> (likewise K, V), <c>Output + t·OutStride</c> (likewise
/// DOutput) and <c>DQ + t·GradStride</c> (likewise DK, DV), each already offset to the head's columns; the
/// statistics of the (example, head) pair are <c>Stats[0 .. T)</c> (for a per-example part, the example's H
/// rows of T).
/// </summary>
internal readonly unsafe ref struct AttentionSlice<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    public AttentionSlice(AttentionJob<T> job, int example, int head)
    {
        AttentionOptions o = job.Options;
        int seq = o.Sequence, dk = o.KeySize, dv = o.ValueSize;
        nint rowBase = (nint)example * seq;
        Example = example;
        Head = head;
        Q = job.Q + (rowBase * job.QkvStride) + (head * dk);
        K = job.K + (rowBase * job.QkvStride) + (head * dk);
        V = job.V + (rowBase * job.QkvStride) + (head * dv);
        Output = job.Output + (rowBase * job.OutStride) + (head * dv);
        Stats = job.Stats + ((((nint)example * o.Heads) + head) * seq);
        if (job.IsBackward)
        {
            DOutput = job.DOutput + (rowBase * job.OutStride) + (head * dv);
            DQ = job.DQ + (rowBase * job.GradStride) + (head * dk);
            DK = job.DK + (rowBase * job.GradStride) + (head * dk);
            DV = job.DV + (rowBase * job.GradStride) + (head * dv);
        }
    }

    public int Example { get; }

    public int Head { get; }

    public T* Q { get; }

    public T* K { get; }

    public T* V { get; }

    public T* Output { get; }

    public T* DOutput { get; }

    public T* Stats { get; }

    public T* DQ { get; }

    public T* DK { get; }

    public T* DV { get; }
}

/// <summary>
/// Per-thread scratch for the attention kernels' pool parts: one array per thread and element
/// type, grown (never shrunk) the first time a part needs more, so that after a warm-up call on
/// every pool thread nothing is allocated. A part uses it from start to end and never nests.
/// </summary>
internal static class AttentionScratch<T>
    where T : unmanaged
{
    [ThreadStatic]
    private static T[]? t_buffer;

    /// <summary>This thread's buffer, at least <paramref name="length"/> long (contents undefined).</summary>
    public static T[] Rent(int length)
    {
        T[]? buffer = t_buffer;
        if (buffer is null || buffer.Length < length)
        {
            buffer = new T[Math.Max(length, buffer is null ? 0 : 2 * buffer.Length)];
            t_buffer = buffer;
        }

        return buffer;
    }
}

/// <summary>Argument validation shared by the attention kernels; messages name the bad values and
/// are built only on the failure path.</summary>
internal static class AttentionChecks
{
    public static void Options(in AttentionOptions o)
    {
        if (o.Heads <= 0)
        {
            Throw(nameof(o.Heads), $"options.Heads must be positive, was {o.Heads}.");
        }

        if (o.KeySize <= 0)
        {
            Throw(nameof(o.KeySize), $"options.KeySize must be positive, was {o.KeySize}.");
        }

        if (o.ValueSize <= 0)
        {
            Throw(nameof(o.ValueSize), $"options.ValueSize must be positive, was {o.ValueSize}.");
        }

        if (o.Sequence <= 0)
        {
            Throw(nameof(o.Sequence), $"options.Sequence must be positive, was {o.Sequence}.");
        }

        if (o.Window < 0)
        {
            Throw(nameof(o.Window), $"options.Window must be 0 (no window) or positive, was {o.Window}.");
        }

        if (o.ScaleMode is not (AttentionScaleMode.Fixed or AttentionScaleMode.EntropyInvariant))
        {
            Throw(nameof(o.ScaleMode), $"options.ScaleMode {(int)o.ScaleMode} is not a defined AttentionScaleMode.");
        }

        if (o.ScaleMode == AttentionScaleMode.Fixed && !double.IsFinite(o.Scale))
        {
            Throw(nameof(o.Scale), $"options.Scale must be finite with ScaleMode Fixed, was {o.Scale:R}.");
        }
    }

    public static void Batch(int batch)
    {
        if (batch < 0)
        {
            KernelThrowHelper.ThrowNegative(nameof(batch), batch);
        }
    }

    /// <summary>Checks a row-strided operand: <paramref name="rows"/> rows of <paramref name="width"/>
    /// elements <paramref name="stride"/> apart, so it needs (rows − 1)·stride + width elements.</summary>
    public static void Strided(string name, int length, int rows, int stride, int width, string strideName)
    {
        if (stride < width)
        {
            Throw(strideName, $"{strideName} {stride} is smaller than the row width {width} of {name}: rows would overlap.");
        }

        if (rows == 0)
        {
            return;
        }

        long needed = ((long)(rows - 1) * stride) + width;
        if (length < needed)
        {
            Throw(name, $"{name} is too short: length {length}, needs at least {needed} ({rows} rows of width {width}, stride {stride}).");
        }
    }

    public static void Length(string name, int length, long needed, string what)
    {
        if (length < needed)
        {
            Throw(name, $"{name} is too short: length {length}, needs at least {needed} ({what}).");
        }
    }

    /// <summary>The usual set: options, batch, q/k/v, output, and one [batch, H, T] statistics buffer.</summary>
    public static void Common<T>(
        in AttentionOptions o, int batch, ReadOnlySpan<T> q, ReadOnlySpan<T> k, ReadOnlySpan<T> v, int qkvStride,
        int outputLength, int outStride, int statsLength, string statsName)
    {
        Options(o);
        Batch(batch);
        long rowsLong = (long)batch * o.Sequence;
        if (rowsLong > int.MaxValue)
        {
            Throw(nameof(batch), $"batch {batch} × Sequence {o.Sequence} rows overflow an int.");
        }

        int rows = (int)rowsLong;
        Strided(nameof(q), q.Length, rows, qkvStride, o.Heads * o.KeySize, nameof(qkvStride));
        Strided(nameof(k), k.Length, rows, qkvStride, o.Heads * o.KeySize, nameof(qkvStride));
        Strided(nameof(v), v.Length, rows, qkvStride, o.Heads * o.ValueSize, nameof(qkvStride));
        Strided("output", outputLength, rows, outStride, o.Heads * o.ValueSize, nameof(outStride));
        Length(statsName, statsLength, (long)batch * o.Heads * o.Sequence, "batch · Heads · Sequence");
    }

    /// <summary>The gradient outputs dq, dk, dv of a backward.</summary>
    public static void Gradients(in AttentionOptions o, int batch, int dqLength, int dkLength, int dvLength, int gradStride)
    {
        int rows = batch * o.Sequence;
        Strided("dq", dqLength, rows, gradStride, o.Heads * o.KeySize, nameof(gradStride));
        Strided("dk", dkLength, rows, gradStride, o.Heads * o.KeySize, nameof(gradStride));
        Strided("dv", dvLength, rows, gradStride, o.Heads * o.ValueSize, nameof(gradStride));
    }

    /// <summary>Throws an <see cref="ArgumentException"/> whose message is formatted with the invariant culture.</summary>
    [DoesNotReturn]
    public static void Throw(string paramName, FormattableString message)
        => throw new ArgumentException(FormattableString.Invariant(message), paramName);
}
