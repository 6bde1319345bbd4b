using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using Dsl.Cuda;
using Xunit;

namespace Dsl.Tests.Cuda;

/// <summary>
/// Runs a <see cref="CudaProgram"/>'s launch lists on the CPU: kernels through the emulation library
/// (the same CUDA C compiled as C++, see dsl_emulate.h), matrix products through a plain column-major
/// reference of the cublasSgemm call each <see cref="CudaGemm"/> maps to, so the row-major to
/// column-major mapping is checked too. The arena is a float array laid out as the device arena.
/// On the cuBLASLt path (the default, as <see cref="CudaSession"/> runs it when the library loads) a product
/// with an epilogue runs through a reference of cublasLtMatmul's contract for the <see cref="CublasLtCall"/>
/// it maps to (the epilogue chosen by its cublasLtEpilogue_t number), and the kernel marked
/// <see cref="CudaLaunch.UnlessFused"/> after it is skipped; on the cublasSgemm path that kernel runs.
/// </summary>
internal sealed unsafe class CudaEmulator
{
    private readonly CudaProgram _program;
    private readonly Dictionary<string, IntPtr> _kernels = new(StringComparer.Ordinal);
    private readonly bool _cublasLt;

    public CudaEmulator(CudaProgram program, bool cublasLt = true)
    {
        _program = program;
        if (program.MultiTask is { } multi) TaskWeights = new CudaTaskWeights(multi);
        _cublasLt = cublasLt;
        if (program.Unsupported.Count > 0)
            throw new InvalidOperationException($"{program.Model} has steps the CUDA emitter does not emit yet: {string.Join(", ", program.Unsupported)}");
        IntPtr library = NativeLibrary.Load(CudaToolchain.CompileEmulation(program.Model, program.Source));
        foreach (string name in program.KernelNames())
            _kernels[name] = NativeLibrary.GetExport(library, "emulate_" + name);
    }

    /// <summary>The host weighting of a multi-task program (the same code <see cref="CudaSession"/> runs), else null.</summary>
    public CudaTaskWeights? TaskWeights { get; }

    /// <summary>Products run through the cublasLtMatmul reference with their epilogue so far.</summary>
    public int FusedProducts { get; private set; }

    /// <summary>Bias/activation kernels skipped so far because cuBLASLt fused them.</summary>
    public int SkippedKernels { get; private set; }

    /// <summary>Runs <paramref name="launches"/> over <paramref name="arena"/>.</summary>
    public void Run(IReadOnlyList<CudaLaunch> launches, float[] arena, int[] ids, int[] labels, float[] targets, CudaArgs args)
    {
        fixed (float* a = arena)
        fixed (int* i = ids)
        fixed (int* l = labels)
        fixed (float* t = targets)
        {
            bool fused = false;
            foreach (var launch in launches)
            {
                var bound = launch.Bind(args);
                if (launch.UnlessFused && fused)
                {
                    fused = false;
                    SkippedKernels++;
                    continue;
                }

                fused = false;
                if (launch.Gemm is { } gemm)
                {
                    if (_cublasLt && gemm.Epilogue != CudaEpilogue.None)
                    {
                        Matmul(gemm.ToCublasLt(bound.Rows), arena);
                        FusedProducts++;
                        fused = true;
                        continue;
                    }

                    Sgemm(gemm.ToCublas(bound.Rows), arena);
                    continue;
                }

                var kernel = (delegate* unmanaged<int, int, float*, int*, int*, float*, CudaArgs*, void>)_kernels[launch.Name];
                kernel(launch.GridSize(bound.Rows, bound.Batch), launch.Block, a, i, l, t, &bound);
            }
        }
    }

    /// <summary>Forward (training), loss and backward; returns the mean loss as the host would compute it.</summary>
    public double TrainingPass(float[] arena, int rows, int batch, int[] ids, int[] labels, float[] targets, ulong seed, ulong dropoutStep)
    {
        var args = CudaArgs.ForPass(rows, batch, training: true, seed, dropoutStep);
        Run(_program.Forward, arena, ids, labels, targets, args);
        Run(_program.Loss, arena, ids, labels, targets, args);
        int lossRows = _program.LossRows(rows, batch);
        if (_program.MultiTask is { } multi)
        {
            // As CudaSession.WeighTasks, with the arena standing in for the downloads and uploads.
            int count = multi.Tasks.Count;
            var slots = arena.AsSpan(multi.Tasks[0].LossOffset, multi.Tasks[^1].LossOffset - multi.Tasks[0].LossOffset + lossRows);
            bool uncertain = multi.Weighting == TaskWeighting.Uncertainty;
            double combined = TaskWeights!.Combine(slots, lossRows,
                uncertain ? arena.AsSpan(multi.LogVarianceOffset, count) : default, uncertain ? arena.AsSpan(multi.LogVarianceGradientOffset, count) : default,
                arena.AsSpan(multi.FactorOffset, count), training: true);
            Run(multi.Scale, arena, ids, labels, targets, args);
            Run(_program.Backward, arena, ids, labels, targets, args);
            return combined;
        }

        Run(_program.Backward, arena, ids, labels, targets, args);
        double total = 0;
        for (int r = 0; r < lossRows; r++) total += arena[_program.LossOffset + r];
        return total / ((double)lossRows * _program.LossDivisor);
    }

    /// <summary>FGM as <see cref="CudaSession.AdversarialPass"/> runs it: clean pass, perturb, second pass, restore; returns the clean loss.</summary>
    public double AdversarialPass(float[] arena, int rows, int batch, int[] ids, int[] labels, float[] targets, ulong seed, ulong dropoutStep)
    {
        double loss = TrainingPass(arena, rows, batch, ids, labels, targets, seed, dropoutStep);
        var args = CudaArgs.ForPass(rows, batch, training: true, seed, dropoutStep);
        Run(_program.AdversarialPerturb, arena, ids, labels, targets, args);
        TrainingPass(arena, rows, batch, ids, labels, targets, seed, dropoutStep);
        Run(_program.AdversarialRestore, arena, ids, labels, targets, args);
        return loss;
    }

    /// <summary>
    /// cublasLtMatmul's contract with β = 0 and D = C: t = op(A)·op(B) (accumulated in double, rounded to float),
    /// then the epilogue named by its cublasLtEpilogue_t number: BIAS adds bias[i] to row i of column-major D;
    /// GELU applies the tanh form x·σ(2√(2/π)(x + 0.044715x³)) (= ½x(1 + tanh(√(2/π)(x + 0.044715x³))), cuBLASLt's
    /// documented GELU), after the bias for GELU_BIAS; the _AUX forms also write the GELU input to aux[i + j·auxLd].
    /// Any other number is refused, so a wrong mapping fails here rather than passing unnoticed.
    /// </summary>
    private static void Matmul(CublasLtCall call, float[] arena)
    {
        var p = call.Product;
        Assert.Equal(0f, p.Beta);
        (bool bias, bool gelu, bool aux) = call.Epilogue switch
        {
            CublasLtEpilogue.Bias => (true, false, false),
            CublasLtEpilogue.Gelu => (false, true, false),
            CublasLtEpilogue.GeluBias => (true, true, false),
            CublasLtEpilogue.GeluAux => (false, true, true),
            CublasLtEpilogue.GeluAuxBias => (true, true, true),
            _ => throw new NotSupportedException($"cublasLtEpilogue_t {call.Epilogue} is not one the emitter should use"),
        };
        Assert.Equal(bias, call.Bias >= 0);
        Assert.Equal(aux, call.Aux >= 0);
        if (aux) Assert.True(call.AuxLd % 8 == 0 && call.AuxLd >= p.M, $"EPILOGUE_AUX_LD {call.AuxLd} must be a multiple of 8 and at least {p.M}");
        for (int j = 0; j < p.N; j++)
        {
            for (int i = 0; i < p.M; i++)
            {
                double sum = 0;
                for (int k = 0; k < p.K; k++)
                {
                    float a = p.TransA ? arena[p.A + k + (i * p.Lda)] : arena[p.A + i + (k * p.Lda)];
                    float b = p.TransB ? arena[p.B + j + (k * p.Ldb)] : arena[p.B + k + (j * p.Ldb)];
                    sum += (double)a * b;
                }

                float z = (float)sum;
                if (bias) z += arena[call.Bias + i];
                if (aux) arena[call.Aux + i + (j * call.AuxLd)] = z;
                arena[p.C + i + (j * p.Ldc)] = gelu ? (float)(z / (1 + Math.Exp(-1.5957691216057308 * ((double)z + (0.044715 * (double)z * z * z))))) : z;
            }
        }
    }

    /// <summary>C = α·op(A)·op(B) + β·C, column-major, α = 1: the cublasSgemm contract (accumulated in double).</summary>
    private static void Sgemm(CublasCall call, float[] arena)
    {
        for (int j = 0; j < call.N; j++)
        {
            for (int i = 0; i < call.M; i++)
            {
                double sum = 0;
                for (int p = 0; p < call.K; p++)
                {
                    float a = call.TransA ? arena[call.A + p + (i * call.Lda)] : arena[call.A + i + (p * call.Lda)];
                    float b = call.TransB ? arena[call.B + j + (p * call.Ldb)] : arena[call.B + p + (j * call.Ldb)];
                    sum += (double)a * b;
                }

                ref float c = ref arena[call.C + i + (j * call.Ldc)];
                c = (float)(sum + (call.Beta == 0 ? 0 : call.Beta * c));
            }
        }
    }
}
