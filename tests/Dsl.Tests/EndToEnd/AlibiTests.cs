using System;
using Dsl.Runtime;
using Xunit;

namespace Dsl.Tests.EndToEnd;

/// <summary>ALiBi through the generated code: the double engine's gradients against finite differences, the float
/// engine against the eager reference, and the bias changing the output of otherwise identical models.</summary>
public sealed class AlibiTests
{
    private static void Fill(Span<double> input, ulong seed)
    {
        var random = new SeededRandom(seed);
        for (int i = 0; i < input.Length; i++) input[i] = random.NextGaussian();
    }

    private static float[] Inputs(int rows, ulong seed)
    {
        var x = new double[rows * AlibiNet.InputFeatures];
        Fill(x, seed);
        return Array.ConvertAll(x, v => (float)v);
    }

    [Fact]
    public void Gradients_match_finite_differences_in_double()
    {
        var engine = new AlibiNet.Engine<double>(seed: 4);
        Fill(engine.Input, 5);
        int rows = 2 * AlibiNet.Sequence;
        var labels = new int[rows];
        for (int r = 0; r < rows; r++) labels[r] = (r * 2 + 1) % 3;
        engine.TrainingPass(2, labels);
        double[] analytic = engine.Gradients.ToArray();
        GradientCheckTests.Check(engine.Arena.AsSpan(0, AlibiNet.Engine<double>.ParameterRegion), analytic, () => engine.TrainingPass(2, labels), AlibiNet.Engine<double>.Tensors);
    }

    [Fact]
    public void Fused_forward_agrees_with_the_eager_reference_and_differs_from_no_alibi()
    {
        int rows = 2 * AlibiNet.Sequence;
        float[] x = Inputs(rows, 7);
        var model = new AlibiNet(seed: 3);
        var fused = new float[rows * AlibiNet.OutputFeatures];
        model.Predict(x, fused);
        var reference = model.Forward(Tensor.FromRows(x, rows, AlibiNet.InputFeatures));
        for (int i = 0; i < fused.Length; i++)
            Assert.True(Math.Abs(fused[i] - reference.Data[i]) <= 1e-4 * Math.Max(1, Math.Abs(reference.Data[i])), $"output {i}: fused {fused[i]}, reference {reference.Data[i]}");

        // The same seed draws the same weights (ALiBi has no parameters), so only the bias differs.
        var plain = new AlibiNetPlain(seed: 3);
        var without = new float[fused.Length];
        plain.Predict(x, without);
        double largest = 0;
        for (int i = 0; i < fused.Length; i++) largest = Math.Max(largest, Math.Abs(fused[i] - without[i]));
        Assert.True(largest > 1e-3, $"ALiBi changed the output by only {largest:E2}");
        // Row 0 of each example attends only to itself, where the bias is 0: the first position agrees.
        for (int c = 0; c < AlibiNet.OutputFeatures; c++) Assert.Equal(without[c], fused[c], 5);
    }
}
