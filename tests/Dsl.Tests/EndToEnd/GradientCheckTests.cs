using System;
using Dsl.Runtime;
using Xunit;

namespace Dsl.Tests.EndToEnd;

/// <summary>
/// Central finite differences in double precision through the generated code path
/// (<c>Engine&lt;double&gt;</c>), per SEEDS.md §3: h = ε^(1/3)·max(1, |θ|), error
/// |a − n| / max(|a|, |n|, floor) ≤ 1e-6, the same dropout masks on both sides. The floor is
/// 1e-4: a loss of order 1 evaluated in double carries rounding noise of about 1e-15, so the
/// difference quotient has an absolute noise of about 1e-15 / (2h) ≈ 1e-10, i.e. 1e-6 of 1e-4.
/// Gradients smaller than that are held to an absolute 1e-10.
/// </summary>
public sealed class GradientCheckTests
{
    internal delegate double LossAt();

    internal static void Check(Span<double> parameters, ReadOnlySpan<double> analytic, LossAt loss, ReadOnlySpan<Dsl.Optimizers.ParameterTensor> tensors)
    {
        int checkedCount = 0;
        double worst = 0;
        string worstAt = "";
        foreach (var tensor in tensors)
        {
            for (int i = 0; i < tensor.Length; i++)
            {
                int k = tensor.Offset + i;
                double theta = parameters[k];
                double h = 6e-6 * Math.Max(1, Math.Abs(theta));
                parameters[k] = theta + h;
                double plus = loss();
                parameters[k] = theta - h;
                double minus = loss();
                parameters[k] = theta;
                double numeric = (plus - minus) / (2 * h);
                double a = analytic[k];
                double error = Math.Abs(a - numeric) / Math.Max(Math.Max(Math.Abs(a), Math.Abs(numeric)), 1e-4);
                if (error > worst)
                {
                    worst = error;
                    worstAt = $"{tensor.Name}[{i}]: analytic {a:R}, numeric {numeric:R}";
                }

                checkedCount++;
            }
        }

        Assert.True(checkedCount > 0);
        Assert.True(worst <= 1e-6, $"worst relative error {worst:E2} at {worstAt}");
    }

    [Fact]
    public void Every_activation_fused_and_standalone_dropout_residual_scale_and_cross_entropy()
    {
        var engine = new AllOps.Engine<double>(seed: 3);
        var random = new SeededRandom(11);
        for (int i = 0; i < 4 * AllOps.InputFeatures; i++) engine.Input[i] = random.NextGaussian();
        int[] labels = { 0, 2, 1, 2 };
        engine.DropoutStep = 5;

        engine.TrainingPass(4, labels);
        double[] analytic = engine.Gradients.ToArray();
        var parameters = engine.Arena.AsSpan(0, AllOps.Engine<double>.ParameterRegion);
        Check(parameters, analytic, () => engine.TrainingPass(4, labels), AllOps.Engine<double>.Tensors);
    }

    [Fact]
    public void Modules_residuals_shared_module_type_and_mean_squared_error()
    {
        var engine = new Regressor.Engine<double>(seed: 4);
        var random = new SeededRandom(12);
        for (int i = 0; i < 5 * Regressor.InputFeatures; i++) engine.Input[i] = random.NextGaussian();
        var targets = new double[5 * Regressor.OutputFeatures];
        for (int i = 0; i < targets.Length; i++) targets[i] = random.NextGaussian();

        engine.TrainingPass(5, targets);
        double[] analytic = engine.Gradients.ToArray();
        Check(engine.Arena.AsSpan(0, Regressor.Engine<double>.ParameterRegion), analytic, () => engine.TrainingPass(5, targets), Regressor.Engine<double>.Tensors);
    }

    [Fact]
    public void A_smaller_batch_than_the_maximum_checks_too()
    {
        var engine = new AllOps.Engine<double>(seed: 9);
        var random = new SeededRandom(13);
        for (int i = 0; i < 2 * AllOps.InputFeatures; i++) engine.Input[i] = random.NextGaussian();
        int[] labels = { 1, 0 };
        engine.TrainingPass(2, labels);
        double[] analytic = engine.Gradients.ToArray();
        Check(engine.Arena.AsSpan(0, AllOps.Engine<double>.ParameterRegion), analytic, () => engine.TrainingPass(2, labels), AllOps.Engine<double>.Tensors);
    }

    [Fact]
    public void Gradient_check_fails_when_the_maths_is_wrong()
    {
        // The check itself must be able to fail: perturb one analytic gradient and expect a failure.
        var engine = new Regressor.Engine<double>(seed: 4);
        for (int i = 0; i < 5 * Regressor.InputFeatures; i++) engine.Input[i] = 0.1 * (i % 7) - 0.3;
        var targets = new double[5 * Regressor.OutputFeatures];
        for (int i = 0; i < targets.Length; i++) targets[i] = i % 3 - 1;
        engine.TrainingPass(5, targets);
        double[] analytic = engine.Gradients.ToArray();
        // A 0.1 % error in the largest gradient entry.
        int largest = 0;
        for (int i = 1; i < analytic.Length; i++)
            if (Math.Abs(analytic[i]) > Math.Abs(analytic[largest])) largest = i;
        analytic[largest] *= 1.001;
        Assert.ThrowsAny<Xunit.Sdk.XunitException>(() =>
            Check(engine.Arena.AsSpan(0, Regressor.Engine<double>.ParameterRegion), analytic, () => engine.TrainingPass(5, targets), Regressor.Engine<double>.Tensors));
    }
}
