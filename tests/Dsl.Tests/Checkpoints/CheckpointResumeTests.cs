using System;
using System.Collections.Generic;
using System.Linq;
using Dsl.IO;
using Dsl.Optimizers;
using Dsl.Runtime;
using Dsl.Tests.IO;
using Xunit;

namespace Dsl.Tests.Checkpoints;

/// <summary>
/// Full-state checkpoints (<see cref="Checkpoint"/>): a run saved after k steps and continued in a fresh
/// model and optimizer is bit for bit the run that never stopped — every later loss, every parameter,
/// every optimizer state value — for each optimizer, with and without dropout.
/// </summary>
public sealed class CheckpointResumeTests
{
    private const int Steps = 30, Batch = 16, Features = 12, Classes = 5;

    public static IEnumerable<object[]> Optimizers() => new[]
    {
        new object[] { "sgd-momentum" }, new object[] { "adamw" }, new object[] { "lion" },
        new object[] { "childtuning-f" }, new object[] { "childtuning-d" }, new object[] { "adamw-clipped" },
    };

    private static Optimizer Create(string kind) => kind switch
    {
        "sgd-momentum" => new Sgd(0.05, momentum: 0.9, weightDecay: 0.01),
        "adamw" => new AdamW(3e-3, weightDecay: 0.05),
        "lion" => new Lion(3e-4, weightDecay: 0.1),
        "childtuning-f" => new ChildTuningF(new AdamW(3e-3), p: 0.4, seed: 7),
        "childtuning-d" => new ChildTuningD(new Sgd(0.05, momentum: 0.9), p: 0.3, fisherSteps: 6),
        "adamw-clipped" => new AdamW(3e-3) { MaxGradientNorm = 0.5 },
        _ => throw new ArgumentException(kind),
    };

    /// <summary>The batch of step s: a fixed function of s, so both runs see the same data.</summary>
    private static (float[] X, int[] Y) BatchOf(int step)
    {
        var random = new SeededRandom(1000 + (ulong)step);
        var x = new float[Batch * Features];
        var y = new int[Batch];
        for (int i = 0; i < x.Length; i++) x[i] = (float)(random.NextGaussian());
        for (int r = 0; r < Batch; r++) y[r] = (int)(Math.Abs(x[r * Features] + x[r * Features + 1]) * 2) % Classes;
        return (x, y);
    }

    /// <summary>A schedule the run follows, so the learning rate is part of what must line up.</summary>
    private static double Rate(Optimizer optimizer, int step) => 1.0 / (1 + (0.05 * step)) * (optimizer is Lion ? 3e-4 : optimizer is Sgd or ChildTuningD ? 0.05 : 3e-3);

    private static float[] Run(IModel model, ISupervisedModel<float, int> typed, Optimizer optimizer, int from, int to)
    {
        var losses = new float[to - from];
        for (int s = from; s < to; s++)
        {
            var (x, y) = BatchOf(s);
            optimizer.LearningRate = Rate(optimizer, s);
            losses[s - from] = typed.TrainStep(x, y, optimizer);
        }

        return losses;
    }

    [Theory]
    [MemberData(nameof(Optimizers))]
    public void A_resumed_run_is_bitwise_the_uninterrupted_one_without_dropout(string optimizer) =>
        Check(optimizer, seed => new ResumePlain(seed), split: 11);

    [Theory]
    [MemberData(nameof(Optimizers))]
    public void A_resumed_run_is_bitwise_the_uninterrupted_one_with_dropout(string optimizer) =>
        Check(optimizer, seed => new ResumeDropout(seed), split: 11);

    [Fact]
    public void ChildTuningD_resumed_inside_its_fisher_pass_is_bitwise_the_uninterrupted_run()
    {
        Check("childtuning-d", seed => new ResumeDropout(seed), split: 3);
        Check("childtuning-d", seed => new ResumePlain(seed), split: 6);
    }

    [Fact]
    public void A_spectrally_normalised_model_resumes_bitwise_with_its_power_iteration_vectors() =>
        Check("adamw", seed => new ResumeSpectral(seed), split: 9);

    private static void Check(string kind, Func<ulong, IModel> create, int split)
    {
        using var dir = new TempDirectory();
        string path = dir.File("state.safetensors");

        var straight = create(3);
        var straightOptimizer = Create(kind);
        float[] expected = Run(straight, (ISupervisedModel<float, int>)straight, straightOptimizer, 0, Steps);

        var first = create(3);
        var firstOptimizer = Create(kind);
        float[] before = Run(first, (ISupervisedModel<float, int>)first, firstOptimizer, 0, split);
        Checkpoint.Save(path, first, firstOptimizer, new Dictionary<string, string> { ["note"] = "kept" });

        // A different seed: everything the run depends on must come from the file.
        var resumed = create(99);
        var resumedOptimizer = Create(kind);
        var metadata = Checkpoint.Load(path, resumed, resumedOptimizer);
        Assert.Equal("kept", metadata["note"]);
        Assert.Equal(firstOptimizer.Steps, resumedOptimizer.Steps);
        float[] after = Run(resumed, (ISupervisedModel<float, int>)resumed, resumedOptimizer, split, Steps);

        Assert.Equal(expected, before.Concat(after).ToArray()); // exact float equality, step by step
        AssertBitwise(straight.Engine.Parameters, resumed.Engine.Parameters, "parameters");
        AssertBitwise(straight.Engine.OptimizerState[..(straightOptimizer.StateSlots * straight.Engine.Parameters.Length)], resumed.Engine.OptimizerState[..(resumedOptimizer.StateSlots * resumed.Engine.Parameters.Length)], "optimizer state", straightOptimizer);
        Assert.Equal(straight.Engine.DropoutStep, resumed.Engine.DropoutStep);
        Assert.Equal(straightOptimizer.Steps, resumedOptimizer.Steps);
        if (straightOptimizer is ChildTuningD d) Assert.Equal(d.KeptCount, ((ChildTuningD)resumedOptimizer).KeptCount);
    }

    private static void AssertBitwise(Span<float> expected, Span<float> actual, string what, Optimizer? optimizer = null)
    {
        Assert.Equal(expected.Length, actual.Length);
        int region = optimizer is null ? expected.Length : expected.Length / optimizer.StateSlots;
        for (int i = 0; i < expected.Length; i++)
        {
            // Scratch slots are rewritten before they are read; they need not match.
            if (optimizer is not null && optimizer.StateSlotName(i / region) is null) continue;
            if (BitConverter.SingleToInt32Bits(expected[i]) != BitConverter.SingleToInt32Bits(actual[i]))
                Assert.Fail($"{what} differ at {i}: {expected[i]:R} vs {actual[i]:R}");
        }
    }

    [Fact]
    public void The_parameters_of_a_full_state_file_load_as_a_plain_checkpoint_and_the_state_tensors_have_pytorch_names()
    {
        using var dir = new TempDirectory();
        string path = dir.File("state.safetensors");
        var model = new ResumePlain(5);
        var optimizer = new AdamW(1e-3);
        Run(model, model, optimizer, 0, 3);
        Checkpoint.Save(path, model, optimizer);

        var (tensors, metadata) = SafeTensors.ReadWithMetadata(path);
        Assert.Contains("Hidden.weight", tensors.Keys);
        Assert.Equal(new[] { 24, 12 }, tensors["optimizer/exp_avg/Hidden.weight"].Shape);
        Assert.Contains("optimizer/exp_avg_sq/Classes.bias", tensors.Keys);
        Assert.Equal("AdamW", metadata["optimizer.kind"]);
        Assert.Equal("3", metadata["optimizer.steps"]);
        Assert.Equal("ResumePlain", metadata["model"]);

        var plain = new ResumePlain(6);
        plain.Load(path);
        AssertBitwise(model.Compiled.Parameters, plain.Compiled.Parameters, "parameters");
    }

    [Fact]
    public void Loading_refuses_a_parameters_only_file_another_optimizer_or_another_model_and_changes_nothing()
    {
        using var dir = new TempDirectory();
        var model = new ResumePlain(5);
        var optimizer = new AdamW(1e-3);
        Run(model, model, optimizer, 0, 2);
        string plainPath = dir.File("plain.safetensors"), statePath = dir.File("state.safetensors");
        model.Save(plainPath);
        Checkpoint.Save(statePath, model, optimizer);

        var target = new ResumePlain(8);
        float[] untouched = target.Compiled.Parameters.ToArray();
        var fresh = new AdamW(1e-3);
        var e1 = Assert.Throws<Dsl.IO.InvalidDataException>(() => Checkpoint.Load(plainPath, target, fresh));
        Assert.Contains("parameters only", e1.Message);
        var e2 = Assert.Throws<Dsl.IO.InvalidDataException>(() => Checkpoint.Load(statePath, target, new Sgd(0.1)));
        Assert.Contains("optimizer AdamW", e2.Message);
        Assert.Contains("Sgd", e2.Message);
        var e3 = Assert.Throws<Dsl.IO.InvalidDataException>(() => Checkpoint.Load(statePath, new ResumeDropout(1), fresh));
        Assert.Contains("'ResumePlain', not of 'ResumeDropout'", e3.Message);
        Assert.Equal(untouched, target.Compiled.Parameters.ToArray());
        Assert.Equal(0, fresh.Steps);
    }

    [Fact]
    public void A_seeded_random_continues_its_sequence_from_a_saved_state()
    {
        var a = new SeededRandom(42);
        for (int i = 0; i < 5; i++) a.NextGaussian(); // leaves a spare normal held
        var state = new ulong[SeededRandom.StateLength];
        a.GetState(state);
        var b = new SeededRandom(1);
        b.SetState(state);
        for (int i = 0; i < 20; i++) Assert.Equal(a.NextGaussian(), b.NextGaussian());
        Assert.Equal(a.NextUInt64(), b.NextUInt64());
        state[0] = state[1] = state[2] = state[3] = 0;
        Assert.Throws<ArgumentException>(() => { var c = new SeededRandom(1); c.SetState(state); });
    }
}
