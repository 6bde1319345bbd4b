using System;
using System.Diagnostics;
using System.Linq;
using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Dsl.Bench;

/// <summary>
/// System.Numerics.Tensors' TensorPrimitives against the hand-written Vector256 loops Dsl.Kernels.Elementwise
/// had before it called TensorPrimitives (copied here as they were, so the comparison stays side by side): y = a + b,
/// y = s·x and y += s·x (fused), in float and double, at sizes from L1 to beyond L3, one thread. Rounds
/// interleave the two, each round times enough repetitions for about 2 ms, and the table shows the medians
/// and the ratio. Every pair of results is checked bit for bit.
/// </summary>
internal static class TensorPrimitivesBench
{
    private static readonly int[] s_sizes = [1 << 10, 1 << 15, 1 << 18, 1 << 21];

    public static int Run(ReadOnlySpan<string> args)
    {
        int rounds = 15;
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == "--rounds" && i + 1 < args.Length) rounds = int.Parse(args[++i], System.Globalization.CultureInfo.InvariantCulture);
        }

        Console.WriteLine($"TensorPrimitives vs hand-written Vector256 loops, 1 thread, median of {rounds} interleaved rounds (ns per element, the best round in brackets; ratio < 1: TensorPrimitives faster)");
        Console.WriteLine($"Vector256 accelerated: {Vector256.IsHardwareAccelerated}; Vector512 accelerated: {Vector512.IsHardwareAccelerated}; load average {LoadAverage()}");
        Console.WriteLine();
        Console.WriteLine("| op | type | elements | hand-written ns/elt | TensorPrimitives ns/elt | ratio |");
        Console.WriteLine("|---|---|---:|---:|---:|---:|");
        Table<float>(rounds);
        Table<double>(rounds);
        Console.WriteLine();
        Console.WriteLine($"load average after: {LoadAverage()}");
        return 0;
    }

    private static void Table<T>(int rounds) where T : unmanaged, IFloatingPointIeee754<T>
    {
        foreach (int n in s_sizes)
        {
            var a = new T[n];
            var b = new T[n];
            var y1 = new T[n];
            var y2 = new T[n];
            var random = new Random(n);
            for (int i = 0; i < n; i++)
            {
                a[i] = T.CreateTruncating(random.NextDouble() - 0.5);
                b[i] = T.CreateTruncating(random.NextDouble() - 0.5);
            }

            T s = T.CreateTruncating(0.37);
            string type = typeof(T) == typeof(float) ? "float" : "double";
            Row(type, n, "y = a + b", rounds, () => HandAdd<T>(a, b, y1), () => TensorPrimitives.Add<T>(a, b, y2), y1, y2, reset: null);
            Row(type, n, "y = s·x", rounds, () => HandScale<T>(a, s, y1), () => TensorPrimitives.Multiply<T>(a, s, y2), y1, y2, reset: null);
            // y += s·x accumulates: both start from b, and the comparison is made after equal numbers of calls.
            Row(type, n, "y += s·x", rounds, () => HandScaleAdd<T>(a, s, y1), () => TensorPrimitives.FusedMultiplyAdd<T>(a, s, y2, y2), y1, y2,
                reset: () => { b.CopyTo(y1, 0); b.CopyTo(y2, 0); });
        }
    }

    private static void Row<T>(string type, int n, string op, int rounds, Action hand, Action primitives, T[] y1, T[] y2, Action? reset)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        reset?.Invoke();
        hand();
        primitives();
        if (!y1.AsSpan().SequenceEqual(y2)) throw new InvalidOperationException($"{op} {type} {n}: TensorPrimitives' result differs from the hand-written loop's");

        int reps = Math.Max(1, (int)(2_000_000 / Math.Max(1, n)));
        for (int i = 0; i < 20; i++)
        {
            hand();
            primitives();
        }

        var handTimes = new double[rounds];
        var primitiveTimes = new double[rounds];
        for (int r = 0; r < rounds; r++)
        {
            // Alternate which goes first, so neither always sees a warm or cold cache after the other.
            if (r % 2 == 0)
            {
                handTimes[r] = Time(hand, reps, n);
                primitiveTimes[r] = Time(primitives, reps, n);
            }
            else
            {
                primitiveTimes[r] = Time(primitives, reps, n);
                handTimes[r] = Time(hand, reps, n);
            }
        }

        double h = Median(handTimes), p = Median(primitiveTimes), hMin = handTimes.Min(), pMin = primitiveTimes.Min();
        Console.WriteLine($"| {op} | {type} | {n:N0} | {h:F3} ({hMin:F3}) | {p:F3} ({pMin:F3}) | {p / h:F2} ({pMin / hMin:F2}) |");
    }

    private static double Time(Action action, int reps, int n)
    {
        long start = Stopwatch.GetTimestamp();
        for (int i = 0; i < reps; i++) action();
        return Stopwatch.GetElapsedTime(start).TotalNanoseconds / ((double)reps * n);
    }

    private static double Median(double[] values)
    {
        var sorted = (double[])values.Clone();
        Array.Sort(sorted);
        return sorted[sorted.Length / 2];
    }

    private static string LoadAverage()
    {
        try
        {
            return string.Join(" ", System.IO.File.ReadAllText("/proc/loadavg").Split(' ')[..3]);
        }
        catch (System.IO.IOException)
        {
            return "unknown";
        }
    }

    // The loops Dsl.Kernels.Elementwise ran before it called TensorPrimitives.

    private static void HandAdd<T>(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ref T ar = ref MemoryMarshal.GetReference(a);
        ref T br = ref MemoryMarshal.GetReference(b);
        ref T yr = ref MemoryMarshal.GetReference(y);
        nuint n = (nuint)a.Length, i = 0;
        if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported)
        {
            nuint width = (nuint)Vector256<T>.Count;
            for (; i + width <= n; i += width) (Vector256.LoadUnsafe(ref ar, i) + Vector256.LoadUnsafe(ref br, i)).StoreUnsafe(ref yr, i);
        }

        for (; i < n; i++) Unsafe.Add(ref yr, i) = Unsafe.Add(ref ar, i) + Unsafe.Add(ref br, i);
    }

    private static void HandScale<T>(ReadOnlySpan<T> x, T s, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ref T xr = ref MemoryMarshal.GetReference(x);
        ref T yr = ref MemoryMarshal.GetReference(y);
        nuint n = (nuint)x.Length, i = 0;
        if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported)
        {
            nuint width = (nuint)Vector256<T>.Count;
            var sv = Vector256.Create(s);
            for (; i + width <= n; i += width) (Vector256.LoadUnsafe(ref xr, i) * sv).StoreUnsafe(ref yr, i);
        }

        for (; i < n; i++) Unsafe.Add(ref yr, i) = Unsafe.Add(ref xr, i) * s;
    }

    private static void HandScaleAdd<T>(ReadOnlySpan<T> x, T s, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ref T xr = ref MemoryMarshal.GetReference(x);
        ref T yr = ref MemoryMarshal.GetReference(y);
        nuint n = (nuint)x.Length, i = 0;
        if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported)
        {
            nuint width = (nuint)Vector256<T>.Count;
            var sv = Vector256.Create(s);
            for (; i + width <= n; i += width) Fma(Vector256.LoadUnsafe(ref xr, i), sv, Vector256.LoadUnsafe(ref yr, i)).StoreUnsafe(ref yr, i);
        }

        for (; i < n; i++) Unsafe.Add(ref yr, i) = T.FusedMultiplyAdd(Unsafe.Add(ref xr, i), s, Unsafe.Add(ref yr, i));
    }

    /// <summary>Dsl.Kernels.SimdMath.Fma as it is (internal there).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<T> Fma<T>(Vector256<T> a, Vector256<T> b, Vector256<T> c) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float)) return Vector256.FusedMultiplyAdd(a.AsSingle(), b.AsSingle(), c.AsSingle()).As<float, T>();
        if (typeof(T) == typeof(double)) return Vector256.FusedMultiplyAdd(a.AsDouble(), b.AsDouble(), c.AsDouble()).As<double, T>();
        return (a * b) + c;
    }
}
