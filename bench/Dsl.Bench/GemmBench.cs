using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Numerics;
using System.Runtime.Intrinsics;
using System.Text.Json;
using Dsl.Kernels;
using Dsl.Runtime;

namespace Dsl.Bench;

/// <summary>
/// Times <see cref="Gemm.Multiply"/> on the products the reference models' training steps perform, in all three
/// forms a dense layer needs (forward Y = X·Wᵀ, weight gradient dW = dYᵀ·X, input gradient dX = dY·W): the MLP
/// 784-1024-1024-10 at batch 128, CharGpt's layers at 768 rows, and squares of 512–2048. Beside each figure: the
/// fraction of the FMA peak measured in the same run, and OpenBLAS's rate for the same product through torch.mm
/// (bench/torch_gemm.py), timed the same way.
/// </summary>
/// <remarks>
/// One thread is timed by the thread's CPU time on both sides (on a shared machine that leaves out time spent
/// descheduled; all the work runs on the calling thread), more threads by wall time. Each sample repeats the
/// product until it lasts about 2 ms; figures are medians (best run beside).
/// </remarks>
internal static class GemmBench
{
    private static readonly Product[] s_products = BuildProducts();

    public static int Run(ReadOnlySpan<string> args)
    {
        int runs = 31;
        bool useDouble = false;
        string? filter = null;
        string python = "/usr/bin/python3";
        bool torch = true;
        bool comparePackB = false;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--runs" when i + 1 < args.Length: runs = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--double": useDouble = true; torch = false; break;
                case "--only" when i + 1 < args.Length: filter = args[++i]; break;
                case "--python" when i + 1 < args.Length: python = args[++i]; break;
                case "--no-torch": torch = false; break;
                case "--compare-pack-b": comparePackB = true; break;
                default:
                    Console.Error.WriteLine($"gemm: unknown option {args[i]}; options: --runs N --only TEXT --double --no-torch --python PATH --compare-pack-b");
                    return 2;
            }
        }

        Product[] products = [.. s_products.Where(p => filter is null || p.Label.Contains(filter, StringComparison.Ordinal))];
        if (comparePackB)
        {
            return ComparePackB(products, runs, useDouble);
        }

        WorkerPool pool = WorkerPool.Shared;
        int[] threadCounts = pool.MaxThreads >= 2 ? [1, 2] : [1];
        Console.WriteLine($"{(useDouble ? "double" : "float")} GEMM — {Machine.Cpu()}; kernels {(Vector512.IsHardwareAccelerated ? "AVX-512" : "AVX2")}; load average {Machine.LoadAverage()}");
        var peaks = new Dictionary<int, double>();
        foreach (int t in threadCounts)
        {
            peaks[t] = Machine.FmaPeak(t) / (useDouble ? 2 : 1);
        }

        Console.WriteLine("measured FMA peak: " + string.Join(", ", threadCounts.Select(t => string.Format(CultureInfo.InvariantCulture, "{0:F1} GFLOP/s on {1} thread(s)", peaks[t], t)))
            + " (12 FMA chains, thread CPU time, best of 7)");

        var blas = new Dictionary<(string, int), (double Median, double Best)>();
        if (torch)
        {
            string script = Path.Combine(MlpBench.RepoRoot(), "bench", "torch_gemm.py");
            string shapes = string.Join(',', products.Select(p => p.Spec).Distinct());
            foreach (int t in threadCounts)
            {
                using JsonDocument? json = TorchProcess.RunForJson(python, script, t, ["--threads", t.ToString(CultureInfo.InvariantCulture), "--shapes", shapes, "--runs", runs.ToString(CultureInfo.InvariantCulture)]);
                if (json is null) continue;
                foreach (JsonElement r in json.RootElement.GetProperty("results").EnumerateArray())
                {
                    string spec = $"{r.GetProperty("form").GetString()}:{r.GetProperty("m").GetInt32()}x{r.GetProperty("n").GetInt32()}x{r.GetProperty("k").GetInt32()}";
                    blas[(spec, t)] = (r.GetProperty("gflops").GetDouble(), r.GetProperty("best_gflops").GetDouble());
                }
            }
        }

        Console.WriteLine();
        Console.WriteLine($"{"product",-30} {"m",5} {"n",5} {"k",5} {"thr",3} {"GFLOP/s",8} {"best",7} {"%peak",6} {"BLAS",7} {"%peak",6} {"Dsl/BLAS",8}");
        var worst = new Dictionary<int, (double Fraction, string Label)>();
        foreach (Product p in products)
        {
            foreach (int t in threadCounts)
            {
                (double median, double best) = useDouble ? Time<double>(p, t, runs) : Time<float>(p, t, runs);
                double fraction = median / peaks[t];
                string blasColumns = blas.TryGetValue((p.Spec, t), out var b)
                    ? string.Format(CultureInfo.InvariantCulture, "{0,7:F1} {1,5:F0}% {2,8:F2}", b.Median, 100 * b.Median / peaks[t], median / b.Median)
                    : string.Format(CultureInfo.InvariantCulture, "{0,7} {1,6} {2,8}", "n/a", "", "");
                Console.WriteLine(string.Format(
                    CultureInfo.InvariantCulture, "{0,-30} {1,5} {2,5} {3,5} {4,3} {5,8:F1} {6,7:F1} {7,5:F0}% {8}",
                    p.Label, p.M, p.N, p.K, t, median, best, 100 * fraction, blasColumns));
                if (!worst.TryGetValue(t, out var w) || fraction < w.Fraction)
                {
                    worst[t] = (fraction, p.Label);
                }
            }
        }

        Console.WriteLine();
        foreach (int t in threadCounts)
        {
            if (worst.TryGetValue(t, out var w))
            {
                Console.WriteLine(string.Format(CultureInfo.InvariantCulture, "lowest fraction of peak on {0} thread(s): {1:F0}% ({2})", t, 100 * w.Fraction, w.Label));
            }
        }

        Console.WriteLine($"load average at the end {Machine.LoadAverage()}. One thread: thread CPU time; two: wall time (shared cores make it noisy). %peak = median / measured peak.");
        return 0;
    }

    /// <summary>
    /// The products whose B is not transposed, packed panel by panel (the old way) and row by row (the current
    /// way), in alternating rounds in this one process; per variant the best of the rounds' medians.
    /// </summary>
    private static int ComparePackB(Product[] products, int runs, bool useDouble)
    {
        const int Rounds = 3;
        WorkerPool pool = WorkerPool.Shared;
        int[] threadCounts = pool.MaxThreads >= 2 ? [1, 2] : [1];
        Console.WriteLine($"{(useDouble ? "double" : "float")} GEMM, B packing panel by panel against row by row — {Machine.Cpu()}; kernels {(Vector512.IsHardwareAccelerated ? "AVX-512" : "AVX2")}; load average {Machine.LoadAverage()}");
        Console.WriteLine($"{Rounds} alternating rounds of {runs} samples per variant; GFLOP/s = best round's median");
        Console.WriteLine();
        Console.WriteLine($"{"product",-30} {"m",5} {"n",5} {"k",5} {"thr",3} {"panels",8} {"rows",8} {"rows/panels",11}");
        foreach (Product p in products.Where(p => !p.TransB))
        {
            foreach (int t in threadCounts)
            {
                double panels = 0, rows = 0;
                try
                {
                    for (int round = 0; round < Rounds; round++)
                    {
                        foreach (bool byPanels in new[] { true, false })
                        {
                            Gemm.PackBByPanels = byPanels;
                            double median = (useDouble ? Time<double>(p, t, runs) : Time<float>(p, t, runs)).Median;
                            if (byPanels) panels = Math.Max(panels, median);
                            else rows = Math.Max(rows, median);
                        }
                    }
                }
                finally
                {
                    Gemm.PackBByPanels = false;
                }

                Console.WriteLine(string.Format(
                    CultureInfo.InvariantCulture, "{0,-30} {1,5} {2,5} {3,5} {4,3} {5,8:F1} {6,8:F1} {7,11:F3}",
                    p.Label, p.M, p.N, p.K, t, panels, rows, rows / panels));
            }
        }

        Console.WriteLine($"load average at the end {Machine.LoadAverage()}. One thread: thread CPU time; two: wall time.");
        return 0;
    }

    private static (double Median, double Best) Time<T>(Product p, int threads, int runs)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var random = new Random(42);
        int aLength = p.M * p.K, bLength = p.K * p.N;
        T[] a = Fill<T>(random, aLength);
        T[] b = Fill<T>(random, bLength);
        T[] c = new T[p.M * p.N];
        // Leading dimensions of the stored operands: A is m×k (k×m when transposed), B is k×n (n×k when transposed).
        int lda = p.TransA ? p.M : p.K, ldb = p.TransB ? p.K : p.N;
        void Product() => Gemm.Multiply(a, 0, lda, p.TransA, b, 0, ldb, p.TransB, c, 0, p.N, p.M, p.N, p.K, false, default(NoEpilogue<T>));

        WorkerPool pool = WorkerPool.Shared;
        int saved = pool.Threads;
        double flops = 2.0 * p.M * p.N * p.K;
        try
        {
            pool.Threads = threads;

            // Warm-up long enough for tiering to reach the optimised code (and OSR to settle).
            var warm = Stopwatch.StartNew();
            while (warm.ElapsedMilliseconds < 300)
            {
                Product();
            }

            int repeats = Math.Max(1, (int)(2e-3 * 30e9 / flops));
            var samples = new List<double>(runs);
            var budget = Stopwatch.StartNew();
            for (int r = 0; r < runs; r++)
            {
                long start = Stopwatch.GetTimestamp();
                double cpuStart = threads == 1 ? Machine.ThreadCpuMilliseconds() : 0;
                for (int i = 0; i < repeats; i++)
                {
                    Product();
                }

                samples.Add((threads == 1 ? Machine.ThreadCpuMilliseconds() - cpuStart : Stopwatch.GetElapsedTime(start).TotalMilliseconds) / repeats);
                if (r >= 4 && budget.ElapsedMilliseconds > 1500)
                {
                    break;
                }
            }

            samples.Sort();
            return (flops / (samples[samples.Count / 2] * 1e6), flops / (samples[0] * 1e6));
        }
        finally
        {
            pool.Threads = saved;
        }
    }

    private static Product[] BuildProducts()
    {
        var list = new List<Product>();
        void Layer(string model, string name, int rows, int inputs, int outputs)
        {
            list.Add(new Product($"{model} {name} Y=X·Wᵀ", rows, outputs, inputs, false, true));
            list.Add(new Product($"{model} {name} dW=dYᵀ·X", outputs, inputs, rows, true, false));
            list.Add(new Product($"{model} {name} dX=dY·W", rows, inputs, outputs, false, false));
        }

        Layer("MLP", "784→1024", 128, 784, 1024);
        Layer("MLP", "1024→1024", 128, 1024, 1024);
        Layer("MLP", "1024→10", 128, 1024, 10);
        Layer("GPT", "qkv 128→384", 768, 128, 384);
        Layer("GPT", "proj 128→128", 768, 128, 128);
        Layer("GPT", "up 128→512", 768, 128, 512);
        Layer("GPT", "down 512→128", 768, 512, 128);
        Layer("GPT", "head 128→65", 768, 128, 65);
        foreach (int s in new[] { 512, 1024, 2048 })
        {
            list.Add(new Product($"square {s} A·Bᵀ", s, s, s, false, true));
            list.Add(new Product($"square {s} Aᵀ·B", s, s, s, true, false));
            list.Add(new Product($"square {s} A·B", s, s, s, false, false));
        }

        return [.. list];
    }

    private static T[] Fill<T>(Random random, int length)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var values = new T[length];
        for (int i = 0; i < length; i++)
        {
            values[i] = T.CreateChecked((random.NextDouble() * 2) - 1);
        }

        return values;
    }

    /// <summary>C[m×n] = op(A)·op(B) with the shared dimension k.</summary>
    private sealed record Product(string Label, int M, int N, int K, bool TransA, bool TransB)
    {
        /// <summary>The form as torch_gemm.py spells it.</summary>
        public string Spec => $"{(TransA ? "tn" : TransB ? "nt" : "nn")}:{M}x{N}x{K}";
    }
}
