using System;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Text;
using System.Threading;
using Dsl.Distributed;
using Dsl.Optimizers;
using Dsl.Runtime;

namespace Dsl.Mpi.Worker;

/// <summary>
/// Trains <see cref="DdpMlp"/> or <see cref="DdpGpt"/> on synthetic batches, in one process or as one rank of an
/// mpirun job (the communicator comes from the environment), and rank 0 writes every step's global loss and the
/// final parameters (float bits) to <c>--out</c>, for tests/Dsl.Tests/Distributed to compare. Every rank makes the
/// same global batch from (seed, step) and trains on its shard. Fault options make one rank die at a step.
/// </summary>
internal static class Program
{
    private static int Main(string[] args)
    {
        var o = Options.Parse(args);
        WorkerPool.Shared.Threads = o.Threads;
        ICommunicator communicator = Communicator.FromEnvironment();
        if (o.Timeout > 0) communicator.Timeout = TimeSpan.FromSeconds(o.Timeout);
        var output = new StringBuilder();
        output.Append(CultureInfo.InvariantCulture, $"ranks {communicator.Size} transport {communicator.Transport}\n");
        if (o.Model == "mlp") RunMlp(o, communicator, output);
        else RunGpt(o, communicator, output);
        if (communicator.Rank == 0 && o.Out is not null) File.WriteAllText(o.Out, output.ToString());
        communicator.Barrier();
        communicator.Dispose();
        return 0;
    }

    private static void RunMlp(Options o, ICommunicator communicator, StringBuilder output)
    {
        var model = new DdpMlp(seed: 7);
        var optimizer = new AdamW(3e-3, weightDecay: 0.01) { MaxGradientNorm = 0.5 };
        int batch = o.Batch > 0 ? o.Batch : DdpMlp.MaxBatch, features = DdpMlp.InputFeatures;
        var x = new float[batch * features];
        var y = new int[batch];
        var projection = new SeededRandom(99);
        var w = new double[features * DdpMlp.OutputFeatures];
        for (int i = 0; i < w.Length; i++) w[i] = projection.NextGaussian();
        using var ddp = new DataParallel<float>(communicator, model.Compiled, o.BucketBytes, o.Overlap);
        Train(o, communicator, ddp, output, model.Compiled.Parameters, s => model.Save(s), step =>
        {
            var random = new SeededRandom(1000 + (ulong)step);
            for (int i = 0; i < x.Length; i++) x[i] = (float)random.NextGaussian();
            for (int r = 0; r < batch; r++)
            {
                int best = 0;
                double bestScore = double.NegativeInfinity;
                for (int c = 0; c < DdpMlp.OutputFeatures; c++)
                {
                    double score = 0;
                    for (int j = 0; j < features; j++) score += x[r * features + j] * w[j * DdpMlp.OutputFeatures + c];
                    if (score > bestScore) (best, bestScore) = (c, score);
                }

                y[r] = best;
            }

            return batch;
        }, shard => model.TrainStep(x.AsSpan(shard.Start * features, shard.Count * features), y.AsSpan(shard.Start, shard.Count), optimizer));
    }

    private static void RunGpt(Options o, ICommunicator communicator, StringBuilder output)
    {
        var model = new DdpGpt(seed: 11);
        var optimizer = new AdamW(1e-2, weightDecay: 0.1) { MaxGradientNorm = 1.0 };
        int batch = o.Batch > 0 ? o.Batch : DdpGpt.MaxBatch, t = DdpGpt.Sequence;
        var ids = new int[batch * t];
        var next = new int[batch * t];
        using var ddp = new DataParallel<float>(communicator, model.Compiled, o.BucketBytes, o.Overlap);
        Train(o, communicator, ddp, output, model.Compiled.Parameters, s => model.Save(s), step =>
        {
            // A learnable stream: mostly token + 3 (mod 13), sometimes random.
            var random = new SeededRandom(5000 + (ulong)step);
            for (int b = 0; b < batch; b++)
            {
                int token = (int)(random.NextDouble() * 13);
                for (int p = 0; p <= t; p++)
                {
                    int following = random.NextDouble() < 0.8 ? (token + 3) % 13 : (int)(random.NextDouble() * 13);
                    if (p < t) ids[b * t + p] = token;
                    if (p > 0) next[b * t + p - 1] = token;
                    token = following;
                }
            }

            return batch;
        }, shard => model.TrainStep(ids.AsSpan(shard.Start * t, shard.Count * t), next.AsSpan(shard.Start * t, shard.Count * t), optimizer));
    }

    private static void Train(Options o, ICommunicator communicator, DataParallel<float> ddp, StringBuilder output, Span<float> parameters,
        Action<string> save, Func<int, int> makeBatch, Func<Shard, float> step)
    {
        long allocated = 0;
        var losses = new double[o.Steps]; // written at the end: appending text in the loop would allocate
        for (int s = 0; s < o.Steps; s++)
        {
            if (communicator.Rank == o.DieRank && s == o.DieAt) Die(o.DieMode, communicator.Rank, s);
            int examples = makeBatch(s); // the synthetic data allocates its random source; not the step's business
            long before = GC.GetAllocatedBytesForCurrentThread(), helpers = WorkerPool.HelperAllocatedBytesForCurrentThread;
            var shard = ddp.Shard(examples);
            double loss = ddp.GlobalLoss(step(shard));
            if (s >= o.AllocationFrom && o.AllocationFrom >= 0)
                allocated += GC.GetAllocatedBytesForCurrentThread() - before + (WorkerPool.HelperAllocatedBytesForCurrentThread - helpers);
            losses[s] = loss;
            if (o.Checkpoint is not null && (s + 1) % o.Every == 0 && communicator.Rank == 0) save(o.Checkpoint);
            if (s + 1 == o.DumpAt) AppendParameters(output, "at", parameters);
        }

        for (int s = 0; s < losses.Length; s++) output.Append(CultureInfo.InvariantCulture, $"loss {s} {losses[s]:R}\n");
        if (o.AllocationFrom >= 0)
        {
            // Every rank's count, summed: 0 means no rank allocated.
            double total = allocated;
            if (communicator is MpiCommunicator mpi) total = mpi.AllReduceSum(total);
            output.Append(CultureInfo.InvariantCulture, $"allocated {total:R}\n");
        }

        var stats = ddp.Reduction?.Statistics ?? default;
        output.Append(CultureInfo.InvariantCulture, $"reduce buckets {ddp.Reduction?.Buckets ?? 0} steps {stats.Steps} exposed {stats.ExposedSeconds:R} inflight {stats.InFlightSeconds:R} hook {stats.HookSeconds:R}\n");
        AppendParameters(output, "final", parameters);
    }

    private static void AppendParameters(StringBuilder output, string label, ReadOnlySpan<float> parameters)
    {
        output.Append(CultureInfo.InvariantCulture, $"parameters {label} {parameters.Length}\n");
        foreach (float p in parameters) output.Append(BitConverter.SingleToInt32Bits(p).ToString("x8", CultureInfo.InvariantCulture)).Append('\n');
    }

    private static void Die(string mode, int rank, int step)
    {
        Console.Error.WriteLine($"worker: rank {rank} dies at step {step} ({mode})");
        switch (mode)
        {
            case "kill": Process.GetCurrentProcess().Kill(); break;
            case "hang": Thread.Sleep(Timeout.Infinite); break;
            default: throw new InvalidOperationException($"rank {rank} was told to fail at step {step}");
        }
    }

    private sealed class Options
    {
        public string Model = "mlp";
        public int Steps = 10;
        public int Batch;
        public int Threads = 1;
        public string? Out;
        public bool Overlap = true;
        public int BucketBytes = 4096;
        public string? Checkpoint;
        public int Every = 1;
        public int DumpAt = -1;
        public int DieRank = -1;
        public int DieAt = -1;
        public string DieMode = "kill";
        public int AllocationFrom = -1;
        public double Timeout;

        public static Options Parse(string[] args)
        {
            var o = new Options();
            for (int i = 0; i < args.Length; i++)
            {
                string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
                int Int() => int.Parse(Next(), CultureInfo.InvariantCulture);
                switch (args[i])
                {
                    case "--model": o.Model = Next(); break;
                    case "--steps": o.Steps = Int(); break;
                    case "--batch": o.Batch = Int(); break;
                    case "--threads": o.Threads = Int(); break;
                    case "--out": o.Out = Next(); break;
                    case "--overlap": o.Overlap = bool.Parse(Next()); break;
                    case "--bucket-bytes": o.BucketBytes = Int(); break;
                    case "--checkpoint": o.Checkpoint = Next(); break;
                    case "--every": o.Every = Int(); break;
                    case "--dump-at": o.DumpAt = Int(); break;
                    case "--die-rank": o.DieRank = Int(); break;
                    case "--die-at": o.DieAt = Int(); break;
                    case "--die-mode": o.DieMode = Next(); break;
                    case "--allocations-from": o.AllocationFrom = Int(); break;
                    case "--timeout": o.Timeout = double.Parse(Next(), CultureInfo.InvariantCulture); break;
                    default: throw new ArgumentException($"unknown option {args[i]}");
                }
            }

            if (o.Model is not ("mlp" or "gpt")) throw new ArgumentException($"--model {o.Model}: expected mlp or gpt");
            return o;
        }
    }
}
