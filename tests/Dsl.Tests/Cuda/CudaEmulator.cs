using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using Dsl.Cuda;

namespace Dsl.Tests.Cuda;

/// <summary>
/// Runs a <see cref="CudaProgram"/>'s launch lists on the CPU: kernels through the emulation library
/// (the same CUDA C compiled as C++, see dsl_emulate.h), matrix products through a plain column-major
/// reference of the cublasSgemm call each <see cref="CudaGemm"/> maps to, so the row-major to
/// column-major mapping is checked too. The arena is a float array laid out as the device arena.
/// </summary>
internal sealed unsafe class CudaEmulator
{
    private readonly CudaProgram _program;
    private readonly Dictionary<string, IntPtr> _kernels = new(StringComparer.Ordinal);

    public CudaEmulator(CudaProgram program)
    {
        _program = program;
        if (program.Unsupported.Count > 0)
            throw new InvalidOperationException($"{program.Model} has steps the CUDA emitter does not emit yet: {string.Join(", ", program.Unsupported)}");
        IntPtr library = NativeLibrary.Load(CudaToolchain.CompileEmulation(program.Model, program.Source));
        foreach (string name in program.KernelNames())
            _kernels[name] = NativeLibrary.GetExport(library, "emulate_" + name);
    }

    /// <summary>Runs <paramref name="launches"/> over <paramref name="arena"/>.</summary>
    public void Run(IReadOnlyList<CudaLaunch> launches, float[] arena, int[] ids, int[] labels, float[] targets, CudaArgs args)
    {
        fixed (float* a = arena)
        fixed (int* i = ids)
        fixed (int* l = labels)
        fixed (float* t = targets)
        {
            foreach (var launch in launches)
            {
                var bound = launch.Bind(args);
                if (launch.Gemm is { } gemm)
                {
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
        Run(_program.Backward, arena, ids, labels, targets, args);
        int lossRows = _program.LossRows(rows, batch);
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
