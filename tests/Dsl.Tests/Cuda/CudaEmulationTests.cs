using System;
using System.Linq;
using Dsl.Cuda;
using Dsl.Optimizers;
using Dsl.Runtime;
using Dsl.Tests.EndToEnd;
using Xunit;

namespace Dsl.Tests.Cuda;

/// <summary>
/// The generated CUDA kernels' numbers, checked on the CPU: the same source compiled as C++ (see
/// dsl_emulate.h) runs the model's launch lists, with a column-major reference for the cuBLAS calls,
/// and must match the CPU engine's forward output, loss, parameter gradients, gradient norm and
/// parameters after optimizer steps, within 1e-4 relative.
/// </summary>
public sealed class CudaEmulationTests
{
    private const double Tolerance = 1e-4;

    /// <summary>What the check needs from a model's float engine.</summary>
    private sealed record Subject(
        CudaProgram Program, float[] Arena, ulong Seed, Func<int, double> TrainingPass, Action<Optimizer> ApplyOptimizer, Action<ulong> SetDropoutStep,
        int InputOffset, int InputWidth, int OutputOffset, int OutputWidth, int GradientOffset, ParameterTensor[] Tensors);

    [Fact]
    public void AllOps_matches_the_cpu_engine_with_adamw_and_clipping()
    {
        const int batch = 4;
        int[] labels = { 2, 0, 1, 2 };
        var engine = new AllOps.Engine<float>(seed: 11);
        var subject = new Subject(AllOps.CudaProgram, engine.Arena, engine.Seed, b => engine.TrainingPass(b, labels), engine.ApplyOptimizer, s => engine.DropoutStep = s,
            AllOps.Engine<float>.InputOffset, AllOps.InputFeatures, AllOps.Engine<float>.OutputOffset, AllOps.OutputFeatures, AllOps.Engine<float>.GradientOffset, AllOps.Engine<float>.Tensors.ToArray());
        // A clipping threshold below the gradient norm, so the clipped path runs.
        var adamW = new AdamW(learningRate: 0.01, weightDecay: 0.1) { MaxGradientNorm = 0.05 };
        Check(subject, batch, labels, Array.Empty<float>(), adamW, o => CudaArgs.ForAdamW((AdamW)o), AllOps.CudaProgram.AdamW);
    }

    [Fact]
    public void Regressor_matches_the_cpu_engine_with_sgd()
    {
        const int batch = 5;
        var random = new SeededRandom(21);
        float[] targets = Enumerable.Range(0, batch * Regressor.OutputFeatures).Select(_ => (float)random.NextGaussian()).ToArray();
        var engine = new Regressor.Engine<float>(seed: 12);
        var subject = new Subject(Regressor.CudaProgram, engine.Arena, engine.Seed, b => engine.TrainingPass(b, targets), engine.ApplyOptimizer, s => engine.DropoutStep = s,
            Regressor.Engine<float>.InputOffset, Regressor.InputFeatures, Regressor.Engine<float>.OutputOffset, Regressor.OutputFeatures, Regressor.Engine<float>.GradientOffset, Regressor.Engine<float>.Tensors.ToArray());
        var sgd = new Sgd(0.05, momentum: 0.9, weightDecay: 0.01);
        Check(subject, batch, Array.Empty<int>(), targets, sgd, o => CudaArgs.ForSgd((Sgd)o), Regressor.CudaProgram.Sgd);
    }

    [Fact]
    public void WideMlp_matches_the_cpu_engine_on_a_partial_batch()
    {
        // The Fashion-MNIST shape (784 → 256 → 256 → 10, dropout, GELU) on fewer rows than MaxBatch.
        const int batch = 6;
        int[] labels = { 3, 9, 0, 1, 7, 7 };
        var engine = new WideMlp.Engine<float>(seed: 13);
        var subject = new Subject(WideMlp.CudaProgram, engine.Arena, engine.Seed, b => engine.TrainingPass(b, labels), engine.ApplyOptimizer, s => engine.DropoutStep = s,
            WideMlp.Engine<float>.InputOffset, WideMlp.InputFeatures, WideMlp.Engine<float>.OutputOffset, WideMlp.OutputFeatures, WideMlp.Engine<float>.GradientOffset, WideMlp.Engine<float>.Tensors.ToArray());
        Check(subject, batch, labels, Array.Empty<float>(), new AdamW(learningRate: 1e-3), o => CudaArgs.ForAdamW((AdamW)o), WideMlp.CudaProgram.AdamW, steps: 2);
    }

    [Fact]
    public void A_wrong_kernel_fails_the_check()
    {
        // The check can fail: the same model with one constant of the GELU derivative changed.
        var good = AllOps.CudaProgram;
        Assert.Contains("0.134145f", good.Source, StringComparison.Ordinal);
        var bad = new CudaProgram("AllOpsMutated", good.Source.Replace("0.134145f", "0.13f", StringComparison.Ordinal), good.ArenaLength, good.NormOffset, good.LossOffset, good.LossDivisor,
            good.Forward.ToArray(), good.Loss.ToArray(), good.Backward.ToArray(), good.GradientNorm.ToArray(), good.Sgd.ToArray(), good.AdamW.ToArray(), Array.Empty<string>());
        int[] labels = { 2, 0, 1, 2 };
        var engine = new AllOps.Engine<float>(seed: 11);
        var subject = new Subject(bad, engine.Arena, engine.Seed, b => engine.TrainingPass(b, labels), engine.ApplyOptimizer, s => engine.DropoutStep = s,
            AllOps.Engine<float>.InputOffset, AllOps.InputFeatures, AllOps.Engine<float>.OutputOffset, AllOps.OutputFeatures, AllOps.Engine<float>.GradientOffset, AllOps.Engine<float>.Tensors.ToArray());
        var e = Assert.ThrowsAny<Xunit.Sdk.XunitException>(() => Check(subject, 4, labels, Array.Empty<float>(), new AdamW(), o => CudaArgs.ForAdamW((AdamW)o), bad.AdamW, steps: 1));
        Assert.Contains("∂", e.Message, StringComparison.Ordinal);
    }

    private static void Check(Subject s, int batch, int[] labels, float[] targets, Optimizer optimizer, Func<Optimizer, CudaArgs> argsFor,
        System.Collections.Generic.IReadOnlyList<CudaLaunch> update, int steps = 3)
    {
        var program = s.Program;
        int rows = batch;
        var random = new SeededRandom(5);
        for (int i = 0; i < rows * s.InputWidth; i++) s.Arena[s.InputOffset + i] = (float)((random.NextDouble() * 2) - 1);
        var emulator = new CudaEmulator(program);
        float[] device = new float[program.ArenaLength];
        s.Arena.CopyTo(device, 0);

        for (int step = 0; step < steps; step++)
        {
            s.SetDropoutStep((ulong)step);
            double expectedLoss = s.TrainingPass(batch);
            double loss = emulator.TrainingPass(device, rows, batch, labels, targets, s.Seed, (ulong)step);
            Close($"step {step}: loss", expectedLoss, loss);
            Close($"step {step}: output", s.Arena.AsSpan(s.OutputOffset, rows * s.OutputWidth), device.AsSpan(s.OutputOffset, rows * s.OutputWidth));
            foreach (var t in s.Tensors)
                Close($"step {step}: ∂{t.Name}", s.Arena.AsSpan(s.GradientOffset + t.Offset, t.Length), device.AsSpan(s.GradientOffset + t.Offset, t.Length));

            var args = argsFor(optimizer);
            s.ApplyOptimizer(optimizer);
            emulator.Run(program.GradientNorm, device, Array.Empty<int>(), labels, targets, args);
            emulator.Run(update, device, Array.Empty<int>(), labels, targets, args);
            Close($"step {step}: gradient norm", optimizer.LastGradientNorm, device[program.NormOffset]);
            foreach (var t in s.Tensors)
                Close($"step {step}: {t.Name} after the update", s.Arena.AsSpan(t.Offset, t.Length), device.AsSpan(t.Offset, t.Length));
        }
    }

    private static void Close(string what, double expected, double actual) =>
        Assert.True(Math.Abs(expected - actual) <= Tolerance * Math.Max(Math.Abs(expected), 1e-3), $"{what}: CPU {expected:R}, emulated CUDA {actual:R}");

    /// <summary>Element-wise relative error, the floor at 1% of the tensor's largest magnitude: an element
    /// that cancels to near zero (a sum of terms of both signs, in float on one side and another order
    /// on the other) is compared at a scale where float rounding of its terms no longer dominates.</summary>
    private static void Close(string what, ReadOnlySpan<float> expected, ReadOnlySpan<float> actual)
    {
        float scale = 0;
        foreach (float e in expected) scale = Math.Max(scale, Math.Abs(e));
        double floor = Math.Max(scale * 1e-2, 1e-12);
        for (int i = 0; i < expected.Length; i++)
        {
            double error = Math.Abs(expected[i] - actual[i]);
            Assert.True(error <= Tolerance * Math.Max(Math.Abs(expected[i]), floor),
                $"{what}[{i}]: CPU {expected[i]:R}, emulated CUDA {actual[i]:R} (relative error {error / Math.Max(Math.Abs(expected[i]), floor):E2}, tensor scale {scale:R})");
        }
    }
}
