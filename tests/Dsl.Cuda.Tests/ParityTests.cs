using System;
using System.Linq;
using Dsl.Cuda;
using Dsl.Optimizers;
using Xunit;

namespace Dsl.Cuda.Tests;

/// <summary>On a GPU: a training pass and an AdamW step through the CUDA program match the CPU engine.</summary>
public sealed class ParityTests
{
    private const double Tolerance = 1e-3;

    [GpuFact]
    public void Mlp_training_pass_and_update_match_the_cpu_engine() => Mlp(useCublasLt: true);

    [GpuFact]
    public void Mlp_on_the_cublas_fallback_path_matches_the_cpu_engine() => Mlp(useCublasLt: false);

    [GpuFact]
    public void Mlp_on_a_partial_batch_matches_the_cpu_engine() => Mlp(useCublasLt: true, batch: 11);

    /// <summary>GpuMlp's hidden layer fuses GELU_AUX_BIAS and its head BIAS when cuBLASLt loads; without it (or with
    /// <paramref name="useCublasLt"/> false) the same products run through cublasSgemm and the epilogue kernels.</summary>
    private static void Mlp(bool useCublasLt, int batch = 16)
    {
        var engine = new GpuMlp.Engine<float>(seed: 1);
        var random = new Dsl.Runtime.SeededRandom(2);
        for (int i = 0; i < batch * GpuMlp.InputFeatures; i++) engine.Input[i] = (float)random.NextGaussian();
        int[] labels = Enumerable.Range(0, batch).Select(r => r % GpuMlp.OutputFeatures).ToArray();
        var program = GpuMlp.CudaProgram;
        using var session = CudaSession.Open(program, engine.Arena, useCublasLt: useCublasLt);
        if (!useCublasLt)
        {
            Assert.Equal(CudaMatmulPath.Cublas, session.MatmulPath);
            Assert.Contains("useCublasLt: false", session.MatmulPathReason, StringComparison.Ordinal);
        }
        else if (session.MatmulPath == CudaMatmulPath.Cublas)
        {
            Assert.StartsWith("cuBLASLt could not be loaded", session.MatmulPathReason, StringComparison.Ordinal);
        }
        else
        {
            Assert.Null(session.MatmulPathReason);
            Assert.Empty(session.UnfusedProducts); // every fused product found an algorithm
        }

        session.Stage(ReadOnlySpan<int>.Empty, labels, ReadOnlySpan<float>.Empty);
        double loss = session.TrainingPass(batch, batch, engine.Seed, 0);
        double expected = engine.TrainingPass(batch, labels);
        Assert.True(Math.Abs(loss - expected) <= Tolerance * Math.Abs(expected), $"loss: CPU {expected}, GPU {loss}");
        Compare("gradients", engine.Gradients, session, GpuMlp.Engine<float>.GradientOffset);

        var adamW = new AdamW(learningRate: 0.01) { MaxGradientNorm = 0.5 };
        var args = CudaArgs.ForAdamW(adamW);
        engine.ApplyOptimizer(adamW);
        session.Run(program.GradientNorm, args);
        session.Run(program.AdamW, args);
        Compare("parameters", engine.Parameters, session, 0);
    }

    [GpuFact]
    public void Gpt_training_pass_matches_the_cpu_engine()
    {
        const int batch = 2;
        int rows = batch * GpuGpt.Sequence;
        var engine = new GpuGpt.Engine<float>(seed: 3);
        for (int r = 0; r < rows; r++) engine.Tokens[r] = (r * 7 + 3) % 11;
        int[] labels = Enumerable.Range(0, rows).Select(r => (r * 5 + 1) % 11).ToArray();
        using var session = CudaSession.Open(GpuGpt.CudaProgram, engine.Arena);
        session.Stage(engine.Tokens, labels, ReadOnlySpan<float>.Empty);
        double loss = session.TrainingPass(rows, batch, engine.Seed, 0);
        double expected = engine.TrainingPass(batch, labels);
        Assert.True(Math.Abs(loss - expected) <= Tolerance * Math.Abs(expected), $"loss: CPU {expected}, GPU {loss}");
        Compare("gradients", engine.Gradients, session, GpuGpt.Engine<float>.GradientOffset);
    }

    [GpuFact]
    public void Multi_task_training_pass_and_update_match_the_cpu_engine()
    {
        // Uncertainty weighting: both task losses read back, weighed on the host, ∂L/∂s_i written to the device.
        const int batch = 12;
        var engine = new GpuMultiTask.Engine<float>(seed: 4);
        var random = new Dsl.Runtime.SeededRandom(5);
        for (int i = 0; i < batch * GpuMultiTask.InputFeatures; i++) engine.Input[i] = (float)random.NextGaussian();
        int[] labels = Enumerable.Range(0, batch).Select(r => (r * 3) % 5).ToArray();
        float[] box = Enumerable.Range(0, batch * 3).Select(_ => (float)random.NextGaussian()).ToArray();
        var program = GpuMultiTask.CudaProgram;
        using var session = CudaSession.Open(program, engine.Arena);
        var targets = new CudaTargets(program).SetLabels("y", labels).SetTensor("box", box);
        var adamW = new AdamW(learningRate: 0.01);
        for (int step = 0; step < 2; step++)
        {
            session.Stage(ReadOnlySpan<int>.Empty, targets);
            double loss = session.TrainingPass(batch, batch, engine.Seed, (ulong)step);
            engine.DropoutStep = (ulong)step;
            double expected = engine.TrainingPass(batch, labels, box);
            Assert.True(Math.Abs(loss - expected) <= Tolerance * Math.Abs(expected), $"step {step}: loss: CPU {expected}, GPU {loss}");
            for (int t = 0; t < 2; t++)
                Assert.True(Math.Abs(session.TaskLosses[t] - engine.TaskLosses[t]) <= Tolerance * Math.Abs(engine.TaskLosses[t]), $"step {step}: task {t}: CPU {engine.TaskLosses[t]}, GPU {session.TaskLosses[t]}");
            Compare("gradients", engine.Gradients, session, GpuMultiTask.Engine<float>.GradientOffset);
            var args = CudaArgs.ForAdamW(adamW);
            engine.ApplyOptimizer(adamW);
            session.Run(program.GradientNorm, args);
            session.Run(program.AdamW, args);
            Compare("parameters", engine.Parameters, session, 0);
        }
    }

    private static void Compare(string what, ReadOnlySpan<float> expected, CudaSession session, int offset)
    {
        float[] actual = new float[expected.Length];
        session.Download(actual, offset);
        float scale = 0;
        foreach (float e in expected) scale = Math.Max(scale, Math.Abs(e));
        for (int i = 0; i < expected.Length; i++)
        {
            double error = Math.Abs(expected[i] - actual[i]);
            Assert.True(error <= Tolerance * Math.Max(Math.Abs(expected[i]), scale * 1e-2), $"{what}[{i}]: CPU {expected[i]}, GPU {actual[i]}");
        }
    }
}
