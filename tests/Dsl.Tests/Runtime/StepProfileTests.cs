using System;
using System.IO;
using System.Threading;
using Dsl.Optimizers;
using Dsl.Runtime;
using Dsl.Tests.EndToEnd;
using Xunit;

namespace Dsl.Tests.Runtime;

public sealed class StepProfileTests
{
    [Fact]
    public void A_profiled_engine_laps_every_schedule_step_once_per_training_step()
    {
        var model = new WideMlp(seed: 1);
        var optimizer = new AdamW(1e-3);
        var (x, labels) = Batch();
        string[] names = WideMlp.Engine<float>.ProfileSteps.ToArray();

        // Forward steps (three dense layers, the dropout, one activation left unfused), the loss, their
        // backward steps, the optimizer: named in schedule order.
        Assert.Equal("loss", names[Array.IndexOf(names, "loss")]);
        Assert.Equal("optimizer", names[^1]);
        Assert.StartsWith("Hidden1 ", names[0], StringComparison.Ordinal);
        Assert.Contains(names, n => n.StartsWith("Classes ", StringComparison.Ordinal) && n.EndsWith("Backward", StringComparison.Ordinal));

        var profile = new StepProfile(WideMlp.Engine<float>.ProfileSteps);
        model.Compiled.Profile = profile;
        for (int i = 0; i < 3; i++) model.TrainStep(x, labels, optimizer);
        for (int step = 0; step < profile.Count; step++)
        {
            Assert.Equal(3, profile.Calls(step));
            Assert.True(profile.Milliseconds(step) >= 0);
            Assert.True(profile.IdleMilliseconds(step) >= 0);
        }

        Assert.True(profile.TotalMilliseconds > 0);
        var text = new StringWriter();
        profile.Write(text, passes: 3);
        foreach (string name in names) Assert.Contains(name, text.ToString(), StringComparison.Ordinal);

        // Evaluation runs the forward only: its laps count in the forward rows, nowhere else.
        model.Evaluate(x, labels);
        Assert.Equal(4, profile.Calls(0));
        Assert.Equal(3, profile.Calls(profile.Count - 1));

        profile.Reset();
        Assert.Equal(0, profile.Calls(0));
        Assert.Equal(0, profile.TotalMilliseconds);

        model.Compiled.Profile = null;
        model.TrainStep(x, labels, optimizer);
        Assert.Equal(0, profile.Calls(0));
    }

    [Fact]
    public void A_profiled_training_step_allocates_nothing()
    {
        var model = new WideMlp(seed: 2);
        var optimizer = new AdamW(1e-3);
        var (x, labels) = Batch();
        model.Compiled.Profile = new StepProfile(WideMlp.Engine<float>.ProfileSteps);
        for (int i = 0; i < 10; i++) model.TrainStep(x, labels, optimizer);
        var (allocated, helperAllocated) = Allocations.PerWindow(() => model.TrainStep(x, labels, optimizer), 50);
        Assert.Equal(0, allocated);
        Assert.Equal(0, helperAllocated);
    }

    [Fact]
    public void Helper_busy_time_and_caller_waits_are_counted_only_when_asked_and_idle_time_follows()
    {
        var pool = new WorkerPool(2);
        var work = new Sleepy();
        pool.Run(work, 2);
        Assert.Equal(0, pool.HelperBusyTicks);
        Assert.Equal(0, pool.CallerWaitTicks);

        var profile = new StepProfile(new[] { "uneven" }, pool);
        Assert.True(pool.MeasureBusyTime);
        profile.Begin();
        pool.Run(work, 2); // part 0 sleeps 1 ms, part 1 sleeps 30 ms: whoever takes the short one idles
        profile.Lap(0);
        Assert.True(pool.HelperBusyTicks > 0);
        double wall = profile.Milliseconds(0);
        double idle = profile.IdleMilliseconds(0);
        Assert.True(wall >= 30, $"wall {wall} ms");
        // About 29 of the 2 × wall thread-milliseconds were idle, whichever thread took which part.
        Assert.InRange(idle, 20, 2 * wall);
    }

    private static (float[] X, int[] Labels) Batch()
    {
        var random = new SeededRandom(7);
        var x = new float[WideMlp.MaxBatch * WideMlp.InputFeatures];
        for (int i = 0; i < x.Length; i++) x[i] = (float)random.NextGaussian();
        var labels = new int[WideMlp.MaxBatch];
        for (int i = 0; i < labels.Length; i++) labels[i] = i % 10;
        return (x, labels);
    }

    private sealed class Sleepy : IParallelWork
    {
        public void Run(int index, int count) => Thread.Sleep(index == 0 ? 1 : 30);
    }
}
