using System;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Dsl.Kernels;

public static partial class Gemm
{
    /// <summary>
    /// Copies the <paramref name="mc"/> × <paramref name="kc"/> block of op(A) at <paramref name="src"/>
    /// into MR-tall micro-panels: element (i, p) of panel q lands at <c>dst[q*MR*kc + p*MR + (i mod MR)]</c>.
    /// Rows past <paramref name="mc"/> in the last panel are zero, so the microkernel never needs a row count.
    /// </summary>
    private static unsafe void PackA<T>(T* src, int lda, bool trans, int mc, int kc, int mr, T* dst)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int ir = 0; ir < mc; ir += mr)
        {
            int rows = Math.Min(mr, mc - ir);
            T* panel = dst + ((nint)ir * kc);
            if (trans)
            {
                // op(A)[i, p] = src[p*lda + i]: each step of p is a contiguous run of rows.
                T* s = src + ir;
                for (int p = 0; p < kc; p++)
                {
                    CopyPadded(s + ((nint)p * lda), panel + ((nint)p * mr), rows, mr);
                }
            }
            else
            {
                // op(A)[i, p] = src[i*lda + p]: gather one element from each row per step of p;
                // the reads are MR sequential streams, the writes contiguous.
                T* s = src + ((nint)ir * lda);
                if (typeof(T) == typeof(float) && Avx.IsSupported && rows == mr && (mr == 6 || mr == 8 || mr == 12))
                {
                    PackAFloat((float*)s, lda, kc, mr, (float*)panel);
                }
                else if (rows == mr)
                {
                    for (int p = 0; p < kc; p++)
                    {
                        T* d = panel + ((nint)p * mr);
                        T* sp = s + p;
                        for (int r = 0; r < mr; r++)
                        {
                            d[r] = sp[(nint)r * lda];
                        }
                    }
                }
                else
                {
                    for (int p = 0; p < kc; p++)
                    {
                        T* d = panel + ((nint)p * mr);
                        T* sp = s + p;
                        int r = 0;
                        for (; r < rows; r++)
                        {
                            d[r] = sp[(nint)r * lda];
                        }

                        for (; r < mr; r++)
                        {
                            d[r] = T.Zero;
                        }
                    }
                }
            }
        }
    }

    /// <summary>
    /// Copies the <paramref name="kc"/> × <paramref name="nc"/> block of op(B) at <paramref name="src"/>
    /// into NR-wide micro-panels: element (p, j) of panel q lands at <c>dst[q*NR*kc + p*NR + (j mod NR)]</c>.
    /// Columns past <paramref name="nc"/> in the last panel are zero.
    /// </summary>
    private static unsafe void PackB<T>(T* src, int ldb, bool trans, int kc, int nc, int nr, T* dst)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!trans && !PackBByPanels)
        {
            PackBRows(src, ldb, kc, nc, nr, dst);
            return;
        }

        for (int jr = 0; jr < nc; jr += nr)
        {
            int cols = Math.Min(nr, nc - jr);
            T* panel = dst + ((nint)jr * kc);
            if (!trans)
            {
                // op(B)[p, j] = src[p*ldb + j]: each step of p is a contiguous run of columns.
                T* s = src + jr;
                for (int p = 0; p < kc; p++)
                {
                    CopyPadded(s + ((nint)p * ldb), panel + ((nint)p * nr), cols, nr);
                }
            }
            else if (typeof(T) == typeof(float) && Avx.IsSupported && cols == nr && nr % 8 == 0)
            {
                PackBTransposedFloat((float*)(src + ((nint)jr * ldb)), ldb, kc, nr, (float*)panel);
            }
            else
            {
                // op(B)[p, j] = src[j*ldb + p].
                T* s = src + ((nint)jr * ldb);
                for (int p = 0; p < kc; p++)
                {
                    T* d = panel + ((nint)p * nr);
                    int j = 0;
                    for (; j < cols; j++)
                    {
                        d[j] = s[((nint)j * ldb) + p];
                    }

                    for (; j < nr; j++)
                    {
                        d[j] = T.Zero;
                    }
                }
            }
        }
    }

    /// <summary>
    /// Packs a non-transposed B (<c>op(B)[p, j] = src[p*ldb + j]</c>) a row at a time: each row of the
    /// block is read once, front to back, and its NR-wide pieces go to the NC/NR panels. Going panel by
    /// panel instead reads KC short runs NR wide and <paramref name="ldb"/> apart per panel; with the
    /// MLP's 1024-wide rows that stride is 4 KiB, so the runs of one panel all fall in the same L1 sets
    /// and the hardware prefetcher sees KC streams instead of one. The packed block is the same either way.
    /// </summary>
    private static unsafe void PackBRows<T>(T* src, int ldb, int kc, int nc, int nr, T* dst)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int full = nc - (nc % nr);
        int rest = nc - full;
        nint panelStride = (nint)nr * kc;
        for (int p = 0; p < kc; p++)
        {
            T* s = src + ((nint)p * ldb);
            T* d = dst + ((nint)p * nr);
            for (int jr = 0; jr < full; jr += nr)
            {
                CopyPadded(s + jr, d, nr, nr);
                d += panelStride;
            }

            if (rest > 0)
            {
                CopyPadded(s + full, d, rest, nr);
            }
        }
    }

    /// <summary>Copies <paramref name="count"/> elements and zero-fills up to <paramref name="width"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void CopyPadded<T>(T* src, T* dst, int count, int width)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        // Full panels of float or double take whole 256-bit vectors: the panel widths (16, 32, 8)
        // are multiples of the vector length, and a helper call per 64 bytes would dominate.
        if ((typeof(T) == typeof(float) || typeof(T) == typeof(double)) && Vector256.IsHardwareAccelerated
            && count == width && width % Vector256<T>.Count == 0)
        {
            for (int j = 0; j < width; j += Vector256<T>.Count)
            {
                Vector256.Store(Vector256.Load(src + j), dst + j);
            }

            return;
        }

        int i = 0;
        for (; i < count; i++)
        {
            dst[i] = src[i];
        }

        for (; i < width; i++)
        {
            dst[i] = T.Zero;
        }
    }

    /// <summary>
    /// Packs a full NR-wide panel of a transposed float B (<c>op(B)[p, j] = src[j*ldb + p]</c>) with
    /// 8 × 8 in-register transposes: the forward pass of a dense layer (X · Wᵀ) packs all of W on
    /// every call, and a scalar gather made that a quarter of the product's time.
    /// </summary>
    private static unsafe void PackBTransposedFloat(float* src, int ldb, int kc, int nr, float* dst)
    {
        for (int jb = 0; jb < nr; jb += 8)
        {
            float* s = src + ((nint)jb * ldb);
            int p = 0;
            for (; p + 8 <= kc; p += 8)
            {
                Transpose8Float(s + p, ldb, 8, dst + ((nint)p * nr) + jb, nr);
            }

            for (; p < kc; p++)
            {
                float* d = dst + ((nint)p * nr) + jb;
                for (int j = 0; j < 8; j++)
                {
                    d[j] = s[((nint)j * ldb) + p];
                }
            }
        }
    }

    /// <summary>
    /// Packs a full MR-tall panel of a non-transposed float A (<c>op(A)[i, p] = src[i*lda + p]</c>),
    /// for MR = 6, 8 or 12, with the same in-register transposes (groups of up to 8 rows).
    /// </summary>
    private static unsafe void PackAFloat(float* src, int lda, int kc, int mr, float* dst)
    {
        int p = 0;
        for (; p + 8 <= kc; p += 8)
        {
            for (int rb = 0; rb < mr; rb += 8)
            {
                Transpose8Float(src + ((nint)rb * lda) + p, lda, Math.Min(8, mr - rb), dst + ((nint)p * mr) + rb, mr);
            }
        }

        for (; p < kc; p++)
        {
            float* d = dst + ((nint)p * mr);
            for (int r = 0; r < mr; r++)
            {
                d[r] = src[((nint)r * lda) + p];
            }
        }
    }

    /// <summary>
    /// Reads 8 consecutive floats from each of <paramref name="rows"/> rows (4, 6 or 8) of
    /// <paramref name="src"/> and writes column q of that block, <paramref name="rows"/> values, to
    /// <c>dst + q*dstStride</c> for q &lt; 8. Writes nothing past those values.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Transpose8Float(float* src, nint ld, int rows, float* dst, nint dstStride)
    {
        // Rows past the last real one re-read it; their lanes are never stored.
        int last = rows - 1;
        Vector256<float> r0 = Avx.LoadVector256(src);
        Vector256<float> r1 = Avx.LoadVector256(src + (Math.Min(1, last) * ld));
        Vector256<float> r2 = Avx.LoadVector256(src + (Math.Min(2, last) * ld));
        Vector256<float> r3 = Avx.LoadVector256(src + (Math.Min(3, last) * ld));
        Vector256<float> r4 = Avx.LoadVector256(src + (Math.Min(4, last) * ld));
        Vector256<float> r5 = Avx.LoadVector256(src + (Math.Min(5, last) * ld));
        Vector256<float> r6 = Avx.LoadVector256(src + (Math.Min(6, last) * ld));
        Vector256<float> r7 = Avx.LoadVector256(src + (Math.Min(7, last) * ld));

        // Interleave pairs of rows, then pairs of pairs, then swap 128-bit halves:
        // u0 = [x00 x10 x20 x30 | x04 x14 x24 x34] (x_rc), and so on.
        Vector256<float> t0 = Avx.UnpackLow(r0, r1);
        Vector256<float> t1 = Avx.UnpackHigh(r0, r1);
        Vector256<float> t2 = Avx.UnpackLow(r2, r3);
        Vector256<float> t3 = Avx.UnpackHigh(r2, r3);
        Vector256<float> t4 = Avx.UnpackLow(r4, r5);
        Vector256<float> t5 = Avx.UnpackHigh(r4, r5);
        Vector256<float> t6 = Avx.UnpackLow(r6, r7);
        Vector256<float> t7 = Avx.UnpackHigh(r6, r7);
        Vector256<float> u0 = Avx.Shuffle(t0, t2, 0x44);
        Vector256<float> u1 = Avx.Shuffle(t0, t2, 0xEE);
        Vector256<float> u2 = Avx.Shuffle(t1, t3, 0x44);
        Vector256<float> u3 = Avx.Shuffle(t1, t3, 0xEE);
        Vector256<float> u4 = Avx.Shuffle(t4, t6, 0x44);
        Vector256<float> u5 = Avx.Shuffle(t4, t6, 0xEE);
        Vector256<float> u6 = Avx.Shuffle(t5, t7, 0x44);
        Vector256<float> u7 = Avx.Shuffle(t5, t7, 0xEE);

        StoreColumn(dst, rows, Avx.Permute2x128(u0, u4, 0x20));
        StoreColumn(dst + dstStride, rows, Avx.Permute2x128(u1, u5, 0x20));
        StoreColumn(dst + (2 * dstStride), rows, Avx.Permute2x128(u2, u6, 0x20));
        StoreColumn(dst + (3 * dstStride), rows, Avx.Permute2x128(u3, u7, 0x20));
        StoreColumn(dst + (4 * dstStride), rows, Avx.Permute2x128(u0, u4, 0x31));
        StoreColumn(dst + (5 * dstStride), rows, Avx.Permute2x128(u1, u5, 0x31));
        StoreColumn(dst + (6 * dstStride), rows, Avx.Permute2x128(u2, u6, 0x31));
        StoreColumn(dst + (7 * dstStride), rows, Avx.Permute2x128(u3, u7, 0x31));

        static void StoreColumn(float* d, int count, Vector256<float> column)
        {
            if (count == 8)
            {
                Avx.Store(d, column);
                return;
            }

            Sse.Store(d, column.GetLower());
            if (count == 6)
            {
                Sse.StoreLow(d + 4, column.GetUpper());
            }
        }
    }

    /// <summary>Register tile and cache block sizes of one microkernel family.</summary>
    /// <param name="Mr">Rows of the register tile.</param>
    /// <param name="Nr">Columns of the register tile.</param>
    /// <param name="Mc">Rows of a packed A block (a multiple of MR; it only bounds the buffer, as A
    /// is consumed one L1-resident micro-panel at a time).</param>
    /// <param name="Kc">Depth of a packed block: an MR × KC micro-panel of A must sit in L1 next to
    /// the B micro-panels streaming past it.</param>
    /// <param name="Nc">Columns of a packed B block (a multiple of NR): KC × NC of B should stay in L2,
    /// where it is reused by every A micro-panel.</param>
    private readonly record struct Blocking(int Mr, int Nr, int Mc, int Kc, int Nc)
    {
        public static Blocking For<T>(GemmKernel kernel)
        {
            if (typeof(T) == typeof(float))
            {
                return kernel switch
                {
                    // AVX-512 parts (Skylake-SP and later Xeons) have 1–2 MiB of L2: 1 MiB of B.
                    GemmKernel.Avx512 => new Blocking(12, 32, 144, 256, 1024),

                    // Zen 2/3 have 512 KiB of L2, Zen 4 1 MiB: 512 KiB of B.
                    GemmKernel.Avx2 => new Blocking(6, 16, 144, 256, 512),
                    _ => new Blocking(4, 4, 64, 256, 256),
                };
            }

            if (typeof(T) == typeof(double) && kernel != GemmKernel.Scalar)
            {
                return new Blocking(6, 8, 96, 256, 256);
            }

            return new Blocking(4, 4, 64, 256, 256);
        }
    }

    /// <summary>The packing buffers of every part of a call; one cached per element type.</summary>
    private sealed class Workspace<T>
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        // One per calling thread: two threads running this kernel at once (two models trained side by side)
        // each keep their own, so neither allocates after its first call.
        [ThreadStatic]
        internal static Workspace<T>? s_cached;

        private PackBuffers<T>[] _parts = [];

        /// <summary>Makes sure parts 0 .. <paramref name="parts"/> - 1 have buffers for
        /// <paramref name="blocking"/>; runs on the caller, before any part starts.</summary>
        public void Ensure(int parts, Blocking blocking)
        {
            if (_parts.Length < parts)
            {
                Array.Resize(ref _parts, parts);
            }

            for (int i = 0; i < parts; i++)
            {
                (_parts[i] ??= new PackBuffers<T>()).Ensure(blocking);
            }
        }

        public PackBuffers<T> Part(int index) => _parts[index];
    }

    /// <summary>One thread's packed A block, packed B block and edge-tile scratch, 64-byte aligned
    /// in one array on the pinned object heap (so the pointers stay valid without fixing).</summary>
    private sealed unsafe class PackBuffers<T>
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        private T[]? _storage;

        public T* A { get; private set; }

        public T* B { get; private set; }

        public T* Tile { get; private set; }

        public void Ensure(Blocking blocking)
        {
            int align = Math.Max(1, 64 / sizeof(T));
            int aLength = RoundUp(blocking.Mc * blocking.Kc, align);
            int bLength = RoundUp(blocking.Kc * blocking.Nc, align);
            int tileLength = RoundUp(blocking.Mr * blocking.Nr, align);
            int needed = aLength + bLength + tileLength + align;
            if (_storage is null || _storage.Length < needed)
            {
                _storage = GC.AllocateUninitializedArray<T>(needed, pinned: true);
            }

            T* start = (T*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_storage));
            nint misalignment = (nint)start & 63;
            if (misalignment != 0)
            {
                start = (T*)((byte*)start + (64 - misalignment));
            }

            A = start;
            B = start + aLength;
            Tile = B + bLength;
        }
    }

    /// <summary>Portable 4 × 4 microkernel for machines without AVX2 + FMA and for other element types.</summary>
    [SkipLocalsInit]
    private static unsafe void MicroScalar<T>(int kc, T* a, T* b, T* c, int ldc, bool accumulate)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        const int Mr = 4, Nr = 4;
        T c00 = T.Zero, c01 = T.Zero, c02 = T.Zero, c03 = T.Zero;
        T c10 = T.Zero, c11 = T.Zero, c12 = T.Zero, c13 = T.Zero;
        T c20 = T.Zero, c21 = T.Zero, c22 = T.Zero, c23 = T.Zero;
        T c30 = T.Zero, c31 = T.Zero, c32 = T.Zero, c33 = T.Zero;
        for (int p = 0; p < kc; p++)
        {
            T b0 = b[0], b1 = b[1], b2 = b[2], b3 = b[3];
            T a0 = a[0];
            c00 += a0 * b0;
            c01 += a0 * b1;
            c02 += a0 * b2;
            c03 += a0 * b3;
            T a1 = a[1];
            c10 += a1 * b0;
            c11 += a1 * b1;
            c12 += a1 * b2;
            c13 += a1 * b3;
            T a2 = a[2];
            c20 += a2 * b0;
            c21 += a2 * b1;
            c22 += a2 * b2;
            c23 += a2 * b3;
            T a3 = a[3];
            c30 += a3 * b0;
            c31 += a3 * b1;
            c32 += a3 * b2;
            c33 += a3 * b3;
            a += Mr;
            b += Nr;
        }

        StoreRow(c, accumulate, c00, c01, c02, c03);
        StoreRow(c + ldc, accumulate, c10, c11, c12, c13);
        StoreRow(c + (2 * (nint)ldc), accumulate, c20, c21, c22, c23);
        StoreRow(c + (3 * (nint)ldc), accumulate, c30, c31, c32, c33);

        static void StoreRow(T* row, bool accumulate, T v0, T v1, T v2, T v3)
        {
            if (accumulate)
            {
                v0 += row[0];
                v1 += row[1];
                v2 += row[2];
                v3 += row[3];
            }

            row[0] = v0;
            row[1] = v1;
            row[2] = v2;
            row[3] = v3;
        }
    }
}
