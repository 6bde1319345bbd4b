using System;
using System.Diagnostics.CodeAnalysis;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
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
