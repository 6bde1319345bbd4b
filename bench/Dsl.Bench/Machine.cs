using System;
using System.Globalization;
using System.IO;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using System.Threading;

namespace Dsl.Bench;

/// <summary>Facts about the machine a benchmark prints beside its figures: the load (the cores are
/// shared), the CPU, the process's peak memory, and the measured FP32 FMA peak.</summary>
internal static class Machine
{
    /// <summary>The 1, 5 and 15 minute load averages from /proc/loadavg ("n/a" elsewhere).</summary>
    public static string LoadAverage()
    {
        try
        {
            string[] fields = File.ReadAllText("/proc/loadavg").Split(' ');
            return $"{fields[0]} {fields[1]} {fields[2]}";
        }
        catch (IOException)
        {
            return "n/a";
        }
        catch (UnauthorizedAccessException)
        {
            return "n/a";
        }
    }

    /// <summary>The CPU model from /proc/cpuinfo, with the vector width the kernels use.</summary>
    public static string Cpu()
    {
        string model = "unknown CPU";
        try
        {
            foreach (string line in File.ReadLines("/proc/cpuinfo"))
            {
                if (line.StartsWith("model name", StringComparison.Ordinal))
                {
                    model = line[(line.IndexOf(':') + 1)..].Trim();
                    break;
                }
            }
        }
        catch (IOException)
        {
        }

        string vectors = Vector512.IsHardwareAccelerated ? "AVX-512" : Avx2.IsSupported && Fma.IsSupported ? "AVX2 + FMA" : "no AVX2";
        return $"{model}, {Environment.ProcessorCount} cores, {vectors}";
    }

    /// <summary>The process's peak resident set (VmHWM) in KiB, or −1 where /proc is missing.</summary>
    public static long PeakRssKiB()
    {
        try
        {
            foreach (string line in File.ReadLines("/proc/self/status"))
            {
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                {
                    return long.Parse(line[6..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
                }
            }
        }
        catch (IOException)
        {
        }

        return -1;
    }

    /// <summary>CPU time of the calling thread in milliseconds: on a shared machine, unlike wall time, it leaves
    /// out the time the thread was descheduled (only meaningful for work done on this thread).</summary>
    public static unsafe double ThreadCpuMilliseconds()
    {
        const int ClockThreadCpuTimeId = 3;
        long* timespec = stackalloc long[2];
        return ClockGetTime(ClockThreadCpuTimeId, timespec) == 0 ? (timespec[0] * 1e3) + (timespec[1] * 1e-6) : double.NaN;
    }

    /// <summary>
    /// The FP32 FMA peak in GFLOP/s of one core: twelve independent chains of vector FMAs (enough to
    /// cover the latency of both FMA pipes), the widest vectors the GEMM uses, timed by the thread's
    /// CPU time, best of <paramref name="runs"/>. With <paramref name="threads"/> &gt; 1 the same loop
    /// runs on that many threads at once and the sum of their rates is returned.
    /// </summary>
    public static double FmaPeak(int threads = 1, int runs = 7)
    {
        if (threads <= 1)
        {
            double best = 0;
            for (int r = 0; r < runs; r++)
            {
                best = Math.Max(best, FmaChains());
            }

            return best;
        }

        var rates = new double[threads];
        var workers = new Thread[threads];
        for (int t = 0; t < threads; t++)
        {
            int index = t;
            workers[t] = new Thread(() =>
            {
                double best = 0;
                for (int r = 0; r < runs; r++)
                {
                    best = Math.Max(best, FmaChains());
                }

                rates[index] = best;
            });
            workers[t].Start();
        }

        double total = 0;
        for (int t = 0; t < threads; t++)
        {
            workers[t].Join();
            total += rates[t];
        }

        return total;
    }

    /// <summary>One timed run of the FMA chains: GFLOP/s by this thread's CPU time.</summary>
    private static double FmaChains()
    {
        const long Iterations = 20_000_000;
        double start = ThreadCpuMilliseconds();
        long flops;
        float sink;
        if (Vector512.IsHardwareAccelerated)
        {
            sink = Chains512(Iterations);
            flops = Iterations * 12 * 16 * 2;
        }
        else
        {
            sink = Chains256(Iterations);
            flops = Iterations * 12 * 8 * 2;
        }

        double ms = ThreadCpuMilliseconds() - start;
        GC.KeepAlive(sink);
        return flops / (ms * 1e6);
    }

    private static float Chains256(long iterations)
    {
        Vector256<float> x = Vector256.Create(0.9999999f), y = Vector256.Create(1e-8f);
        Vector256<float> a0 = Vector256<float>.One, a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;
        Vector256<float> a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0;
        for (long i = 0; i < iterations; i++)
        {
            a0 = Vector256.FusedMultiplyAdd(a0, x, y);
            a1 = Vector256.FusedMultiplyAdd(a1, x, y);
            a2 = Vector256.FusedMultiplyAdd(a2, x, y);
            a3 = Vector256.FusedMultiplyAdd(a3, x, y);
            a4 = Vector256.FusedMultiplyAdd(a4, x, y);
            a5 = Vector256.FusedMultiplyAdd(a5, x, y);
            a6 = Vector256.FusedMultiplyAdd(a6, x, y);
            a7 = Vector256.FusedMultiplyAdd(a7, x, y);
            a8 = Vector256.FusedMultiplyAdd(a8, x, y);
            a9 = Vector256.FusedMultiplyAdd(a9, x, y);
            a10 = Vector256.FusedMultiplyAdd(a10, x, y);
            a11 = Vector256.FusedMultiplyAdd(a11, x, y);
        }

        return Vector256.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11);
    }

    private static float Chains512(long iterations)
    {
        Vector512<float> x = Vector512.Create(0.9999999f), y = Vector512.Create(1e-8f);
        Vector512<float> a0 = Vector512<float>.One, a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;
        Vector512<float> a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0;
        for (long i = 0; i < iterations; i++)
        {
            a0 = Vector512.FusedMultiplyAdd(a0, x, y);
            a1 = Vector512.FusedMultiplyAdd(a1, x, y);
            a2 = Vector512.FusedMultiplyAdd(a2, x, y);
            a3 = Vector512.FusedMultiplyAdd(a3, x, y);
            a4 = Vector512.FusedMultiplyAdd(a4, x, y);
            a5 = Vector512.FusedMultiplyAdd(a5, x, y);
            a6 = Vector512.FusedMultiplyAdd(a6, x, y);
            a7 = Vector512.FusedMultiplyAdd(a7, x, y);
            a8 = Vector512.FusedMultiplyAdd(a8, x, y);
            a9 = Vector512.FusedMultiplyAdd(a9, x, y);
            a10 = Vector512.FusedMultiplyAdd(a10, x, y);
            a11 = Vector512.FusedMultiplyAdd(a11, x, y);
        }

        return Vector512.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11);
    }

    [DllImport("libc", EntryPoint = "clock_gettime")]
    private static extern unsafe int ClockGetTime(int clock, long* timespec);
}
