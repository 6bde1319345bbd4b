using System;
using System.Diagnostics;
using System.IO;
using System.Security.Cryptography;
using System.Text;

namespace Dsl.Tests.Cuda;

/// <summary>
/// Runs clang-14 on generated CUDA C: to PTX (the device compile, with the source's own prelude and no
/// CUDA SDK) and as C++ into a shared library for the CPU emulation. CI installs clang-14 (.ci/run);
/// without it these tests fail and say so rather than skip, since no GPU is needed to run them.
/// </summary>
internal static class CudaToolchain
{
    /// <summary>The PTX command line of the CI check (DESIGN.md, CONVENTIONS.md).</summary>
    public const string PtxArguments = "-x cuda --cuda-device-only -nocudainc -nocudalib --cuda-gpu-arch=sm_80 -Werror -S";

    private static readonly string s_directory = Path.Combine(Path.GetTempPath(), "dsl-cuda-checks");

    /// <summary>Compiles <paramref name="source"/> to PTX; returns the PTX text, or throws with the compiler's message.</summary>
    public static string CompileToPtx(string name, string source)
    {
        string dir = Directory.CreateDirectory(Path.Combine(s_directory, Hash(source))).FullName;
        string cu = Path.Combine(dir, name + ".cu"), ptx = Path.Combine(dir, name + ".ptx");
        File.WriteAllText(cu, source);
        Run(Compiler("clang-14"), $"{PtxArguments} -o \"{ptx}\" \"{cu}\"", $"PTX compile of {name}");
        return File.ReadAllText(ptx);
    }

    /// <summary>Compiles <paramref name="source"/> as C++ with the emulation header into a shared library
    /// (cached by the source's hash); returns its path.</summary>
    public static string CompileEmulation(string name, string source)
    {
        string header = Path.Combine(AppContext.BaseDirectory, "Cuda", "dsl_emulate.h");
        string dir = Directory.CreateDirectory(Path.Combine(s_directory, Hash(source + File.ReadAllText(header)))).FullName;
        string library = Path.Combine(dir, "lib" + name + ".so");
        if (File.Exists(library)) return library;
        string cu = Path.Combine(dir, name + ".cu");
        File.WriteAllText(cu, source);
        string partial = library + "." + Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture);
        Run(Compiler("clang++-14"), $"-x c++ -std=c++17 -O1 -shared -fPIC -pthread -Werror -DDSL_EMULATE -include \"{header}\" -o \"{partial}\" \"{cu}\"", $"emulation compile of {name}");
        File.Move(partial, library, overwrite: true);
        return library;
    }

    private static string Compiler(string name)
    {
        foreach (string dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator))
        {
            if (dir.Length > 0 && File.Exists(Path.Combine(dir, name))) return Path.Combine(dir, name);
        }

        throw new InvalidOperationException($"{name} is not on PATH: the CUDA checks need it (apt-get install clang-14; .ci/run installs it).");
    }

    private static void Run(string compiler, string arguments, string what)
    {
        var info = new ProcessStartInfo(compiler, arguments) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {compiler}");
        var stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"{what} failed (exit {process.ExitCode}): {compiler} {arguments}\n{stdout}{stderr.Result}");
    }

    private static string Hash(string text) => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..16];
}
