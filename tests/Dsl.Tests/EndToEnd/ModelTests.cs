using System;
using System.IO;
using System.Threading;
using Dsl.Optimizers;
using Dsl.Runtime;
using Xunit;

namespace Dsl.Tests.EndToEnd;

public sealed class ModelTests
{
    private static float[] RandomInputs(int rows, int features, ulong seed)
    {
        var random = new SeededRandom(seed);
        var x = new float[rows * features];
        for (int i = 0; i < x.Length; i++) x[i] = (float)random.NextGaussian();
        return x;
    }

    [Fact]
    public void Fused_forward_agrees_with_the_eager_double_reference()
    {
        var model = new AllOps(seed: 21);
        float[] x = RandomInputs(4, AllOps.InputFeatures, 1);
        var fused = new float[4 * AllOps.OutputFeatures];
        model.Predict(x, fused);

        // The user's own Forward, run eagerly in double precision through the generated layer members.
        var reference = model.Forward(Tensor.FromRows(x, 4, AllOps.InputFeatures));
        Assert.Equal(AllOps.OutputFeatures, reference.Columns);
        for (int i = 0; i < fused.Length; i++)
            Assert.True(Math.Abs(fused[i] - reference.Data[i]) <= 1e-4 * Math.Max(1, Math.Abs(reference.Data[i])), $"output {i}: fused {fused[i]}, reference {reference.Data[i]}");

        int[] labels = { 2, 0, 1, 1 };
        double eagerLoss = model.Loss(Tensor.FromRows(x, 4, AllOps.InputFeatures), new Labels(labels));
        Assert.Equal(eagerLoss, model.Evaluate(x, labels), 4);
    }

    [Fact]
    public void Modules_agree_with_the_eager_reference()
    {
        var model = new Regressor(seed: 5);
        float[] x = RandomInputs(3, Regressor.InputFeatures, 2);
        var fused = new float[3 * Regressor.OutputFeatures];
        model.Predict(x, fused);
        var reference = model.Forward(Tensor.FromRows(x, 3, Regressor.InputFeatures));
        for (int i = 0; i < fused.Length; i++)
            Assert.True(Math.Abs(fused[i] - reference.Data[i]) <= 1e-4 * Math.Max(1, Math.Abs(reference.Data[i])), $"output {i}: fused {fused[i]}, reference {reference.Data[i]}");
    }

    [Fact]
    public void Predict_handles_more_rows_than_the_maximum_batch_in_chunks()
    {
        var model = new AllOps(seed: 2);
        float[] x = RandomInputs(11, AllOps.InputFeatures, 3);
        var all = new float[11 * AllOps.OutputFeatures];
        model.Predict(x, all);
        var one = new float[AllOps.OutputFeatures];
        model.Predict(x.AsSpan(10 * AllOps.InputFeatures, AllOps.InputFeatures), one);
        Assert.Equal(one, all.AsSpan(10 * AllOps.OutputFeatures).ToArray());
    }

    [Theory]
    [InlineData("adamw")]
    [InlineData("sgd")]
    public void TrainStep_allocates_nothing(string optimizerName)
    {
        var model = new WideMlp(seed: 1);
        Optimizer optimizer = optimizerName == "adamw" ? new AdamW(1e-3) : new Sgd(0.01, momentum: 0.9);
        float[] x = RandomInputs(WideMlp.MaxBatch, WideMlp.InputFeatures, 4);
        var labels = new int[WideMlp.MaxBatch];
        for (int i = 0; i < labels.Length; i++) labels[i] = i % 10;

        for (int i = 0; i < 10; i++) model.TrainStep(x, labels, optimizer); // warm-up: JIT, pools, tiering
        var (allocated, helperAllocated) = Allocations.PerWindow(() => model.TrainStep(x, labels, optimizer), 100);
        Assert.Equal(0, allocated);
        Assert.Equal(0, helperAllocated); // the pool's threads too
    }

    [Fact]
    public void Two_models_training_at_once_on_two_threads_allocate_nothing()
    {
        // The kernels cache their jobs and packing buffers; a cache shared by all threads made the
        // second of two concurrent callers allocate fresh ones (137 KB a step, seen in CI).
        long[] allocated = new long[2];
        using var start = new Barrier(2);
        var threads = new Thread[2];
        for (int t = 0; t < 2; t++)
        {
            int index = t;
            threads[t] = new Thread(() =>
            {
                var model = new WideMlp(seed: 1 + (ulong)index);
                var optimizer = new AdamW(1e-3);
                float[] x = RandomInputs(WideMlp.MaxBatch, WideMlp.InputFeatures, 4 + (ulong)index);
                var labels = new int[WideMlp.MaxBatch];
                for (int i = 0; i < labels.Length; i++) labels[i] = i % 10;
                for (int i = 0; i < 10; i++) model.TrainStep(x, labels, optimizer);
                start.SignalAndWait();
                allocated[index] = Allocations.PerWindow(() => model.TrainStep(x, labels, optimizer), 60).Caller;
            });
            threads[t].Start();
        }

        foreach (var thread in threads) thread.Join();
        Assert.Equal(new long[2], allocated);
    }

    [Fact]
    public void Training_reduces_the_loss_deterministically()
    {
        // A learnable synthetic task: the label is the argmax of a fixed projection of the input.
        float[] x = RandomInputs(WideMlp.MaxBatch, WideMlp.InputFeatures, 5);
        var labels = new int[WideMlp.MaxBatch];
        for (int r = 0; r < labels.Length; r++) labels[r] = (int)(Math.Abs(x[r * WideMlp.InputFeatures] * 7) % 10);

        float Run()
        {
            var model = new WideMlp(seed: 8);
            var optimizer = new AdamW(1e-3);
            float first = model.TrainStep(x, labels, optimizer);
            float last = first;
            for (int i = 0; i < 60; i++) last = model.TrainStep(x, labels, optimizer);
            Assert.True(last < 0.5f * first, $"loss went from {first} to {last}");
            return last;
        }

        Assert.Equal(Run(), Run()); // same seed, same thread count → same result
    }

    [Fact]
    public void Wrong_batch_shapes_name_expected_and_actual()
    {
        var model = new WideMlp();
        var optimizer = new AdamW();
#pragma warning disable DSL208 // on purpose: this tests the run-time check behind what DSL208 reports at compile time
        var e = Assert.Throws<ArgumentException>(() => model.TrainStep(new float[10 * 784 - 1], new int[10], optimizer));
#pragma warning restore DSL208
        Assert.Contains("expected shape [10, 784] (7840 values)", e.Message);
        Assert.Contains("got 7839 values", e.Message);

#pragma warning disable DSL208 // on purpose: this tests the run-time check behind what DSL208 reports at compile time
        e = Assert.Throws<ArgumentException>(() => model.TrainStep(new float[65 * 784], new int[65], optimizer));
#pragma warning restore DSL208
        Assert.Contains("65 rows is outside", e.Message);
        Assert.Contains("the most rows a step holds is 64", e.Message);

        e = Assert.Throws<ArgumentException>(() => model.Predict(new float[2 * 784], new float[19]));
        Assert.Contains("expected shape [2, 10]", e.Message);

        var r = new Regressor();
        e = Assert.Throws<ArgumentException>(() => r.TrainStep(new float[2 * 7], new float[3], optimizer));
        Assert.Contains("not a multiple of 2", e.Message);
    }

    [Fact]
    public void Bad_label_is_named()
    {
        var model = new AllOps();
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => model.TrainStep(new float[2 * AllOps.InputFeatures], new[] { 1, 7 }, new Sgd(0.1)));
        Assert.Contains("7", e.Message);
    }

    [Fact]
    public void Checkpoint_round_trips_and_rejects_a_mismatched_file()
    {
        string dir = Path.Combine(Path.GetTempPath(), "dsl-ckpt-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            string path = Path.Combine(dir, "m.safetensors");
            var a = new Regressor(seed: 1);
            a.Save(path);
            var b = new Regressor(seed: 2);
            Assert.NotEqual(a.Compiled.Parameters.ToArray(), b.Compiled.Parameters.ToArray());
            b.Load(path);
            Assert.Equal(a.Compiled.Parameters.ToArray(), b.Compiled.Parameters.ToArray());

            var file = Dsl.IO.SafeTensors.Read(path);
            Assert.Equal(new[] { 12, 7 }, file["First.Up.weight"].Shape);
            Assert.Equal(new[] { 2 }, file["Out.bias"].Shape);

            // A checkpoint of another model: the error names the tensor and both shapes; nothing changes.
            string other = Path.Combine(dir, "other.safetensors");
            new AllOps().Save(other);
            var before = b.Compiled.Parameters.ToArray();
            var e = Assert.Throws<Dsl.IO.InvalidDataException>(() => b.Load(other));
            Assert.True(e.Message.Contains("tensor 'Out.weight' is missing (the model expects shape [2, 7])", StringComparison.Ordinal), e.Message);
            Assert.Contains(other, e.Message);
            Assert.Equal(before, b.Compiled.Parameters.ToArray());
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Kernels_answer_from_the_shared_activation_facts_and_those_without_the_input_ignore_it()
    {
        // One fact per activation (Dsl.Contracts.ActivationFacts): the planner keeps a pre-activation only when it says
        // the derivative needs x, so a kernel that says it does not must give the same f′ for any x.
        Assert.Equal(Dsl.Contracts.ActivationFacts.ReluNeedsInput, default(Dsl.Kernels.Relu<float>).DerivativeNeedsInput);
        Assert.Equal(Dsl.Contracts.ActivationFacts.SiluNeedsInput, default(Dsl.Kernels.Silu<float>).DerivativeNeedsInput);
        Assert.Equal(Dsl.Contracts.ActivationFacts.SquarePlusNeedsInput, new Dsl.Kernels.SquarePlus<float>(4f).DerivativeNeedsInput);
        Assert.True(default(Dsl.Kernels.GeluTanh<float>).DerivativeNeedsInput);
        Assert.True(default(Dsl.Kernels.GeluErf<float>).DerivativeNeedsInput);
        Assert.True(default(Dsl.Kernels.Softplus<float>).DerivativeNeedsInput);
        IgnoresInput(default(Dsl.Kernels.Relu<double>));
        IgnoresInput(default(Dsl.Kernels.Tanh<double>));
        IgnoresInput(default(Dsl.Kernels.Sigmoid<double>));
        IgnoresInput(default(Dsl.Kernels.Identity<double>));

        static void IgnoresInput<TAct>(TAct f) where TAct : struct, Dsl.Kernels.IActivation<double>
        {
            Assert.False(f.DerivativeNeedsInput);
            foreach (double x in new[] { -2.5, -0.3, 0.7, 3.0 })
                Assert.Equal(f.Derivative(x, f.Forward(x)), f.Derivative(double.NaN, f.Forward(x)));
        }
    }
}
