using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace Dsl.Bench;

/// <summary>Runs one of the PyTorch scripts under bench/ and reads a number from the JSON summary it
/// prints as its last line; null (with the reason on stderr) when PyTorch is missing or the run fails.</summary>
internal static class TorchProcess
{
    public static double? RunForNumber(string python, string script, int threads, IEnumerable<string> arguments, string jsonProperty)
    {
        string? output = Run(python, script, threads, arguments);
        if (output is null)
        {
            return null;
        }

        using var json = JsonDocument.Parse(output.Trim().Split('\n')[^1]);
        return json.RootElement.GetProperty(jsonProperty).GetDouble();
    }

    /// <summary>Runs the script and returns its standard output, or null (with the reason on stderr) when
    /// PyTorch is missing or the run fails. <paramref name="threads"/>, when given, caps every thread pool
    /// PyTorch may use.</summary>
    public static string? Run(string python, string script, int? threads, IEnumerable<string> arguments)
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

        info.ArgumentList.Add(script);
        foreach (var a in arguments) info.ArgumentList.Add(a);
        try
        {
            using var process = Process.Start(info)!;
            var error = process.StandardError.ReadToEndAsync();
            string output = process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            if (process.ExitCode != 0)
            {
                Console.Error.WriteLine($"PyTorch run failed ({python} {script}): {error.Result.Trim()}");
                return null;
            }

            return output;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            Console.Error.WriteLine($"PyTorch not available ({python}: {e.Message}); install it with: sudo apt-get install -y python3-torch libopenblas0-pthread");
            return null;
        }
    }
}
