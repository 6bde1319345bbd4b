using System;
using System.Diagnostics;
using System.Globalization;
using System.Numerics;
using System.Runtime.Intrinsics;
using Dsl.Kernels;
using Dsl.Runtime;

namespace Dsl.Bench;

/// <summary>Times <see cref="Gemm.Multiply"/> on the products one training step of an
/// MLP 784-1024-1024-10 at batch 128 performs: per layer, forward Y = X·Wᵀ, weight gradient
/// dW = dYᵀ·X and input gradient dX = dY·W.</summary>
internal static class GemmBench
{
    private const int Batch = 128;

    private static string? s_filter;

    public static int Run(ReadOnlySpan<string> args)
    {
        int runs = 31;
        bool useDouble = false;
        s_filter = null;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--runs" when i + 1 < args.Length:
                    runs = int.Parse(args[++i], CultureInfo.InvariantCulture);
                    break;
                case "--double":
                    useDouble = true;
                    break;
                case "--only" when i + 1 < args.Length:
                    s_filter = args[++i];
                    break;
                default:
                    Console.Error.WriteLine($"gemm: unknown option {args[i]}");
                    return 2;
            }
        }

        Console.WriteLine($"{(useDouble ? "double" : "float")}, Vector512 {(Vector512.IsHardwareAccelerated ? "on" : "off")}, {Environment.ProcessorCount} processors, median of {runs} runs");
        Console.WriteLine($"{"product",-34} {"m",5} {"n",5} {"k",5} {"thr",3} {"ms",8} {"GFLOP/s",8}");
        int[] widths = [784, 1024, 1024, 10];
        for (int layer = 0; layer + 1 < widths.Length; layer++)
        {
            int inputs = widths[layer], outputs = widths[layer + 1];
            string name = $"L{layer + 1} {inputs}->{outputs}";
            if (useDouble)
            {
                Layer<double>(name, inputs, outputs, runs);
            }
            else
            {
                Layer<float>(name, inputs, outputs, runs);
            }
        }

        return 0;
    }

    private static void Layer<T>(string name, int inputs, int outputs, int runs)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var random = new Random(42);
        T[] x = Fill<T>(random, Batch * inputs);
        T[] w = Fill<T>(random, outputs * inputs);
        T[] dy = Fill<T>(random, Batch * outputs);
        T[] y = new T[Batch * outputs];
        T[] dw = new T[outputs * inputs];
        T[] dx = new T[Batch * inputs];

        // Y[B×out] = X[B×in] · Wᵀ, W stored [out×in].
        Time(name + " fwd  Y=X·Wᵀ", Batch, outputs, inputs, runs,
            () => Gemm.Multiply(x, 0, inputs, false, w, 0, inputs, true, y, 0, outputs, Batch, outputs, inputs, false, default(NoEpilogue<T>)));

        // dW[out×in] = dYᵀ · X.
        Time(name + " bwd dW=dYᵀ·X", outputs, inputs, Batch, runs,
            () => Gemm.Multiply(dy, 0, outputs, true, x, 0, inputs, false, dw, 0, inputs, outputs, inputs, Batch, false, default(NoEpilogue<T>)));

        // dX[B×in] = dY · W.
        Time(name + " bwd dX=dY·W", Batch, inputs, outputs, runs,
            () => Gemm.Multiply(dy, 0, outputs, false, w, 0, inputs, false, dx, 0, inputs, Batch, inputs, outputs, false, default(NoEpilogue<T>)));
    }

    private static void Time(string label, int m, int n, int k, int runs, Action product)
    {
        if (s_filter is not null && !label.Contains(s_filter, StringComparison.Ordinal))
        {
            return;
        }

        WorkerPool pool = WorkerPool.Shared;
        int saved = pool.Threads;
        double flops = 2.0 * m * n * k;
        try
        {
            for (int threads = 1; threads <= Math.Min(2, pool.MaxThreads); threads++)
            {
                pool.Threads = threads;

                // Warm-up long enough for tiering to reach the optimised code (and OSR to settle).
                var warm = Stopwatch.StartNew();
                while (warm.ElapsedMilliseconds < 300)
                {
                    product();
                }

                // Each sample repeats the product so that it lasts at least ~2 ms (timer resolution, small shapes).
                int repeats = Math.Max(1, (int)(2e-3 * 30e9 / flops));
                var samples = new double[runs];
                for (int r = 0; r < runs; r++)
                {
                    long start = Stopwatch.GetTimestamp();
                    for (int i = 0; i < repeats; i++)
                    {
                        product();
                    }

                    samples[r] = Stopwatch.GetElapsedTime(start).TotalMilliseconds / repeats;
                }

                Array.Sort(samples);
                double ms = samples[runs / 2];
                Console.WriteLine($"{label,-34} {m,5} {n,5} {k,5} {threads,3} {ms,8:F3} {flops / (ms * 1e6),8:F1}");
            }
        }
        finally
        {
            pool.Threads = saved;
        }
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
}
