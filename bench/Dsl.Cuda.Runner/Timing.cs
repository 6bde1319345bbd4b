using System;
using System.Collections.Generic;
using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Text.Json;

namespace Dsl.Cuda.Runner;

/// <summary>
/// Median milliseconds per training step (forward, loss, backward, gradient norm with clipping, AdamW) on the GPU,
/// each step ended by a device-to-host copy (which waits for the device), next to the same model in PyTorch eager on
/// the same GPU with TF32 off (bench/torch_mlp.py and bench/torch_chargpt.py with <c>--device cuda</c>, found in the
/// <c>torch</c> folder next to this executable).
/// </summary>
internal static class Timing
{
    /// <summary>Times the selected models; <see cref="RunnerProgram.Error"/> when a PyTorch run fails.</summary>
    public static int Run(Options options, TextWriter output, TextWriter error)
    {
        bool ok = true;
        output.WriteLine($"median ms per training step, {options.Steps} steps after {options.Warmup} warm-up, each synchronised; PyTorch eager, TF32 off");
        if (options.Includes("mlp"))
        {
            double dsl = TimeGpu(new MlpCase(seed: 1), options, output);
            string[] torchArgs = ["--device", "cuda", "--batch", "128", "--steps", Int(options.Steps), "--warmup", Int(options.Warmup)];
            ok &= Print(output, error, "mlp", dsl, options, "torch_mlp.py", torchArgs, "median_ms");
        }

        if (options.Includes("chargpt"))
        {
            double dsl = TimeGpu(new GptCase(seed: 1337), options, output);
            string[] torchArgs =
            [
                "--device", "cuda", "--synthetic", "200000", "--iters", Int(options.Warmup + options.Steps), "--timing-warmup", Int(options.Warmup),
                "--eval-interval", "1000000000", "--eval-iters", "1", "--log-interval", "1000000000",
            ];
            ok &= Print(output, error, "chargpt", dsl, options, "torch_chargpt.py", torchArgs, "median_iter_ms");
        }

        return ok ? RunnerProgram.Ok : RunnerProgram.Error;
    }

    private static string Int(int value) => value.ToString(CultureInfo.InvariantCulture);

    private static double TimeGpu(ModelCase c, Options options, TextWriter output)
    {
        using var session = CudaSession.Open(c.Program, c.Arena, useCublasLt: options.CublasLt);
        output.WriteLine($"{c.Name}:{Options.MatmulPath(session)[1..]}");
        c.Stage(session);
        var adamW = c.NewAdamW();
        float[] sync = new float[1];
        double[] times = new double[options.Steps];
        for (int step = 0; step < options.Warmup + options.Steps; step++)
        {
            long start = Stopwatch.GetTimestamp();
            session.TrainingPass(c.Rows, c.Batch, c.Seed, (ulong)step);
            var args = CudaArgs.ForAdamW(adamW, step + 1);
            session.Run(c.Program.GradientNorm, args);
            session.Run(c.Program.AdamW, args);
            session.Download(sync, 0);
            double ms = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            if (step >= options.Warmup) times[step - options.Warmup] = ms;
        }

        Array.Sort(times);
        int n = times.Length;
        return n % 2 == 1 ? times[n / 2] : (times[(n / 2) - 1] + times[n / 2]) / 2;
    }

    private static bool Print(TextWriter output, TextWriter error, string model, double dsl, Options options, string script, string[] arguments, string property)
    {
        string line = string.Create(CultureInfo.InvariantCulture, $"  {model,-8} DSL CUDA {dsl,9:f3} ms");
        if (!options.Torch)
        {
            output.WriteLine(line);
            return true;
        }

        double? torch = RunTorch(options.Python, Path.Combine(AppContext.BaseDirectory, "torch", script), arguments, property, error, out string version);
        if (torch is not { } t)
        {
            output.WriteLine(line + "   PyTorch: failed (see stderr)");
            return false;
        }

        output.WriteLine(line + string.Create(CultureInfo.InvariantCulture, $"   PyTorch {version} {t,9:f3} ms   DSL/PyTorch {dsl / t:f2}x"));
        return true;
    }

    private static double? RunTorch(string python, string script, IEnumerable<string> arguments, string property, TextWriter error, out string version)
    {
        version = "?";
        if (!File.Exists(script))
        {
            error.WriteLine($"PyTorch script not found: {script} (it is copied next to the executable on publish).");
            return null;
        }

        var info = new ProcessStartInfo(python) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(script);
        foreach (string a in arguments) info.ArgumentList.Add(a);
        try
        {
            using var process = Process.Start(info)!;
            var stderr = process.StandardError.ReadToEndAsync();
            string stdout = process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            if (process.ExitCode != 0)
            {
                error.WriteLine($"{python} {Path.GetFileName(script)} exited with {process.ExitCode}: {stderr.Result.Trim()}");
                return null;
            }

            string last = stdout.Trim().Split('\n')[^1];
            using var json = JsonDocument.Parse(last);
            if (json.RootElement.TryGetProperty("torch", out var v)) version = v.GetString() ?? "?";
            return json.RootElement.GetProperty(property).GetDouble();
        }
        catch (Win32Exception e)
        {
            error.WriteLine($"cannot start {python} ({e.Message}); pass --python PATH to a Python with PyTorch, or --no-torch.");
            return null;
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException)
        {
            error.WriteLine($"{python} {Path.GetFileName(script)} did not end with its JSON summary: {e.Message}");
            return null;
        }
    }
}
