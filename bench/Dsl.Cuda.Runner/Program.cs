using System;
using System.Globalization;
using System.IO;
using Dsl.Cuda.Interop;

namespace Dsl.Cuda.Runner;

/// <summary>
/// The GPU checks in one self-contained executable: <c>parity</c> compares the generated CUDA program with the CPU
/// engine for the MLP and CharGpt models, <c>time</c> times their training steps on the GPU next to PyTorch on the
/// same GPU. Exit codes: <see cref="Ok"/>, <see cref="Failed"/>, <see cref="Usage"/>, <see cref="NoGpu"/>, <see cref="Error"/>.
/// </summary>
public static class RunnerProgram
{
    /// <summary>Everything ran and (parity) every group passed.</summary>
    public const int Ok = 0;

    /// <summary>Parity: at least one tensor group exceeded the tolerance.</summary>
    public const int Failed = 1;

    /// <summary>Unknown subcommand or option.</summary>
    public const int Usage = 2;

    /// <summary>No usable GPU (driver, device, NVRTC or cuBLAS missing); the message says what.</summary>
    public const int NoGpu = 3;

    /// <summary>Any other error (a CUDA call failed, PyTorch could not run in <c>time</c>, ...).</summary>
    public const int Error = 4;

    private const string Help = """
        usage: Dsl.Cuda.Runner parity [--steps N] [--model mlp|chargpt|all] [--no-cublaslt]
               Dsl.Cuda.Runner time [--steps N] [--warmup N] [--model mlp|chargpt|all] [--python PATH] [--no-torch] [--no-cublaslt]
          parity  GPU vs CPU engine (Engine<float>): output, loss, every gradient, N AdamW steps (default 10);
                  max relative error per group, PASS/FAIL at 1e-4; exit 1 on FAIL.
          time    median ms per training step on the GPU (default 50 steps after 10 warm-up) and PyTorch eager on
                  the same GPU (TF32 off) through PATH (default python3), with the ratio.
          --no-cublaslt   every product through cublasSgemm and the separate bias/activation kernels (the fallback
                          path), instead of cuBLASLt's fused bias/GELU epilogues; each model prints the path it ran.
        exit codes: 0 ok, 1 parity failed, 2 usage, 3 no usable GPU, 4 other error.
        """;

    /// <summary>The process entry point.</summary>
    public static int Main(string[] args) => Run(args, Console.Out, Console.Error);

    /// <summary>Runs a subcommand, writing its report to <paramref name="output"/> and errors to <paramref name="error"/>;
    /// returns the exit code.</summary>
    public static int Run(string[] args, TextWriter output, TextWriter error)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(error);
        if (args.Length == 0 || args[0] is not ("parity" or "time"))
        {
            error.WriteLine(args.Length == 0 ? "no subcommand." : $"unknown subcommand '{args[0]}'.");
            error.Write(Help);
            return Usage;
        }

        var options = new Options();
        for (int i = 1; i < args.Length; i++)
        {
            string option = args[i];
            string? value = i + 1 < args.Length ? args[i + 1] : null;
            bool ok = option switch
            {
                "--steps" => TryCount(value, out options.Steps) && ++i > 0,
                "--warmup" => TryCount(value, out options.Warmup) && ++i > 0,
                "--model" => value is "mlp" or "chargpt" or "all" && (options.Model = value) is not null && ++i > 0,
                "--python" => value is not null && (options.Python = value) is not null && ++i > 0,
                "--no-torch" => true,
                "--no-cublaslt" => true,
                _ => false,
            };
            if (option == "--no-torch") options.Torch = false;
            if (option == "--no-cublaslt") options.CublasLt = false;
            if (!ok)
            {
                error.WriteLine($"bad option '{option}'{(value is null ? "" : $" (value '{value}')")}.");
                error.Write(Help);
                return Usage;
            }
        }

        if (args[0] == "parity" && !options.StepsGiven(args)) options.Steps = 10;
        try
        {
            CudaSession.RequireAvailable();
            string? tf32 = Environment.GetEnvironmentVariable("NVIDIA_TF32_OVERRIDE");
            if (!string.IsNullOrEmpty(tf32) && tf32 != "0")
                error.WriteLine($"warning: NVIDIA_TF32_OVERRIDE={tf32} is set; unset it (or set 0) so FP32 products stay FP32.");
            return args[0] == "parity" ? Parity.Run(options, output) : Timing.Run(options, output, error);
        }
        catch (CudaUnavailableException e)
        {
            error.WriteLine($"no usable GPU: {e.Message}");
            return NoGpu;
        }
        catch (Exception e) when (e is CudaException or NotSupportedException or IOException)
        {
            error.WriteLine($"error: {e.Message}");
            return Error;
        }
    }

    private static bool TryCount(string? value, out int count) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out count) && count > 0;
}

/// <summary>The parsed options of a subcommand.</summary>
internal sealed class Options
{
    /// <summary>Parity: AdamW steps (default 10); time: timed steps (default 50).</summary>
    public int Steps = 50;

    /// <summary>Time: warm-up steps left out of the median.</summary>
    public int Warmup = 10;

    /// <summary>mlp, chargpt or all.</summary>
    public string Model = "all";

    /// <summary>The Python that runs the PyTorch scripts.</summary>
    public string Python = "python3";

    /// <summary>Time: run the PyTorch side.</summary>
    public bool Torch = true;

    /// <summary>Fused products through cuBLASLt (false: <c>--no-cublaslt</c>, the cublasSgemm fallback path).</summary>
    public bool CublasLt = true;

    /// <summary>The line saying which matmul path <paramref name="session"/> runs, and any product it could not fuse.</summary>
    public static string MatmulPath(CudaSession session) =>
        session.MatmulPath == CudaMatmulPath.CublasLt
            ? "  matmul path: cuBLASLt (bias/GELU epilogues fused)" + (session.UnfusedProducts.Count == 0 ? "" : "; not fused: " + string.Join("; ", session.UnfusedProducts))
            : $"  matmul path: cublasSgemm + epilogue kernels ({session.MatmulPathReason})";

    /// <summary>Whether <c>--steps</c> appears in <paramref name="args"/>.</summary>
    public bool StepsGiven(string[] args) => Array.IndexOf(args, "--steps") > 0;

    /// <summary>The cases selected by <see cref="Model"/>.</summary>
    public bool Includes(string model) => Model == "all" || Model == model;
}
