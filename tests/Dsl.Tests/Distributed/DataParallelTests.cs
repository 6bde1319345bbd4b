using System;
using System.Linq;
using Dsl.Distributed;
using Dsl.Distributed.Interop;
using Dsl.Kernels;
using Dsl.Optimizers;
using Dsl.Runtime;
using Dsl.Tests.EndToEnd;
using Xunit;

namespace Dsl.Tests.Distributed;

/// <summary>
/// The data-parallel pieces in one process: shards, the bucketed reduction against a communicator that fakes
/// identical ranks, the dropout masks by global row, what is refused and why, and the step's allocations. The
/// real thing, ranks under mpirun, is <see cref="MpiTests"/>.
/// </summary>
public sealed class DataParallelTests
{
    [Theory]
    [InlineData(16, 2)]
    [InlineData(15, 2)]
    [InlineData(7, 3)]
    [InlineData(5, 5)]
    public void Shards_cover_the_batch_in_rank_order_and_differ_by_at_most_one(int examples, int size)
    {
        var shards = Enumerable.Range(0, size).Select(r => Shard.Of(examples, r, size)).ToArray();
        Assert.Equal(0, shards[0].Start);
        for (int r = 1; r < size; r++) Assert.Equal(shards[r - 1].Start + shards[r - 1].Count, shards[r].Start);
        Assert.Equal(examples, shards.Sum(s => s.Count));
        Assert.True(shards.Max(s => s.Count) - shards.Min(s => s.Count) <= 1);
        Assert.All(shards, s => Assert.True(s.Count > 0));
    }

    [Fact]
    public void A_batch_smaller_than_the_number_of_ranks_is_refused_by_name()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Shard.Of(3, 0, 4));
        Assert.Contains("3 example(s) cannot give each of 4 ranks", e.Message);
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(0.3)]
    public void Dropout_masks_of_a_shard_are_those_of_its_rows_in_the_whole_batch(double rate)
    {
        const int rows = 11, width = 13, split = 6;
        var random = new SeededRandom(4);
        var x = new float[rows * width];
        for (int i = 0; i < x.Length; i++) x[i] = (float)random.NextGaussian();
        var whole = new float[x.Length];
        Dropout.Forward<float>(x, whole, rate, seed: 9, stream: 3);
        var parts = new float[x.Length];
        Dropout.Forward<float>(x.AsSpan(0, split * width), parts.AsSpan(0, split * width), rate, 9, 3);
        Dropout.Forward<float>(x.AsSpan(split * width), parts.AsSpan(split * width), rate, 9, 3, first: split * width);
        Assert.Equal(whole, parts);
        var back = new float[x.Length];
        Dropout.Backward<float>(x.AsSpan(split * width), back.AsSpan(split * width), rate, 9, 3, first: split * width);
        Assert.Equal(whole.AsSpan(split * width).ToArray(), back.AsSpan(split * width).ToArray());
    }

    [Fact]
    public void Buckets_start_during_the_backward_from_the_end_down_and_the_sum_is_the_global_mean()
    {
        // Reference: the plain pass in one process.
        var (plain, plainPass) = GradientReadinessTests.Build(nameof(TinyGpt));
        plainPass();
        var expected = plain.Arena.AsSpan(plain.GradientOffset, plain.ParameterRegion).ToArray();

        // The same pass with a fake 2-rank communicator whose peer holds identical gradients, a shard that is a
        // quarter of the batch (weight 1/4): each bucket becomes 2 · g/4 = g/2, and it is summed at its start, so a
        // write into a bucket after its start would show.
        var (engine, pass) = GradientReadinessTests.Build(nameof(TinyGpt));
        var fake = new FakeCommunicator { ApplyOnStart = true };
        var reduce = new GradientAllReduce<double>(fake, engine.Arena, engine.GradientOffset, engine.ParameterRegion, bucketBytes: 8 * 200);
        engine.GradientHook = reduce;
        reduce.BeginStep(1, 4);
        pass();
        var actual = engine.Arena.AsSpan(engine.GradientOffset, engine.ParameterRegion).ToArray();
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i] / 2, actual[i]);

        var starts = fake.Log.Where(l => l.Event == "start").Select(l => l.Length).ToArray();
        Assert.Equal(reduce.Buckets, starts.Length);
        Assert.Equal(engine.ParameterRegion, starts.Sum());
        Assert.True(reduce.Buckets >= 5, $"{reduce.Buckets} buckets");
        Assert.Equal(1, reduce.Statistics.Steps);
        Assert.DoesNotContain(fake.Log, l => l.Event == "blocking");
    }

    [Fact]
    public void Complete_waits_for_every_bucket()
    {
        var (engine, pass) = GradientReadinessTests.Build(nameof(AllOps));
        var fake = new FakeCommunicator { CompleteOnlyInWait = true };
        var reduce = new GradientAllReduce<double>(fake, engine.Arena, engine.GradientOffset, engine.ParameterRegion, bucketBytes: 8 * 64);
        engine.GradientHook = reduce;
        reduce.BeginStep(2, 4);
        pass();
        Assert.Equal(0, fake.Pending);
        Assert.Equal(reduce.Buckets, fake.Log.Count(l => l.Event == "done"));
    }

    [Fact]
    public void Without_overlap_the_region_is_reduced_in_one_call_after_the_backward()
    {
        var (plain, plainPass) = GradientReadinessTests.Build(nameof(AllOps));
        plainPass();
        var (engine, pass) = GradientReadinessTests.Build(nameof(AllOps));
        var fake = new FakeCommunicator();
        var reduce = new GradientAllReduce<double>(fake, engine.Arena, engine.GradientOffset, engine.ParameterRegion, overlap: false);
        engine.GradientHook = reduce;
        reduce.BeginStep(1, 2);
        pass();
        Assert.Equal(new[] { (engine.ParameterRegion, "blocking") }, fake.Log.ToArray());
        Assert.Equal(plain.Arena.AsSpan(plain.GradientOffset, plain.ParameterRegion).ToArray(), engine.Arena.AsSpan(engine.GradientOffset, engine.ParameterRegion).ToArray());
    }

    [Fact]
    public void A_backward_without_a_shard_is_refused()
    {
        var (engine, pass) = GradientReadinessTests.Build(nameof(AllOps));
        engine.GradientHook = new GradientAllReduce<double>(new FakeCommunicator(), engine.Arena, engine.GradientOffset, engine.ParameterRegion);
        var e = Assert.Throws<InvalidOperationException>(pass);
        Assert.Contains("DataParallel.Shard", e.Message);
    }

    [Fact]
    public void With_one_rank_nothing_is_attached_and_the_step_is_the_plain_step()
    {
        var model = new WideMlp(seed: 3);
        var reference = new WideMlp(seed: 3);
        using var ddp = new DataParallel<float>(LocalCommunicator.Instance, model.Compiled);
        Assert.Null(model.Compiled.GradientHook);
        Assert.Null(ddp.Reduction);
        var (x, y) = Batch(WideMlp.MaxBatch, 1);
        var shard = ddp.Shard(WideMlp.MaxBatch);
        Assert.Equal(new Shard(0, WideMlp.MaxBatch), shard);
        var a = new AdamW(1e-3);
        var b = new AdamW(1e-3);
        float loss = model.TrainStep(x, y, a);
        Assert.Equal(loss, ddp.GlobalLoss(loss));
        Assert.Equal(reference.TrainStep(x, y, b), loss);
        Assert.Equal(reference.Compiled.Arena, model.Compiled.Arena);
    }

    [Fact]
    public void A_shard_trains_its_rows_with_the_whole_batch_dropout_masks()
    {
        // Rank 1 of 2 holds rows 2 and 3 of the batch: its training forward must give those rows the outputs one
        // process gives them, dropout masks included.
        var whole = new AllOps(seed: 5);
        var half = new AllOps(seed: 5);
        var random = new SeededRandom(8);
        var x = new float[AllOps.MaxBatch * AllOps.InputFeatures];
        for (int i = 0; i < x.Length; i++) x[i] = (float)random.NextGaussian();
        using var ddp = new DataParallel<float>(new FakeCommunicator(size: 2, rank: 1), half.Compiled);
        var shard = ddp.Shard(AllOps.MaxBatch);
        Assert.Equal(new Shard(2, 2), shard);
        Assert.Equal(2, half.Compiled.FirstRow);
        x.AsSpan().CopyTo(whole.Compiled.Input);
        whole.Compiled.Forward(AllOps.MaxBatch, training: true);
        x.AsSpan(2 * AllOps.InputFeatures, 2 * AllOps.InputFeatures).CopyTo(half.Compiled.Input);
        half.Compiled.Forward(2, training: true);
        // The outputs of rows 2 and 3 agree: same masks (with FirstRow = 0, rank 1 would draw rows 0 and 1's).
        Assert.Equal(whole.Compiled.Output.Slice(2 * AllOps.OutputFeatures, 2 * AllOps.OutputFeatures).ToArray(), half.Compiled.Output.Slice(0, 2 * AllOps.OutputFeatures).ToArray());
    }

    [Theory]
    [InlineData(nameof(CoSentPairs), "Ops.CoSent")]
    [InlineData(nameof(FloodBelowNet), "Ops.Flood")]
    [InlineData(nameof(MultiTaskInitialNet), "InitialLoss")]
    [InlineData(nameof(MultiTaskLogSumNet), "LogSum")]
    [InlineData(nameof(AdversarialTagger), "[Adversarial]")]
    [InlineData(nameof(CosineMsePairs), "pairs")]
    public void Models_whose_loss_is_not_a_mean_over_rows_are_refused_with_the_reason(string model, string reason)
    {
        IDataParallelEngine<float> engine = model switch
        {
            nameof(CoSentPairs) => new CoSentPairs.Engine<float>(1),
            nameof(FloodBelowNet) => new FloodBelowNet.Engine<float>(1),
            nameof(MultiTaskInitialNet) => new MultiTaskInitialNet.Engine<float>(1),
            nameof(MultiTaskLogSumNet) => new MultiTaskLogSumNet.Engine<float>(1),
            nameof(AdversarialTagger) => new AdversarialTagger.Engine<float>(1),
            _ => new CosineMsePairs.Engine<float>(1),
        };
        var e = Assert.Throws<NotSupportedException>(() => new DataParallel<float>(new FakeCommunicator(), engine));
        Assert.Contains(reason, e.Message);
        Assert.Null(engine.GradientHook);
        // One process is always fine.
        using var local = new DataParallel<float>(LocalCommunicator.Instance, engine);
    }

    [Fact]
    public void Ranks_that_start_from_other_parameters_are_named()
    {
        var model = new WideMlp(seed: 1);
        // Rank 1 receives a hash that is not its own: its parameters differ from rank 0's.
        var fake = new FakeCommunicator(size: 2, rank: 1) { BroadcastOverride = new byte[8] };
        var e = Assert.Throws<InvalidOperationException>(() => new DataParallel<float>(fake, model.Compiled));
        Assert.Contains("rank(s) 1 start from other parameters than rank 0", e.Message);
    }

    [Fact]
    public void A_data_parallel_step_allocates_nothing()
    {
        var model = new WideMlp(seed: 1);
        var optimizer = new AdamW(1e-3) { MaxGradientNorm = 1 };
        var fake = new FakeCommunicator(logCapacity: 1 << 16); // room for every event: a growing log would allocate
        using var ddp = new DataParallel<float>(fake, model.Compiled, bucketBytes: 64 * 1024);
        var (x, y) = Batch(WideMlp.MaxBatch, 2);
        void Step()
        {
            var shard = ddp.Shard(2 * WideMlp.MaxBatch); // this rank's half of a batch twice the model's
            ddp.GlobalLoss(model.TrainStep(x.AsSpan(0, shard.Count * WideMlp.InputFeatures), y.AsSpan(0, shard.Count), optimizer));
        }

        for (int i = 0; i < 10; i++) Step();
        fake.Log.Clear();
        var (allocated, helperAllocated) = Allocations.PerWindow(() => Step(), 30);
        Assert.Equal(0, allocated);
        Assert.Equal(0, helperAllocated);
        Assert.True(ddp.Reduction!.Buckets > 1);
    }

    [Fact]
    public void Missing_or_foreign_mpi_libraries_are_named_with_what_to_install()
    {
        var missing = Assert.Throws<MpiUnavailableException>(() => OpenMpi.Resolve("libmpi-that-is-not-installed.so.40"));
        Assert.Contains("sudo apt-get install openmpi-bin libopenmpi-dev", missing.Message);
        Assert.Contains("libmpi-that-is-not-installed.so.40", missing.Message);
        var foreign = Assert.Throws<MpiUnavailableException>(() => OpenMpi.Resolve("libc.so.6"));
        Assert.Contains("not Open MPI's library", foreign.Message);
    }

    [Fact]
    public void Outside_mpirun_the_environment_gives_one_process()
    {
        Assert.False(Communicator.LaunchedByMpi, "the test host is not an MPI rank");
        Assert.Same(LocalCommunicator.Instance, Communicator.FromEnvironment());
    }

    private static (float[] X, int[] Y) Batch(int rows, ulong seed)
    {
        var random = new SeededRandom(seed);
        var x = new float[rows * WideMlp.InputFeatures];
        for (int i = 0; i < x.Length; i++) x[i] = (float)random.NextGaussian();
        var y = new int[rows];
        for (int i = 0; i < rows; i++) y[i] = i % WideMlp.OutputFeatures;
        return (x, y);
    }
}

/// <summary>The GPU side of data parallelism without a GPU: NCCL's absence is reported, by name, with what to install.</summary>
public sealed class NcclTests
{
    [Fact]
    public void A_missing_nccl_is_named_with_what_to_install()
    {
        var e = Assert.Throws<Dsl.Cuda.Interop.CudaUnavailableException>(() => Dsl.Cuda.NcclCommunicator.Create(LocalCommunicator.Instance, "libnccl-not-installed.so.2"));
        Assert.Contains("NCCL (libnccl-not-installed.so.2) could not be loaded: install NVIDIA's NCCL 2", e.Message);
        Assert.Contains("MpiCommunicator", e.Message);
    }

    [Fact]
    public void Without_nccl_installed_the_real_library_gives_the_same_error()
    {
        if (System.Runtime.InteropServices.NativeLibrary.TryLoad(Dsl.Cuda.Interop.Nccl.Library, out _)) return; // NCCL is installed here: the test above still checks the message
        var e = Assert.Throws<Dsl.Cuda.Interop.CudaUnavailableException>(() => Dsl.Cuda.NcclCommunicator.Create(LocalCommunicator.Instance));
        Assert.Contains("NCCL (libnccl.so.2) could not be loaded", e.Message);
    }
}
