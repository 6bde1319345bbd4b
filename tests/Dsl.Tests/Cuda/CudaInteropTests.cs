using System;
using System.Linq;
using System.Runtime.InteropServices;
using Dsl.Cuda;
using Dsl.Cuda.Interop;
using Dsl.Tests.EndToEnd;
using Xunit;

namespace Dsl.Tests.Cuda;

/// <summary>The GPU path's failures without a GPU: each names what is missing.</summary>
public sealed class CudaInteropTests
{
    [Fact]
    public void A_missing_library_is_named_with_the_files_tried_and_what_to_install()
    {
        var e = Assert.Throws<CudaUnavailableException>(() => CudaLibraries.Load("NVRTC, the CUDA runtime compiler", new[] { "libdsl-no-such-nvrtc.so.99", "libdsl-no-such-nvrtc.so" }, "the CUDA toolkit's NVRTC"));
        Assert.Contains("NVRTC, the CUDA runtime compiler could not be loaded", e.Message, StringComparison.Ordinal);
        Assert.Contains("libdsl-no-such-nvrtc.so.99, libdsl-no-such-nvrtc.so", e.Message, StringComparison.Ordinal);
        Assert.Contains("install the CUDA toolkit's NVRTC", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Without_a_driver_opening_a_session_says_the_driver_is_missing()
    {
        bool hasDriver = NativeLibrary.TryLoad("libcuda.so.1", out IntPtr handle);
        if (hasDriver)
        {
            // A GPU machine: the driver loads, so the failure (if any) must be about something else.
            NativeLibrary.Free(handle);
            var other = Record.Exception(() => CudaSession.RequireAvailable());
            Assert.True(other is null || other is CudaUnavailableException { Message: not null } && !other.Message.StartsWith("the CUDA driver could not", StringComparison.Ordinal), other?.Message);
            return;
        }

        var e = Assert.Throws<CudaUnavailableException>(() => CudaSession.Open(AllOps.CudaProgram, new float[16]));
        Assert.StartsWith("the CUDA driver could not be loaded (tried libcuda.so.1", e.Message, StringComparison.Ordinal);
        Assert.Contains("NVIDIA GPU driver", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_token_model_trainer_without_a_driver_says_the_driver_is_missing_and_checks_its_sequence()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => CudaTrainer.ForTokens(TinyGpt.CudaProgram, new float[16], 0, 1));
        if (NativeLibrary.TryLoad("libcuda.so.1", out IntPtr handle))
        {
            NativeLibrary.Free(handle); // a GPU machine: the trainer may well open
            return;
        }

        var e = Assert.Throws<CudaUnavailableException>(() => CudaTrainer.ForTokens(TinyGpt.CudaProgram, new float[16], TinyGpt.Sequence, 1));
        Assert.StartsWith("the CUDA driver could not be loaded", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_program_with_steps_not_emitted_yet_is_refused_before_touching_the_device()
    {
        // Every step the emitter knows is emitted today, so the refusal is checked on a program that lists one.
        var good = AllOps.CudaProgram;
        var partial = good with { Model = "Partial", Unsupported = new[] { "SomeStep (Layer)" } };
        var e = Assert.Throws<NotSupportedException>(() => CudaSession.Open(partial, ReadOnlySpan<float>.Empty));
        Assert.Contains("Partial cannot run on a GPU yet", e.Message, StringComparison.Ordinal);
        Assert.Contains("SomeStep (Layer)", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Gemm_maps_row_major_products_to_column_major_cublas_arguments()
    {
        // C[rows, n] = X[rows, k]·W[n, k]ᵀ: cuBLAS computes Cᵀ = W·Xᵀ, i.e. transa = T on W, transb = N on X.
        var call = new CudaGemm(false, true, A: 100, Lda: 4, B: 0, Ldb: 4, C: 200, Ldc: 3, M: 0, N: 3, K: 4, RowsAreM: true, Accumulate: true).ToCublas(rows: 5);
        Assert.Equal(new CublasCall(true, false, 3, 5, 4, 0, 4, 100, 4, 200, 3, 1f), call);
        // ∂W[n, k] = ∂Yᵀ·X over the rows: the row count is the inner dimension.
        var weight = new CudaGemm(true, false, A: 10, Lda: 3, B: 20, Ldb: 4, C: 30, Ldc: 4, M: 3, N: 4, K: 0, RowsAreM: false, Accumulate: false).ToCublas(rows: 7);
        Assert.Equal(new CublasCall(false, true, 4, 3, 7, 20, 4, 10, 3, 30, 4, 0f), weight);
    }

    [Fact]
    public void Fused_products_map_to_cublaslt_arguments_and_epilogue_numbers()
    {
        // y[rows, 16] = GELU(x[rows, 6]·W[16, 6]ᵀ + b), z kept: column-major D is yᵀ [16, rows], so the bias is per row of D
        // and the aux matrix has D's leading dimension.
        var gemm = new CudaGemm(false, true, A: 100, Lda: 6, B: 0, Ldb: 6, C: 200, Ldc: 16, M: 0, N: 16, K: 6, RowsAreM: true, Accumulate: false,
            CudaEpilogue.GeluBias, Bias: 96, Aux: 300);
        var call = gemm.ToCublasLt(rows: 5);
        Assert.Equal(gemm.ToCublas(5), call.Product);
        Assert.Equal(new CublasLtCall(new CublasCall(true, false, 16, 5, 6, 0, 6, 100, 6, 200, 16, 0f), 164, 96, 300, 16), call);
        Assert.Equal(36, (gemm with { Aux = -1 }).ToCublasLt(5).Epilogue);
        Assert.Equal(160, (gemm with { Epilogue = CudaEpilogue.Gelu, Bias = -1 }).ToCublasLt(5).Epilogue);
        Assert.Equal(32, (gemm with { Epilogue = CudaEpilogue.Gelu, Bias = -1, Aux = -1 }).ToCublasLt(5).Epilogue);
        var bias = (gemm with { Epilogue = CudaEpilogue.Bias, Aux = -1 }).ToCublasLt(5);
        Assert.Equal((4, 0), (bias.Epilogue, bias.AuxLd));
        // What cuBLASLt cannot do is refused by name, not run wrongly.
        Assert.Throws<InvalidOperationException>(() => (gemm with { Epilogue = CudaEpilogue.None }).ToCublasLt(5));
        Assert.Throws<InvalidOperationException>(() => (gemm with { Accumulate = true }).ToCublasLt(5));
        Assert.Throws<InvalidOperationException>(() => (gemm with { Bias = -1 }).ToCublasLt(5));
        Assert.Throws<InvalidOperationException>(() => (gemm with { Epilogue = CudaEpilogue.Gelu }).ToCublasLt(5));
        Assert.Throws<InvalidOperationException>(() => (gemm with { Epilogue = CudaEpilogue.Bias }).ToCublasLt(5));
    }

    [Fact]
    public void Cublaslt_alignment_preferences_follow_the_arena_offsets()
    {
        Assert.Equal(256u, CublasLtPlan.Alignment(0));
        Assert.Equal(4u, CublasLtPlan.Alignment(1));
        Assert.Equal(8u, CublasLtPlan.Alignment(6));
        Assert.Equal(64u, CublasLtPlan.Alignment(16));
        Assert.Equal(256u, CublasLtPlan.Alignment(64 * 3));
        // cublasLtMatmulHeuristicResult_t: the 64-byte algo, size_t workspaceSize, status, float wavesCount, int[4].
        Assert.Equal(96, System.Runtime.CompilerServices.Unsafe.SizeOf<CublasLt.HeuristicResult>());
    }

    [Fact]
    public void A_missing_cublaslt_is_a_reason_to_fall_back_not_an_error()
    {
        // The session stays on cublasSgemm with this reason (CudaSession.MatmulPathReason) rather than failing to open.
        if (CudaLibraries.TryRequire(CudaLibraries.CublasLt, out string? reason))
        {
            Assert.Null(reason); // a machine with cuBLASLt
            return;
        }

        Assert.StartsWith("cuBLASLt could not be loaded (tried libcublasLt.so.13", reason, StringComparison.Ordinal);
    }

    [Fact]
    public void AdamW_arguments_follow_the_step_the_device_has_reached()
    {
        var adamW = new Dsl.Optimizers.AdamW(learningRate: 0.01, beta1: 0.8, beta2: 0.9, weightDecay: 0.5);
        var third = CudaArgs.ForAdamW(adamW, 3);
        Assert.Equal((float)(0.01 / (1 - Math.Pow(0.8, 3))), third.StepSize);
        Assert.Equal((float)Math.Sqrt(1 - Math.Pow(0.9, 3)), third.SqrtBiasCorrection2);
        Assert.Equal((float)(1 - (0.01 * 0.5)), third.Decay);
        Assert.Equal(CudaArgs.ForAdamW(adamW, 1), CudaArgs.ForAdamW(adamW));
        Assert.Throws<ArgumentOutOfRangeException>(() => CudaArgs.ForAdamW(adamW, 0));
    }
}
