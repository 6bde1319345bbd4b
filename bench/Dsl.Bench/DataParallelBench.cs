using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using Dsl.Distributed;
using Dsl.Optimizers;
using Dsl.Runtime;

namespace Dsl.Bench;

/// <summary>
/// Data-parallel scaling on one machine: the MLP (784-1024-1024-10, batch 128) and CharGpt (batch 12 × 64) training
/// step as 1 process × 2 threads against 2 Open MPI ranks × 1 thread (each rank half of the same global batch), with
/// the gradient buckets overlapped with the backward and without (one blocking all-reduce after it), the time the step
/// waited for the reduction after its backward, and the time a blocking all-reduce of the whole gradient slice takes
/// alone (its bandwidth feeds the ring-all-reduce estimate for 8 and 64 nodes). The parent starts itself as the
/// children (<c>ddp-run</c>): alone, and under mpirun.
/// </summary>
internal static class DataParallelBench
{
    public static int Run(ReadOnlySpan<string> args)
    {
        int steps = 40;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--steps" when i + 1 < args.Length: steps = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                default:
                    Console.Error.WriteLine($"ddp: unknown option {args[i]}; options: --steps N");
                    return 2;
            }
        }

        Console.WriteLine($"load average before: {LoadAverage()}");
        Console.WriteLine($"median over {steps} steps after {Warmup} warm-up steps; global batch as the model's MaxBatch; AdamW with clipping");
        Console.WriteLine($"{"model",-8} {"run",-28} {"step ms",8} {"samples/s",10} {"wait ms",8} {"in flight ms",12} {"hook ms",8}");
        var allReduce = new Dictionary<string, (double Bytes, double Seconds)>();
        foreach (string model in new[] { "mlp", "chargpt" })
        {
            var one = Child(1, model, threads: 2, overlap: true, steps);
            var two = Child(2, model, threads: 1, overlap: true, steps);
            var blocking = Child(2, model, threads: 1, overlap: false, steps);
            Print(model, "1 process × 2 threads", one);
            Print(model, "2 ranks × 1 thread, overlapped", two);
            Print(model, "2 ranks × 1 thread, after", blocking);
            double hidden = Math.Max(0, two["allreduce_ms"] - two["wait_ms"]);
            Console.WriteLine($"{"",-8} gradient slice {two["bytes"] / 1e6:F2} MB: a blocking all-reduce alone {two["allreduce_ms"]:F2} ms " +
                $"(algorithm bandwidth {two["bytes"] / (two["allreduce_ms"] / 1e3) / 1e9:F2} GB/s); overlapped step waited {two["wait_ms"]:F2} ms, " +
                $"so {hidden:F2} ms ({(two["allreduce_ms"] > 0 ? hidden / two["allreduce_ms"] : 0):P0}) of it was hidden behind the backward");
            Console.WriteLine($"{"",-8} 2 ranks vs 1 process: {one["step_ms"] / two["step_ms"]:F2}× the samples/s overlapped, {one["step_ms"] / blocking["step_ms"]:F2}× without overlap");
            allReduce[model] = (two["bytes"], two["allreduce_ms"] / 1e3);
        }

        Console.WriteLine();
        Console.WriteLine("Ring all-reduce estimate, t(N) = 2(N − 1)/N · bytes / B with B = bytes / t(2) from the measured 2-rank all-reduce (latency terms left out):");
        Console.WriteLine($"{"model",-8} {"bytes",10} {"B GB/s",7} {"t(2) ms",8} {"t(8) ms",8} {"t(64) ms",9}");
        foreach (var (model, (bytes, seconds)) in allReduce)
        {
            double bandwidth = bytes / seconds; // 2(2 − 1)/2 = 1
            double T(int n) => 2.0 * (n - 1) / n * bytes / bandwidth * 1e3;
            Console.WriteLine($"{model,-8} {bytes,10:N0} {bandwidth / 1e9,7:F2} {T(2),8:F2} {T(8),8:F2} {T(64),9:F2}");
        }

        Console.WriteLine($"load average after: {LoadAverage()}");
        return 0;
    }

    private const int Warmup = 8;

    private static void Print(string model, string run, Dictionary<string, double> r) =>
        Console.WriteLine($"{model,-8} {run,-28} {r["step_ms"],8:F2} {r["samples"] / (r["step_ms"] / 1e3),10:F0} {r["wait_ms"],8:F2} {r["inflight_ms"],12:F2} {r["hook_ms"],8:F2}");

    /// <summary>Starts this program's <c>ddp-run</c> alone or under mpirun and reads rank 0's "key value" lines.</summary>
    private static Dictionary<string, double> Child(int ranks, string model, int threads, bool overlap, int steps)
    {
        string self = typeof(DataParallelBench).Assembly.Location;
        string dotnet = Environment.ProcessPath ?? "dotnet";
        string arguments = $"\"{self}\" ddp-run --model {model} --threads {threads} --overlap {(overlap ? "true" : "false")} --steps {steps}";
        var info = ranks == 1
            ? new ProcessStartInfo(dotnet, arguments)
            : new ProcessStartInfo("mpirun", $"-np {ranks} --oversubscribe {(Environment.UserName == "root" ? "--allow-run-as-root " : "")}\"{dotnet}\" {arguments}");
        info.RedirectStandardOutput = true;
        info.RedirectStandardInput = true;
        info.UseShellExecute = false;
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {info.FileName}");
        string output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0) throw new InvalidOperationException($"{info.FileName} {info.Arguments} exited with {process.ExitCode}:\n{output}");
        var values = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (string line in output.Split('\n'))
        {
            // .NET may put a terminal escape sequence before a rank's first line: keep the key's trailing [a-z_] run.
            string[] t = line.Trim().Split(' ');
            if (t.Length == 2 && double.TryParse(t[1], NumberStyles.Float, CultureInfo.InvariantCulture, out double v))
                values[new string(t[0].Reverse().TakeWhile(c => char.IsAsciiLetterLower(c) || c == '_').Reverse().ToArray())] = v;
        }

        return values;
    }

    /// <summary>One rank (or the one process): times the step and, with several ranks, a blocking all-reduce of the
    /// gradient slice; rank 0 prints "key value" lines.</summary>
    public static int RunChild(ReadOnlySpan<string> args)
    {
        string model = "mlp";
        int threads = 1, steps = 40;
        bool overlap = true;
        for (int i = 0; i + 1 < args.Length; i += 2)
        {
            switch (args[i])
            {
                case "--model": model = args[i + 1]; break;
                case "--threads": threads = int.Parse(args[i + 1], CultureInfo.InvariantCulture); break;
                case "--overlap": overlap = bool.Parse(args[i + 1]); break;
                case "--steps": steps = int.Parse(args[i + 1], CultureInfo.InvariantCulture); break;
            }
        }

        WorkerPool.Shared.Threads = threads;
        ICommunicator world = Communicator.FromEnvironment();
        var optimizer = new AdamW(1e-4) { MaxGradientNorm = 1 };
        var random = new SeededRandom(3);
        Func<Shard, float> step;
        DataParallel<float> ddp;
        int batch;
        if (model == "mlp")
        {
            var m = new BenchMlp(seed: 1);
            batch = BenchMlp.MaxBatch;
            var x = new float[batch * BenchMlp.InputFeatures];
            var y = new int[batch];
            for (int i = 0; i < x.Length; i++) x[i] = (float)random.NextGaussian();
            for (int i = 0; i < y.Length; i++) y[i] = i % 10;
            ddp = new DataParallel<float>(world, m.Compiled, overlap: overlap);
            step = s => m.TrainStep(x.AsSpan(s.Start * BenchMlp.InputFeatures, s.Count * BenchMlp.InputFeatures), y.AsSpan(s.Start, s.Count), optimizer);
        }
        else
        {
            var m = new global::CharGpt.CharGpt(seed: 1337);
            batch = global::CharGpt.CharGpt.MaxBatch;
            int t = global::CharGpt.CharGpt.Sequence;
            var ids = new int[batch * t];
            var next = new int[batch * t];
            for (int i = 0; i < ids.Length; i++) (ids[i], next[i]) = ((int)(random.NextDouble() * 65), (int)(random.NextDouble() * 65));
            ddp = new DataParallel<float>(world, m.Compiled, overlap: overlap);
            step = s => m.TrainStep(ids.AsSpan(s.Start * t, s.Count * t), next.AsSpan(s.Start * t, s.Count * t), optimizer);
        }

        var times = new double[steps];
        for (int s = 0; s < Warmup + steps; s++)
        {
            if (s == Warmup) ddp.Reduction?.ResetStatistics();
            world.Barrier(); // start every step together: the time is the slowest rank's
            long start = Stopwatch.GetTimestamp();
            ddp.GlobalLoss(step(ddp.Shard(batch)));
            if (s >= Warmup) times[s - Warmup] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }

        // The gradient slice alone: a blocking all-reduce of the whole region, timed the same way.
        var engine = (IDataParallelEngine<float>)(model == "mlp" ? (object)new BenchMlp(1).Compiled : new global::CharGpt.CharGpt(1).Compiled);
        var slice = new float[engine.ParameterRegion];
        var reduceTimes = new double[steps];
        for (int s = 0; s < Warmup + steps; s++)
        {
            world.Barrier();
            long start = Stopwatch.GetTimestamp();
            world.AllReduceSum(slice.AsSpan());
            if (s >= Warmup) reduceTimes[s - Warmup] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }

        var stats = ddp.Reduction?.Statistics ?? default;
        double perStep = Math.Max(1, stats.Steps);
        if (world.Rank == 0)
        {
            Console.WriteLine($"step_ms {Median(times).ToString("R", CultureInfo.InvariantCulture)}");
            Console.WriteLine($"samples {batch}");
            Console.WriteLine($"wait_ms {(stats.ExposedSeconds / perStep * 1e3).ToString("R", CultureInfo.InvariantCulture)}");
            Console.WriteLine($"inflight_ms {(stats.InFlightSeconds / perStep * 1e3).ToString("R", CultureInfo.InvariantCulture)}");
            Console.WriteLine($"hook_ms {(stats.HookSeconds / perStep * 1e3).ToString("R", CultureInfo.InvariantCulture)}");
            Console.WriteLine($"allreduce_ms {(world.Size > 1 ? Median(reduceTimes) : 0).ToString("R", CultureInfo.InvariantCulture)}");
            Console.WriteLine($"bytes {(engine.ParameterRegion * 4.0).ToString("R", CultureInfo.InvariantCulture)}");
        }

        ddp.Dispose();
        world.Barrier();
        world.Dispose();
        return 0;
    }

    private static double Median(double[] values)
    {
        var sorted = values.OrderBy(v => v).ToArray();
        return sorted.Length == 0 ? 0 : sorted[sorted.Length / 2];
    }

    private static string LoadAverage()
    {
        try
        {
            return string.Join(" ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3));
        }
        catch (IOException)
        {
            return "n/a";
        }
    }
}
