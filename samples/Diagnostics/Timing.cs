using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;

namespace Dsl.Diagnostics;

/// <summary>
/// Analyzer execution time as the compiler reports it (<c>LogAnalyzerExecutionTime</c>, read from
/// <see cref="AnalysisResult.AnalyzerTelemetryInfo"/>), on a fresh compilation per run, after the
/// generator. Two settings: "cold", where the analyzers are the first to ask for semantic models
/// (they pay for binding, as in an IDE's first pass), and "bound", where the compiler has already
/// bound the files (a command-line build reports the analyzers' own cost this way).
/// </summary>
internal static class Timing
{
    public static int Run(string[] args)
    {
        int runs = 30;
        var paths = new List<string>();
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == "--runs" && i + 1 < args.Length) runs = int.Parse(args[++i], CultureInfo.InvariantCulture);
            else paths.Add(args[i]);
        }

        if (paths.Count == 0) paths = LargestSample();
        var files = paths.Select(p => (Path.GetFullPath(p), File.ReadAllText(p))).ToList();
        Console.WriteLine($"files: {string.Join(", ", paths)} ({files.Sum(f => f.Item2.Length)} characters)");
        Console.WriteLine($"runs: {runs} after 5 warm-up runs; sequential analysis; times are medians (min) in milliseconds");

        foreach (bool bound in new[] { false, true })
        {
            var perAnalyzer = Runner.Analyzers.ToDictionary(a => a, _ => new List<double>());
            var wall = new List<double>();
            for (int run = -5; run < runs; run++)
            {
                var output = Runner.Generate(Runner.Compile(files));
                if (bound) output.GetDiagnostics();
                var withAnalyzers = output.WithAnalyzers(Runner.Analyzers, new CompilationWithAnalyzersOptions(
                    new AnalyzerOptions(ImmutableArray<AdditionalText>.Empty), onAnalyzerException: null,
                    concurrentAnalysis: false, logAnalyzerExecutionTime: true, reportSuppressedDiagnostics: false));
                var watch = Stopwatch.StartNew();
                var result = withAnalyzers.GetAnalysisResultAsync(CancellationToken.None).GetAwaiter().GetResult();
                watch.Stop();
                if (run < 0) continue;
                wall.Add(watch.Elapsed.TotalMilliseconds);
                foreach (var analyzer in Runner.Analyzers)
                    perAnalyzer[analyzer].Add(result.AnalyzerTelemetryInfo[analyzer].ExecutionTime.TotalMilliseconds);
            }

            Console.WriteLine(bound ? "bound (compiler bound the files first):" : "cold (analyzers bind first):");
            foreach (var (analyzer, times) in perAnalyzer)
                Console.WriteLine($"  {analyzer.GetType().Name,-20} {Median(times),8:F3} ({times.Min():F3})");
            Console.WriteLine($"  {"GetAnalysisResult",-20} {Median(wall),8:F3} ({wall.Min():F3})  wall clock, all analyzers");
        }

        return 0;
    }

    private static double Median(List<double> values)
    {
        var sorted = values.OrderBy(v => v).ToList();
        return sorted[sorted.Count / 2];
    }

    /// <summary>The model files of the sample with the most model source (samples/*/*.cs with [Model] or [Module]).</summary>
    private static List<string> LargestSample()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Dsl.sln"))) dir = dir.Parent;
        if (dir is null) throw new InvalidOperationException("run from the repository, or name the files to time");
        var declaresModel = new Regex(@"^\s*\[(Model|Module)\b", RegexOptions.Multiline);
        return Directory.GetDirectories(Path.Combine(dir.FullName, "samples"))
            .Where(d => Path.GetFileName(d) != "Diagnostics") // this tool; its cases are deliberately broken
            .Select(d => Directory.GetFiles(d, "*.cs").Where(f => declaresModel.IsMatch(File.ReadAllText(f))).OrderBy(f => f, StringComparer.Ordinal).ToList())
            .Where(g => g.Count > 0)
            .OrderByDescending(g => g.Sum(f => new FileInfo(f).Length))
            .First()
            .Select(f => Path.GetRelativePath(Directory.GetCurrentDirectory(), f))
            .ToList();
    }
}
