using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text.Json;

namespace Dsl.Bench;

/// <summary>
/// One comparison table: Dsl and PyTorch (stock and tuned environment) at 1 and 2 threads, each cell a fresh
/// process, measured in rounds that interleave the cells (so a burst of load from other jobs hits every cell
/// alike); a cell's figure is its best round's median. Prints the table with the ratio against PyTorch's best
/// cell per thread count and, as the headline, Dsl's best cell against PyTorch's best cell overall.
/// </summary>
internal sealed class SideBySide
{
    private static readonly int[] s_threads = [1, 2];

    private readonly string _title;
    private readonly Func<int, JsonDocument?> _dsl;
    private readonly Func<int, TorchSettings, JsonDocument?> _torch;
    private readonly Dictionary<string, List<double>> _samples = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _peakRss = new(StringComparer.Ordinal);
    private long _arenaBytes = -1;

    /// <param name="title">What a cell measures.</param>
    /// <param name="dsl">Runs the Dsl side at a thread count; JSON with median_ms, peak_rss_kib, arena_bytes.</param>
    /// <param name="torch">Runs the PyTorch side; JSON with median_ms and peak_rss_kib.</param>
    public SideBySide(string title, Func<int, JsonDocument?> dsl, Func<int, TorchSettings, JsonDocument?> torch)
    {
        _title = title;
        _dsl = dsl;
        _torch = torch;
    }

    /// <summary>The headline ratio (PyTorch's best ms over Dsl's best ms) of the last <see cref="Run"/>, NaN if a side failed.</summary>
    public double Headline { get; private set; } = double.NaN;

    /// <summary>Measures every cell <paramref name="rounds"/> times, interleaved, and prints the table.</summary>
    public void Run(int rounds)
    {
        string loadBefore = Machine.LoadAverage();
        for (int round = 0; round < rounds; round++)
        {
            foreach (int threads in s_threads)
            {
                Record(Key("Dsl", threads), _dsl(threads));
                Record(Key("stock", threads), _torch(threads, TorchSettings.Stock));
                Record(Key("tuned", threads), _torch(threads, TorchSettings.Tuned));
            }
        }

        Print(rounds, loadBefore, Machine.LoadAverage());
    }

    private static string Key(string side, int threads) => side + threads.ToString(CultureInfo.InvariantCulture);

    private void Record(string key, JsonDocument? json)
    {
        if (json is null)
        {
            return;
        }

        using (json)
        {
            JsonElement root = json.RootElement;
            if (!_samples.TryGetValue(key, out var list))
            {
                _samples[key] = list = new List<double>();
            }

            list.Add(root.GetProperty("median_ms").GetDouble());
            if (root.TryGetProperty("peak_rss_kib", out var rss))
            {
                _peakRss[key] = Math.Max(_peakRss.GetValueOrDefault(key), rss.GetInt64());
            }

            if (root.TryGetProperty("arena_bytes", out var arena))
            {
                _arenaBytes = arena.GetInt64();
            }
        }
    }

    private double Best(string key) => _samples.TryGetValue(key, out var list) && list.Count > 0 ? list.Min() : double.NaN;

    private string Spread(string key) => _samples.TryGetValue(key, out var list) && list.Count > 1
        ? string.Format(CultureInfo.InvariantCulture, "{0:F2}–{1:F2}", list.Min(), list.Max())
        : "";

    private void Print(int rounds, string loadBefore, string loadAfter)
    {
        var c = CultureInfo.InvariantCulture;
        Console.WriteLine();
        Console.WriteLine(_title);
        Console.WriteLine($"  median ms per cell, best of {rounds} interleaved round(s), each cell a fresh process; load average {loadBefore} before, {loadAfter} after");
        Console.WriteLine(string.Format(c, "  {0,7} {1,9} {2,12} {3,12} {4,12} {5,14}   {6}", "threads", "Dsl", "torch stock", "torch tuned", "torch best", "torch best/Dsl", "Dsl range over rounds"));
        foreach (int t in s_threads)
        {
            double ours = Best(Key("Dsl", t)), stock = Best(Key("stock", t)), tuned = Best(Key("tuned", t));
            double torchBest = Math.Min(Nan(stock), Nan(tuned));
            Console.WriteLine(string.Format(
                c, "  {0,7} {1,9:F3} {2,12:F3} {3,12:F3} {4,12:F3} {5,13:F2}×   {6}",
                t, ours, stock, tuned, torchBest, torchBest / ours, Spread(Key("Dsl", t))));
        }

        var dsl = s_threads.Select(t => (Threads: t, Ms: Best(Key("Dsl", t)))).Where(x => !double.IsNaN(x.Ms)).OrderBy(x => x.Ms).FirstOrDefault();
        var torch = s_threads.SelectMany(t => new[] { (Threads: t, Env: "stock", Ms: Best(Key("stock", t))), (Threads: t, Env: "tuned", Ms: Best(Key("tuned", t))) })
            .Where(x => !double.IsNaN(x.Ms)).OrderBy(x => x.Ms).FirstOrDefault();
        if (dsl.Ms > 0 && torch.Ms > 0)
        {
            Headline = torch.Ms / dsl.Ms;
            Console.WriteLine(string.Format(
                c, "  headline: Dsl best {0:F3} ms ({1} thr) vs PyTorch best {2:F3} ms ({3}, {4} thr): {5:F2}× (PyTorch's best cell over Dsl's best)",
                dsl.Ms, dsl.Threads, torch.Ms, torch.Env, torch.Threads, Headline));
        }
        else
        {
            Headline = double.NaN;
            Console.WriteLine("  headline: n/a (a side did not run)");
        }

        string Rss(string side) => string.Join(", ", s_threads.Select(t => _peakRss.TryGetValue(Key(side, t), out long kib) ? string.Format(c, "{0:F0} MiB ({1} thr)", kib / 1024.0, t) : "n/a"));
        Console.WriteLine($"  peak RSS: Dsl {Rss("Dsl")}{(_arenaBytes >= 0 ? string.Format(c, ", arena {0:F1} MiB", _arenaBytes / 1048576.0) : "")}; torch stock {Rss("stock")}; torch tuned {Rss("tuned")}");
    }

    private static double Nan(double x) => double.IsNaN(x) ? double.PositiveInfinity : x;
}
