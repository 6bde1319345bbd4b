using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Text.Json;

namespace Dsl.Bench;

/// <summary>How PyTorch is started: with only its thread variables, or also with glibc's allocator told to keep
/// its buffers and idle OpenMP workers sleeping, which is much faster for training steps.</summary>
internal enum TorchSettings
{
    /// <summary>Only OMP/OPENBLAS/MKL_NUM_THREADS.</summary>
    Stock,

    /// <summary>Also MALLOC_MMAP_THRESHOLD_=1000000000 MALLOC_TRIM_THRESHOLD_=1000000000 OMP_WAIT_POLICY=PASSIVE.</summary>
    Tuned,
}

/// <summary>Runs one of the PyTorch scripts under bench/ (or this benchmark's own worker command in a fresh process)
/// and reads the JSON summary it prints as its last line; null (with the reason on stderr) when PyTorch is missing
/// or the run fails.</summary>
internal static class TorchProcess
{
    /// <summary>The environment of <see cref="TorchSettings.Tuned"/>.</summary>
    public static readonly (string Name, string Value)[] TunedEnvironment =
    [
        ("MALLOC_MMAP_THRESHOLD_", "1000000000"),
        ("MALLOC_TRIM_THRESHOLD_", "1000000000"),
        ("OMP_WAIT_POLICY", "PASSIVE"),
    ];

    public static double? RunForNumber(string python, string script, int threads, IEnumerable<string> arguments, string jsonProperty, TorchSettings settings = TorchSettings.Stock)
    {
        using JsonDocument? json = RunForJson(python, script, threads, arguments, settings);
        return json?.RootElement.GetProperty(jsonProperty).GetDouble();
    }

    /// <summary>Runs the script and parses the last line of its output as JSON.</summary>
    public static JsonDocument? RunForJson(string python, string script, int? threads, IEnumerable<string> arguments, TorchSettings settings = TorchSettings.Stock)
    {
        string? output = Run(python, script, threads, arguments, settings);
        return output is null ? null : LastJsonLine(output);
    }

    /// <summary>Runs this benchmark's own executable with <paramref name="arguments"/> (a worker command) in a fresh
    /// process, so each measurement has the process to itself (JIT, heap, peak memory) as PyTorch's runs do, and
    /// parses the last line of its output as JSON; the lines before it are echoed.</summary>
    public static JsonDocument? RunSelf(IEnumerable<string> arguments, bool echo = false)
    {
        string exe = Environment.ProcessPath ?? "dotnet";
        var info = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        string? entry = System.Reflection.Assembly.GetEntryAssembly()?.Location;
        if (Path.GetFileNameWithoutExtension(exe) == "dotnet" && entry is not null)
        {
            info.ArgumentList.Add(entry);
        }

        foreach (var a in arguments) info.ArgumentList.Add(a);
        string? output = Start(info, exe);
        if (output is null)
        {
            return null;
        }

        if (echo)
        {
            string[] lines = output.TrimEnd().Split('\n');
            for (int i = 0; i + 1 < lines.Length; i++) Console.WriteLine(lines[i]);
        }

        return LastJsonLine(output);
    }

    /// <summary>Runs the script and returns its standard output, or null (with the reason on stderr) when
    /// PyTorch is missing or the run fails. <paramref name="threads"/>, when given, caps every thread pool
    /// PyTorch may use.</summary>
    public static string? Run(string python, string script, int? threads, IEnumerable<string> arguments, TorchSettings settings = TorchSettings.Stock)
    {
        var info = new ProcessStartInfo(python) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (threads is int count)
        {
            // One thread count for every pool PyTorch may use (OpenMP, and OpenBLAS's own pthreads),
            // or the 1-thread run is not single-threaded and the 2-thread run oversubscribes.
            string n = count.ToString(CultureInfo.InvariantCulture);
            info.Environment["OMP_NUM_THREADS"] = n;
            info.Environment["OPENBLAS_NUM_THREADS"] = n;
            info.Environment["MKL_NUM_THREADS"] = n;
        }

        foreach (var (name, _) in TunedEnvironment)
        {
            info.Environment.Remove(name);
        }

        if (settings == TorchSettings.Tuned)
        {
            foreach (var (name, value) in TunedEnvironment)
            {
                info.Environment[name] = value;
            }
        }

        info.ArgumentList.Add(script);
        foreach (var a in arguments) info.ArgumentList.Add(a);
        return Start(info, python);
    }

    private static string? Start(ProcessStartInfo info, string program)
    {
        try
        {
            using var process = Process.Start(info)!;
            var error = process.StandardError.ReadToEndAsync();
            string output = process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            if (process.ExitCode != 0)
            {
                Console.Error.WriteLine($"Run failed ({program} {string.Join(' ', info.ArgumentList)}): {error.Result.Trim()}");
                return null;
            }

            return output;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            Console.Error.WriteLine($"Not available ({program}: {e.Message}); for PyTorch: sudo apt-get install -y python3-torch libopenblas0-pthread");
            return null;
        }
    }

    private static JsonDocument LastJsonLine(string output) => JsonDocument.Parse(output.Trim().Split('\n')[^1]);
}
