using System;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using System.Threading;
using Dsl.Runtime;

namespace Dsl.Kernels;

/// <summary>
/// Blocked, register-tiled, packed matrix product over row-major slices of arrays, with the
/// transposition variants a backward pass needs, multi-threaded through <see cref="Dsl.Runtime.WorkerPool"/>.
/// </summary>
/// <remarks>
/// <para>
/// The structure is the usual BLIS/GotoBLAS one. C is cut into column blocks of NC, the shared
/// dimension into blocks of KC and the rows into blocks of MC. For every (NC, KC) block, op(B) is
/// copied ("packed") into a contiguous buffer of NR-wide micro-panels, which stays in L2; for every
/// (MC, KC) block, op(A) is packed into MR-tall micro-panels. Each A micro-panel, held in L1, then
/// meets every B micro-panel in a register-tiled microkernel that computes one MR × NR tile of C.
/// Transpositions and leading dimensions only affect packing, so NN, NT, TN and TT all run the
/// same microkernel; partial tiles at the edges go through a scratch tile, packing pads with zeros.
/// </para>
/// <para>
/// Microkernels: AVX-512 (float 12 × 32) when <see cref="Vector512.IsHardwareAccelerated"/>
/// (and C is wider than 16 columns), otherwise AVX2 + FMA (float 6 × 16, double 6 × 8), otherwise a
/// portable scalar one. Double uses the AVX2 kernel on AVX-512 machines too: it serves gradient
/// checks, not training.
/// </para>
/// <para>
/// Threads: products of at least <see cref="ParallelThreshold"/> multiply-adds are split over
/// <see cref="WorkerPool.Shared"/> by columns of C (when m ≤ n) or rows of C, in whole tiles, each
/// part running the whole blocked algorithm on its slice with its own packing buffers.
/// </para>
/// </remarks>
public static partial class Gemm
{
    /// <summary>Products with fewer multiply-adds (m·n·k) than this run on the calling thread only:
    /// waking a helper costs more than it saves.</summary>
    internal const long ParallelThreshold = 32 * 1024;

    private static readonly GemmKernel s_bestKernel = DetectKernel();
    private static int s_forcedKernel = -1;

    /// <summary>
    /// Test hook: forces the microkernel family (must be supported by the machine), or restores
    /// automatic selection with null. Selection is read once per call.
    /// </summary>
    internal static GemmKernel? ForcedKernel
    {
        get => Volatile.Read(ref s_forcedKernel) is int k and >= 0 ? (GemmKernel)k : null;
        set => Volatile.Write(ref s_forcedKernel, value is { } k ? (int)k : -1);
    }

    /// <summary>
    /// Test and benchmark hook: packs a non-transposed B panel by panel, as before row-wise packing
    /// (<see cref="PackBRows"/>), so the two can be compared bit for bit and timed side by side.
    /// </summary>
    internal static bool PackBByPanels { get; set; }

    /// <summary>The best microkernel family this machine supports.</summary>
    internal static GemmKernel BestKernel => s_bestKernel;

    /// <summary>
    /// <c>C[i,j] = (accumulate ? C[i,j] : 0) + Σ_p opA[i,p] · opB[p,j]</c> for i &lt; m, j &lt; n, p &lt; k,
    /// where <c>opA[i,p] = transA ? a[aOffset + p*lda + i] : a[aOffset + i*lda + p]</c> and
    /// <c>opB[p,j] = transB ? b[bOffset + j*ldb + p] : b[bOffset + p*ldb + j]</c>;
    /// C is <c>c[cOffset + i*ldc + j]</c>. Then, for every row segment of C that is final,
    /// <see cref="IGemmEpilogue{T}.Apply"/> runs exactly once per element of C.
    /// Allocates nothing after the first call of each instantiation.
    /// </summary>
    /// <remarks>
    /// <para>
    /// The epilogue runs on row segments of up to NC columns (a whole row of n when k = 0) right
    /// after the last K block of the MR-row strip holding them, while the strip is in cache,
    /// possibly on a worker thread, and in no particular order; every element of C is covered by
    /// exactly one call.
    /// </para>
    /// <para>
    /// C must not overlap A or B (they may live in the same array at disjoint places); A and B
    /// may overlap each other. <paramref name="ldc"/> must be at least n.
    /// </para>
    /// <para>
    /// Each calling thread keeps one cached job and one set of packing buffers per element type,
    /// so calls from several threads at once (two models trained side by side, tests running in
    /// parallel) are correct and, after each thread's first call, allocate nothing. Only one of
    /// them uses the worker pool at a time; the others run their parts on their own thread.
    /// </para>
    /// <para>
    /// When <c>columnGroup</c> &gt; 1, every epilogue segment starts at a multiple of that many columns
    /// and spans whole groups (the last may end at n): an epilogue that works on groups of columns,
    /// such as RoPE on the heads of a q|k projection (<see cref="RopeEpilogue{T}"/>), sees each group
    /// whole. Column blocks and the split between threads are rounded to it.
    /// </para>
    /// </remarks>
    /// <exception cref="ArgumentNullException">An array is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A size, offset or leading dimension is negative,
    /// <paramref name="ldc"/> &lt; n, an operand reaches past the end of its array, or
    /// <paramref name="columnGroup"/> is below 1 or wider than a column block allows.</exception>
    public static void Multiply<T, TEpilogue>(
        T[] a, int aOffset, int lda, bool transA,
        T[] b, int bOffset, int ldb, bool transB,
        T[] c, int cOffset, int ldc,
        int m, int n, int k, bool accumulate, TEpilogue epilogue, int columnGroup = 1)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TEpilogue : struct, IGemmEpilogue<T>
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(columnGroup, 1);
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        ArgumentNullException.ThrowIfNull(c);
        ArgumentOutOfRangeException.ThrowIfNegative(m);
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        ArgumentOutOfRangeException.ThrowIfNegative(k);
        CheckOperand(c.Length, cOffset, ldc, m, n, nameof(c));
        if (ldc < n && m > 1)
        {
            throw new ArgumentOutOfRangeException(nameof(ldc), ldc, "ldc must be at least n: rows of C may not overlap.");
        }

        if (m == 0 || n == 0)
        {
            return;
        }

        if (k == 0)
        {
            ScaleAndFinish(c, cOffset, ldc, m, n, accumulate, ref epilogue);
            return;
        }

        CheckOperand(a.Length, aOffset, lda, transA ? k : m, transA ? m : k, nameof(a));
        CheckOperand(b.Length, bOffset, ldb, transB ? n : k, transB ? k : n, nameof(b));

        GemmKernel kernel = ForcedKernel ?? s_bestKernel;
        if (kernel == GemmKernel.Avx512 && n <= 16 && typeof(T) == typeof(float))
        {
            // A 32-wide tile would be mostly padding (the 10 logits of a classifier): the 16-wide
            // AVX2 tile does half the wasted work.
            kernel = GemmKernel.Avx2;
        }

        Blocking blocking = Blocking.For<T>(kernel);
        int columnUnit = Lcm(blocking.Nr, columnGroup);
        if (columnUnit > blocking.Nc)
        {
            throw new ArgumentOutOfRangeException(nameof(columnGroup), columnGroup, $"Column groups of {columnGroup} need column blocks of {columnUnit}, more than this kernel's {blocking.Nc}.");
        }

        // Split over the dimension whose packed operand is the cheaper one to pack twice: splitting
        // the columns of C makes every part pack all of A (m·k), splitting the rows all of B (k·n).
        int parts = 1;
        bool splitColumns = true;
        WorkerPool pool = WorkerPool.Shared;
        int threads = pool.Threads;
        if (threads > 1 && (long)m * n * k >= ParallelThreshold)
        {
            int columnPanels = DivUp(n, columnUnit);
            int rowPanels = DivUp(m, blocking.Mr);
            splitColumns = m <= n ? columnPanels > 1 : rowPanels == 1;
            parts = Math.Min(threads, splitColumns ? columnPanels : rowPanels);
        }

        Job<T, TEpilogue> job = Interlocked.Exchange(ref Job<T, TEpilogue>.s_cached, null) ?? new Job<T, TEpilogue>();
        Workspace<T> workspace = Interlocked.Exchange(ref Workspace<T>.s_cached, null) ?? new Workspace<T>();
        try
        {
            workspace.Ensure(parts, blocking);
            job.A = a;
            job.AOffset = aOffset;
            job.Lda = lda;
            job.TransA = transA;
            job.B = b;
            job.BOffset = bOffset;
            job.Ldb = ldb;
            job.TransB = transB;
            job.C = c;
            job.COffset = cOffset;
            job.Ldc = ldc;
            job.M = m;
            job.N = n;
            job.K = k;
            job.Accumulate = accumulate;
            job.Epilogue = epilogue;
            job.Kernel = kernel;
            job.Blocking = blocking;
            job.ColumnUnit = columnUnit;
            job.SplitColumns = splitColumns;
            job.Workspace = workspace;
            if (parts == 1)
            {
                job.Run(0, 1);
            }
            else
            {
                pool.Run(job, parts);
            }
        }
        finally
        {
            // Drop the references so a cached job keeps no caller's arrays alive.
            job.A = null!;
            job.B = null!;
            job.C = null!;
            job.Epilogue = default;
            job.Workspace = null!;
            Volatile.Write(ref Workspace<T>.s_cached, workspace);
            Volatile.Write(ref Job<T, TEpilogue>.s_cached, job);
        }
    }

    private static GemmKernel DetectKernel()
    {
        if (Vector512.IsHardwareAccelerated && Avx512F.IsSupported && Fma.IsSupported && Avx2.IsSupported)
        {
            return GemmKernel.Avx512;
        }

        return Fma.IsSupported && Avx2.IsSupported ? GemmKernel.Avx2 : GemmKernel.Scalar;
    }

    private static int DivUp(int x, int y) => (x + y - 1) / y;

    private static int Lcm(int x, int y)
    {
        int a = x, b = y;
        while (b != 0)
        {
            (a, b) = (b, a % b);
        }

        return x / a * y;
    }

    private static int RoundUp(int x, int multiple) => DivUp(x, multiple) * multiple;

    /// <summary>Checks that a <paramref name="rows"/> × <paramref name="cols"/> operand stored from
    /// <paramref name="offset"/> with leading dimension <paramref name="ld"/> lies inside its array
    /// (the kernels read and write through pointers, so this is what keeps them memory-safe).</summary>
    private static void CheckOperand(int length, int offset, int ld, int rows, int cols, string name)
    {
        if (offset < 0)
        {
            throw new ArgumentOutOfRangeException(name + "Offset", offset, "Offsets must not be negative.");
        }

        if (ld < 0)
        {
            throw new ArgumentOutOfRangeException("ld" + name, ld, "Leading dimensions must not be negative.");
        }

        if (rows == 0 || cols == 0)
        {
            return;
        }

        long end = offset + (long)(rows - 1) * ld + cols;
        if (end > length)
        {
            throw new ArgumentOutOfRangeException(name, $"The {rows} × {cols} operand with offset {offset} and leading dimension {ld} ends at {end}, past the array's length {length}.");
        }
    }

    /// <summary>The k = 0 product: C = accumulate ? C : 0, then the epilogue, row by row.</summary>
    private static void ScaleAndFinish<T, TEpilogue>(T[] c, int cOffset, int ldc, int m, int n, bool accumulate, ref TEpilogue epilogue)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TEpilogue : struct, IGemmEpilogue<T>
    {
        for (int i = 0; i < m; i++)
        {
            int row = cOffset + (i * ldc);
            if (!accumulate)
            {
                c.AsSpan(row, n).Clear();
            }

            epilogue.Apply(c, row, i, 0, n);
        }
    }

    /// <summary>The part of the product one thread computes: a slice of rows or columns of C.</summary>
    private static unsafe void RunPart<T, TEpilogue>(Job<T, TEpilogue> job, int index, int count)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TEpilogue : struct, IGemmEpilogue<T>
    {
        Blocking blk = job.Blocking;
        int row0 = 0, rows = job.M, col0 = 0, cols = job.N;
        if (count > 1)
        {
            // Whole micro-panels per part, so only the last part has edge tiles.
            if (job.SplitColumns)
            {
                int unit = job.ColumnUnit;
                int panels = DivUp(cols, unit);
                col0 = (int)((long)index * panels / count) * unit;
                cols = Math.Min(job.N, (int)((long)(index + 1) * panels / count) * unit) - col0;
            }
            else
            {
                int panels = DivUp(rows, blk.Mr);
                row0 = (int)((long)index * panels / count) * blk.Mr;
                rows = Math.Min(job.M, (int)((long)(index + 1) * panels / count) * blk.Mr) - row0;
            }
        }

        if (rows <= 0 || cols <= 0)
        {
            return;
        }

        PackBuffers<T> buffers = job.Workspace.Part(index);
        TEpilogue epilogue = job.Epilogue;
        int k = job.K, lda = job.Lda, ldb = job.Ldb, ldc = job.Ldc;
        bool transA = job.TransA, transB = job.TransB;

        // Balanced block sizes: 784 = 4 × 196 rather than 3 × 256 + 16.
        int kcStep = DivUp(k, DivUp(k, blk.Kc));
        int mcStep = RoundUp(DivUp(rows, DivUp(rows, blk.Mc)), blk.Mr);
        int ncStep = Math.Min(RoundUp(DivUp(cols, DivUp(cols, blk.Nc)), job.ColumnUnit), blk.Nc / job.ColumnUnit * job.ColumnUnit);

        fixed (T* pa = job.A, pb = job.B, pc = job.C)
        {
            T* aBase = transA ? pa + job.AOffset + row0 : pa + job.AOffset + ((nint)row0 * lda);
            T* bBase = transB ? pb + job.BOffset + ((nint)col0 * ldb) : pb + job.BOffset + col0;
            int cBase = job.COffset + (row0 * ldc) + col0;
            T* packedA = buffers.A;
            T* packedB = buffers.B;

            for (int jc = 0; jc < cols; jc += ncStep)
            {
                int nc = Math.Min(ncStep, cols - jc);
                for (int pcol = 0; pcol < k; pcol += kcStep)
                {
                    int kc = Math.Min(kcStep, k - pcol);
                    T* bSource = transB ? bBase + ((nint)jc * ldb) + pcol : bBase + ((nint)pcol * ldb) + jc;
                    PackB(bSource, ldb, transB, kc, nc, blk.Nr, packedB);

                    bool accumulateBlock = pcol > 0 || job.Accumulate;
                    bool lastBlock = pcol + kc == k;
                    for (int ic = 0; ic < rows; ic += mcStep)
                    {
                        int mc = Math.Min(mcStep, rows - ic);
                        T* aSource = transA ? aBase + ((nint)pcol * lda) + ic : aBase + ((nint)ic * lda) + pcol;
                        PackA(aSource, lda, transA, mc, kc, blk.Mr, packedA);

                        int cBlock = cBase + (ic * ldc) + jc;
                        MacroKernel(
                            job, ref epilogue, blk, kc, mc, nc, packedA, packedB, pc, cBlock, ldc,
                            row0 + ic, col0 + jc, accumulateBlock, lastBlock, buffers.Tile);
                    }
                }
            }
        }
    }

    /// <summary>Runs the microkernel over one packed (MC × KC) · (KC × NC) block; after the last K
    /// block, runs the epilogue on each MR-row strip of C as soon as the strip is complete.</summary>
    private static unsafe void MacroKernel<T, TEpilogue>(
        Job<T, TEpilogue> job, ref TEpilogue epilogue, Blocking blk, int kc, int mc, int nc,
        T* packedA, T* packedB, T* c, int cBlock, int ldc, int row, int col,
        bool accumulate, bool last, T* tile)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TEpilogue : struct, IGemmEpilogue<T>
    {
        int mr = blk.Mr, nr = blk.Nr;
        GemmKernel kernel = job.Kernel;
        T[] cArray = job.C;

        // A micro-panel outer, B inner: the A micro-panel (MR × KC, the operand the kernel
        // broadcasts from, MR loads per step) stays in L1 while the B block streams from L2, as in
        // BLIS; and each MR × NC strip of C is finished in one go, so the epilogue gets long rows.
        for (int ir = 0; ir < mc; ir += mr)
        {
            int nRows = Math.Min(mr, mc - ir);
            T* aPanel = packedA + ((nint)ir * kc);
            int cStrip = cBlock + (ir * ldc);
            for (int jr = 0; jr < nc; jr += nr)
            {
                int nCols = Math.Min(nr, nc - jr);
                T* bPanel = packedB + ((nint)jr * kc);
                T* cTile = c + cStrip + jr;
                if (nRows == mr && nCols == nr)
                {
                    MicroKernel(kernel, kc, aPanel, bPanel, cTile, ldc, accumulate);
                    continue;
                }

                // Edge tile: compute the full tile into scratch (the packing padded A and B with
                // zeros), then add or copy its valid part.
                MicroKernel(kernel, kc, aPanel, bPanel, tile, nr, false);
                for (int r = 0; r < nRows; r++)
                {
                    T* dst = cTile + ((nint)r * ldc);
                    T* src = tile + ((nint)r * nr);
                    for (int j = 0; j < nCols; j++)
                    {
                        dst[j] = accumulate ? dst[j] + src[j] : src[j];
                    }
                }
            }

            if (last)
            {
                for (int r = 0; r < nRows; r++)
                {
                    epilogue.Apply(cArray, cStrip + (r * ldc), row + ir + r, col, nc);
                }
            }
        }
    }

    /// <summary>C tile (MR × NR at <paramref name="c"/>, row stride <paramref name="ldc"/>) =
    /// (accumulate ? C : 0) + packed A micro-panel · packed B micro-panel.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void MicroKernel<T>(GemmKernel kernel, int kc, T* a, T* b, T* c, int ldc, bool accumulate)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float))
        {
            if (kernel == GemmKernel.Avx512)
            {
                MicroAvx512Float(kc, (float*)a, (float*)b, (float*)c, ldc, accumulate);
                return;
            }

            if (kernel == GemmKernel.Avx2)
            {
                MicroAvx2Float(kc, (float*)a, (float*)b, (float*)c, ldc, accumulate);
                return;
            }
        }
        else if (typeof(T) == typeof(double) && kernel != GemmKernel.Scalar)
        {
            MicroAvx2Double(kc, (double*)a, (double*)b, (double*)c, ldc, accumulate);
            return;
        }

        MicroScalar(kc, a, b, c, ldc, accumulate);
    }

    /// <summary>All the arguments of one call, set before dispatch; one cached per instantiation
    /// so that a call allocates nothing (no closure, no task).</summary>
    private sealed class Job<T, TEpilogue> : IParallelWork
        where T : unmanaged, IFloatingPointIeee754<T>
        where TEpilogue : struct, IGemmEpilogue<T>
    {
        // One per calling thread: two threads running this kernel at once (two models trained side by side)
        // each keep their own, so neither allocates after its first call.
        [ThreadStatic]
        internal static Job<T, TEpilogue>? s_cached;

        internal T[] A = null!;
        internal int AOffset;
        internal int Lda;
        internal bool TransA;
        internal T[] B = null!;
        internal int BOffset;
        internal int Ldb;
        internal bool TransB;
        internal T[] C = null!;
        internal int COffset;
        internal int Ldc;
        internal int M;
        internal int N;
        internal int K;
        internal bool Accumulate;
        internal TEpilogue Epilogue;
        internal GemmKernel Kernel;
        internal Blocking Blocking;
        internal bool SplitColumns;
        internal int ColumnUnit;
        internal Workspace<T> Workspace = null!;

        public void Run(int index, int count) => RunPart(this, index, count);
    }
}

/// <summary>Microkernel families, best last.</summary>
internal enum GemmKernel
{
    /// <summary>Portable scalar code, 4 × 4 tiles.</summary>
    Scalar = 0,

    /// <summary>AVX2 + FMA: float 6 × 16, double 6 × 8.</summary>
    Avx2 = 1,

    /// <summary>AVX-512: float 12 × 32; double as <see cref="Avx2"/>.</summary>
    Avx512 = 2,
}
