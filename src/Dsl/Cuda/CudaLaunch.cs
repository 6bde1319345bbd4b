using System;

namespace Dsl.Cuda;

/// <summary>How a kernel's grid follows the batch.</summary>
public enum CudaGrid
{
    /// <summary>Grid-stride loop over rows × <see cref="CudaLaunch.Width"/> elements.</summary>
    RowElements,

    /// <summary>Grid-stride loop over a fixed <see cref="CudaLaunch.Width"/> elements (columns, parameters).</summary>
    Elements,

    /// <summary>One block per row (reductions along a row in shared memory).</summary>
    Rows,

    /// <summary>One block (a whole-arena reduction).</summary>
    Single,

    /// <summary>batch × <see cref="CudaLaunch.Width"/> blocks (attention: one per example, head and query tile).</summary>
    Batches,
}

/// <summary>
/// A row-major matrix product C (+)= op(A)·op(B) over arena slices, C of shape [M, N], the inner
/// dimension K; one of M or K is the step's row count. A GPU run hands it to cuBLAS (see
/// <see cref="ToCublas"/>); the emulation check runs the same column-major call on the CPU.
/// </summary>
/// <param name="TransposeA">op(A) = Aᵀ (A stored [K, M]).</param>
/// <param name="TransposeB">op(B) = Bᵀ (B stored [N, K]).</param>
/// <param name="A">Arena offset of A.</param>
/// <param name="Lda">Row stride of A.</param>
/// <param name="B">Arena offset of B.</param>
/// <param name="Ldb">Row stride of B.</param>
/// <param name="C">Arena offset of C.</param>
/// <param name="Ldc">Row stride of C.</param>
/// <param name="M">Rows of C (ignored when <paramref name="RowsAreM"/>: the step's rows).</param>
/// <param name="N">Columns of C.</param>
/// <param name="K">Inner dimension (ignored when <paramref name="RowsAreM"/> is false: the step's rows).</param>
/// <param name="RowsAreM">M is the run-time row count; otherwise K is.</param>
/// <param name="Accumulate">C += (β = 1) rather than C = (β = 0).</param>
/// <param name="Epilogue">What cuBLASLt may fuse after the product (a Dense forward's bias and GELU); the launch
/// after this one (<see cref="CudaLaunch.UnlessFused"/>) does the same on the plain cuBLAS path.</param>
/// <param name="Bias">Arena offset of the bias (N values, one per column of row-major C), or −1.</param>
/// <param name="Aux">Arena offset where the GELU epilogue keeps its input z (row-major [M, N], row stride
/// <paramref name="Ldc"/>) for the backward, or −1 when the plan does not keep it.</param>
public sealed record CudaGemm(bool TransposeA, bool TransposeB, int A, int Lda, int B, int Ldb, int C, int Ldc, int M, int N, int K, bool RowsAreM, bool Accumulate,
    CudaEpilogue Epilogue = CudaEpilogue.None, int Bias = -1, int Aux = -1)
{
    /// <summary>
    /// The cublasLtMatmul arguments for <paramref name="rows"/> rows: the column-major product of
    /// <see cref="ToCublas"/> (D = C in place, same layout) and the cuBLASLt epilogue. Column-major D is
    /// Cᵀ [N, M], so the bias (one value per column of row-major C) is cuBLASLt's per-row-of-D bias, and
    /// the kept GELU input has D's layout (leading dimension <see cref="Ldc"/>).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="rows"/> is negative.</exception>
    /// <exception cref="InvalidOperationException">The product has no epilogue, accumulates (β = 1), or its
    /// bias/aux offsets do not match the epilogue.</exception>
    public CublasLtCall ToCublasLt(int rows)
    {
        if (Epilogue == CudaEpilogue.None) throw new InvalidOperationException("this product has no epilogue: run it through cublasSgemm (ToCublas).");
        if (Accumulate) throw new InvalidOperationException("a fused epilogue needs β = 0: the product must not accumulate.");
        bool bias = Epilogue is CudaEpilogue.Bias or CudaEpilogue.GeluBias;
        if (bias != Bias >= 0) throw new InvalidOperationException($"epilogue {Epilogue} with bias offset {Bias}: a bias epilogue needs a bias and only it.");
        if (Epilogue == CudaEpilogue.Bias && Aux >= 0) throw new InvalidOperationException($"epilogue {Epilogue} keeps no GELU input, but aux offset {Aux} was given.");
        int value = Epilogue switch
        {
            CudaEpilogue.Bias => CublasLtEpilogue.Bias,
            CudaEpilogue.Gelu => Aux >= 0 ? CublasLtEpilogue.GeluAux : CublasLtEpilogue.Gelu,
            _ => Aux >= 0 ? CublasLtEpilogue.GeluAuxBias : CublasLtEpilogue.GeluBias,
        };
        return new CublasLtCall(ToCublas(rows), value, Bias, Aux, Aux >= 0 ? Ldc : 0);
    }

    /// <summary>
    /// The cublasSgemm arguments for <paramref name="rows"/> rows. cuBLAS is column-major: a row-major
    /// C[M, N] is the column-major Cᵀ[N, M] = op(B)ᵀ·op(A)ᵀ, so the operands swap and M, N swap.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="rows"/> is negative.</exception>
    public CublasCall ToCublas(int rows)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        int m = RowsAreM ? rows : M, k = RowsAreM ? K : rows;
        return new CublasCall(TransposeB, TransposeA, N, m, k, B, Ldb, A, Lda, C, Ldc, Accumulate ? 1f : 0f);
    }
}

/// <summary>
/// The arguments of one column-major <c>cublasSgemm(handle, transa, transb, m, n, k, α = 1, A, lda,
/// B, ldb, β, C, ldc)</c>, pointers as arena offsets: C[m, n] = α·op(A)[m, k]·op(B)[k, n] + β·C.
/// </summary>
/// <param name="TransA">CUBLAS_OP_T for A.</param>
/// <param name="TransB">CUBLAS_OP_T for B.</param>
/// <param name="M">Rows of column-major C.</param>
/// <param name="N">Columns of column-major C.</param>
/// <param name="K">Inner dimension.</param>
/// <param name="A">Arena offset of A.</param>
/// <param name="Lda">Leading dimension of A.</param>
/// <param name="B">Arena offset of B.</param>
/// <param name="Ldb">Leading dimension of B.</param>
/// <param name="C">Arena offset of C.</param>
/// <param name="Ldc">Leading dimension of C.</param>
/// <param name="Beta">0 to overwrite C, 1 to accumulate.</param>
public readonly record struct CublasCall(bool TransA, bool TransB, int M, int N, int K, int A, int Lda, int B, int Ldb, int C, int Ldc, float Beta);

/// <summary>
/// cublasLtEpilogue_t values (cublasLt.h). Checked against the header's definitions (DEFAULT = 1, BIAS = 4,
/// GELU = 32, GELU_AUX = GELU | 128, GELU_BIAS = GELU | BIAS, GELU_AUX_BIAS = GELU_AUX | BIAS, DGELU = 64 | 128,
/// DGELU_BGRAD = DGELU | 16, BGRADB = 512); no CUDA toolkit is installed where this was written, so they were read
/// from published copies of the header, not from an installed one.
/// </summary>
public static class CublasLtEpilogue
{
    /// <summary>CUBLASLT_EPILOGUE_DEFAULT: no epilogue.</summary>
    public const int Default = 1;

    /// <summary>CUBLASLT_EPILOGUE_BIAS: D += bias, one value per row of column-major D.</summary>
    public const int Bias = 4;

    /// <summary>CUBLASLT_EPILOGUE_GELU: D = GELU(D), the tanh approximation.</summary>
    public const int Gelu = 32;

    /// <summary>CUBLASLT_EPILOGUE_GELU_BIAS: D = GELU(D + bias).</summary>
    public const int GeluBias = 36;

    /// <summary>CUBLASLT_EPILOGUE_GELU_AUX: as <see cref="Gelu"/>, the GELU input also written to the aux matrix.</summary>
    public const int GeluAux = 160;

    /// <summary>CUBLASLT_EPILOGUE_GELU_AUX_BIAS: as <see cref="GeluBias"/>, the GELU input (D + bias) also written to the aux matrix.</summary>
    public const int GeluAuxBias = 164;

    /// <summary>CUBLASLT_EPILOGUE_DGELU (not used: see docs/cuda.md on the backward).</summary>
    public const int DGelu = 192;

    /// <summary>CUBLASLT_EPILOGUE_DGELU_BGRAD (not used).</summary>
    public const int DGeluBGrad = 208;

    /// <summary>CUBLASLT_EPILOGUE_BGRADB (not used).</summary>
    public const int BGradB = 512;
}

/// <summary>
/// The arguments of one column-major <c>cublasLtMatmul</c> with an epilogue, pointers as arena offsets:
/// D = C = epilogue(op(A)[m, k]·op(B)[k, n]) with β = 0.
/// </summary>
/// <param name="Product">The product, as cublasSgemm would take it (β is 0).</param>
/// <param name="Epilogue">The cublasLtEpilogue_t value (<see cref="CublasLtEpilogue"/>).</param>
/// <param name="Bias">Arena offset of the bias (m values), or −1.</param>
/// <param name="Aux">Arena offset of the GELU input matrix (m × n, leading dimension <paramref name="AuxLd"/>), or −1.</param>
/// <param name="AuxLd">CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD (cuBLASLt requires a multiple of 8), 0 without aux.</param>
public readonly record struct CublasLtCall(CublasCall Product, int Epilogue, int Bias, int Aux, int AuxLd);

/// <summary>
/// One entry of a model's CUDA launch list: a kernel of <see cref="CudaProgram.Source"/> (every kernel
/// takes the arena, the token ids, the labels, the targets and a <see cref="CudaArgs"/>), or a cuBLAS
/// matrix product when <see cref="Gemm"/> is set.
/// </summary>
/// <param name="Name">Kernel name (extern "C"), or a label for a GEMM.</param>
/// <param name="PerExample">The launch runs after a MeanPool: one row per example (see <see cref="Bind"/>).</param>
/// <param name="Comment">What the launch computes.</param>
/// <param name="Grid">How the grid follows the batch.</param>
/// <param name="Width">Elements per row (<see cref="CudaGrid.RowElements"/>) or in all (<see cref="CudaGrid.Elements"/>).</param>
/// <param name="Block">Threads per block (a power of two for the reduction kernels).</param>
/// <param name="Gemm">The matrix product, or null for a kernel.</param>
/// <param name="UnlessFused">A Dense's bias/activation kernel that follows its product: it runs only when that
/// product ran through cublasSgemm; when cuBLASLt fused the product's <see cref="CudaGemm.Epilogue"/>, it is skipped.</param>
public sealed record CudaLaunch(string Name, string Comment, CudaGrid Grid, int Width, int Block, CudaGemm? Gemm = null, bool PerExample = false, bool UnlessFused = false)
{
    /// <summary>The arguments this launch runs with: after a MeanPool (<see cref="PerExample"/>) a pass has one row
    /// per example, so <see cref="CudaArgs.Rows"/> becomes <see cref="CudaArgs.Batch"/>.</summary>
    public CudaArgs Bind(CudaArgs args) => PerExample ? args with { Rows = args.Batch } : args;

    /// <summary>Largest grid a grid-stride kernel is given.</summary>
    public const int MaxGrid = 65535;

    /// <summary>Blocks to launch for <paramref name="rows"/> rows of <paramref name="batch"/> examples (at least 1).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="rows"/> or <paramref name="batch"/> is negative.</exception>
    public int GridSize(int rows, int batch)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        ArgumentOutOfRangeException.ThrowIfNegative(batch);
        long count = Grid switch
        {
            CudaGrid.RowElements => ((long)rows * Width + Block - 1) / Block,
            CudaGrid.Elements => ((long)Width + Block - 1) / Block,
            CudaGrid.Rows => rows,
            CudaGrid.Batches => (long)batch * Width,
            _ => 1,
        };
        return (int)Math.Clamp(count, 1, MaxGrid);
    }
}
