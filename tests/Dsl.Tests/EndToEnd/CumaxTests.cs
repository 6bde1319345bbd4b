using System;
using Dsl.Runtime;
using Xunit;

namespace Dsl.Tests.EndToEnd;

/// <summary>cumax through the generated code: the double engine's gradients against finite differences, the float
/// engine's output against the eager reference (so the forward does run cumax: the eager path is Dsl.Ops.Cumax), and
/// a training step without allocation.</summary>
public sealed class CumaxTests
{
    private static double[] Inputs(int rows, ulong seed)
    {
        var random = new SeededRandom(seed);
        var x = new double[rows * CumaxNet.InputFeatures];
        for (int i = 0; i < x.Length; i++) x[i] = 2 * random.NextGaussian();
        return x;
    }

    [Fact]
    public void Gradients_match_finite_differences_in_double()
    {
        var engine = new CumaxNet.Engine<double>(seed: 5);
        Inputs(4, 3).CopyTo(engine.Input);
        int[] labels = { 2, 0, 1, 2 };
        engine.TrainingPass(4, labels);
        double[] analytic = engine.Gradients.ToArray();
        GradientCheckTests.Check(engine.Arena.AsSpan(0, CumaxNet.Engine<double>.ParameterRegion), analytic,
            () => engine.TrainingPass(4, labels), CumaxNet.Engine<double>.Tensors);
    }

    [Fact]
    public void Fused_forward_agrees_with_the_eager_reference()
    {
        var model = new CumaxNet(seed: 9);
        float[] x = Array.ConvertAll(Inputs(3, 4), v => (float)v);
        var fused = new float[3 * CumaxNet.OutputFeatures];
        model.Predict(x, fused);
        var reference = model.Forward(Tensor.FromRows(x, 3, CumaxNet.InputFeatures));
        for (int i = 0; i < fused.Length; i++)
            Assert.True(Math.Abs(fused[i] - reference.Data[i]) <= 1e-5 * Math.Max(1, Math.Abs(reference.Data[i])), $"output {i}: fused {fused[i]}, reference {reference.Data[i]}");
    }

    [Fact]
    public void A_training_step_allocates_nothing()
    {
        var model = new CumaxNet(seed: 2);
        float[] x = Array.ConvertAll(Inputs(4, 6), v => (float)v);
        int[] labels = { 0, 1, 2, 0 };
        var optimizer = new Dsl.Optimizers.AdamW(learningRate: 1e-3);
        for (int i = 0; i < 100; i++) model.TrainStep(x, labels, optimizer); // past tiering (a method is recompiled after 30 calls)
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 20; i++) model.TrainStep(x, labels, optimizer);
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }
}
