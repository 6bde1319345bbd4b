using System;
using Dsl.Optimizers;
using Dsl.Runtime;
using Xunit;

namespace Dsl.Tests.EndToEnd;

/// <summary>The optimizers through the generated engine: closed-form updates from the engine's own
/// gradients in double, and allocation-free training steps in float.</summary>
/// <remarks>In the shared-runtime collection: the allocation tests count the worker pool's helper
/// threads, which a test running in parallel would also be using.</remarks>
[Collection(Dsl.Tests.Kernels.SharedRuntimeStateCollection.Name)]
public sealed class OptimizerEndToEndTests
{
    [Fact]
    public void Generated_arenas_reserve_the_state_every_built_in_optimizer_needs()
    {
        Assert.Equal(Optimizer.MaxStateSlots, WideMlp.Engine<float>.StateSlots);
        Assert.Equal(4, new ChildTuningD(new AdamW(), 0.5, 1).StateSlots);
    }

    [Fact]
    public void Lion_through_the_engine_matches_the_closed_form()
    {
        var engine = new Regressor.Engine<double>(seed: 2);
        var random = new SeededRandom(5);
        for (int i = 0; i < engine.Input.Length; i++) engine.Input[i] = random.NextGaussian();
        var targets = new double[5 * Regressor.OutputFeatures];
        for (int i = 0; i < targets.Length; i++) targets[i] = random.NextGaussian();

#pragma warning disable DSL315 // a large step, so three steps move θ visibly
        var optimizer = new Lion(1e-2, weightDecay: 0.5);
#pragma warning restore DSL315
        double[] theta = engine.Parameters.ToArray(), m = new double[theta.Length];
        for (int step = 0; step < 3; step++)
        {
            engine.TrainingPass(5, targets);
            double[] g = engine.Gradients.ToArray();
            engine.ApplyOptimizer(optimizer);
            foreach (var tensor in Regressor.Engine<double>.Tensors)
            {
                for (int k = tensor.Offset; k < tensor.Offset + tensor.Length; k++)
                {
                    double c = (0.9 * m[k]) + (0.1 * g[k]);
                    theta[k] -= 1e-2 * (Math.Sign(c) + (tensor.IsMatrix ? 0.5 * theta[k] : 0));
                    m[k] = (0.99 * m[k]) + (0.01 * g[k]);
                }
            }
        }

        double[] actual = engine.Parameters.ToArray();
        for (int k = 0; k < theta.Length; k++) Assert.Equal(theta[k], actual[k], 1e-14);
        double[] state = engine.OptimizerState[..theta.Length].ToArray();
        for (int k = 0; k < theta.Length; k++) Assert.Equal(m[k], state[k], 1e-15);
    }

    [Fact]
    public void ChildTuningF_through_the_engine_masks_and_rescales_the_engine_gradient()
    {
        var engine = new Regressor.Engine<double>(seed: 2);
        var random = new SeededRandom(6);
        for (int i = 0; i < engine.Input.Length; i++) engine.Input[i] = random.NextGaussian();
        var targets = new double[5 * Regressor.OutputFeatures];
        for (int i = 0; i < targets.Length; i++) targets[i] = random.NextGaussian();

        double[] before = engine.Parameters.ToArray();
        engine.TrainingPass(5, targets);
        double[] g = engine.Gradients.ToArray();
        engine.ApplyOptimizer(new ChildTuningF(new Sgd(0.5, momentum: 0), p: 0.5, seed: 9));
        double[] after = engine.Parameters.ToArray();
        int kept = 0, total = 0;
        foreach (var tensor in Regressor.Engine<double>.Tensors)
        {
            for (int k = tensor.Offset; k < tensor.Offset + tensor.Length; k++)
            {
                total++;
                if (after[k] == before[k]) continue;
                kept++;
                Assert.Equal(before[k] - (0.5 * g[k] * 2), after[k], 1e-15);
            }
        }

        Assert.InRange(kept, 1, total - 1);
    }

    public static TheoryData<string> Optimizers => new() { "sgd-l2", "adam-l2", "lion", "childtuning-f", "childtuning-d" };

    private static Optimizer Create(string name) => name switch
    {
        "sgd-l2" => new Sgd(0.01, momentum: 0.9, l2: 1e-4),
#pragma warning disable DSL317 // the L2 path is what this case measures
        "adam-l2" => new AdamW(1e-3, weightDecay: 0, l2: 1e-4),
#pragma warning restore DSL317
        "lion" => new Lion(1e-4, weightDecay: 0.1) { MaxGradientNorm = 1 },
        "childtuning-f" => new ChildTuningF(new AdamW(1e-3), p: 0.3, seed: 1),
        "childtuning-d" => new ChildTuningD(new AdamW(1e-3), p: 0.3, fisherSteps: 12), // fixes its mask inside the measured steps
        _ => throw new ArgumentException(name, nameof(name)),
    };

    [Theory]
    [MemberData(nameof(Optimizers))]
    public void TrainStep_allocates_nothing(string optimizerName)
    {
        var model = new WideMlp(seed: 1);
        Optimizer optimizer = Create(optimizerName);
        var random = new SeededRandom(4);
        var x = new float[WideMlp.MaxBatch * WideMlp.InputFeatures];
        for (int i = 0; i < x.Length; i++) x[i] = (float)random.NextGaussian();
        var labels = new int[WideMlp.MaxBatch];
        for (int i = 0; i < labels.Length; i++) labels[i] = i % 10;

        for (int i = 0; i < 10; i++) model.TrainStep(x, labels, optimizer); // warm-up: JIT, pools, tiering
        var (allocated, helperAllocated) = Allocations.PerWindow(() => model.TrainStep(x, labels, optimizer), 50);
        Assert.Equal(0, allocated);
        Assert.Equal(0, helperAllocated);
        Assert.Equal(60, optimizer.Steps);
    }
}
