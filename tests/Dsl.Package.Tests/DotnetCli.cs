using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Text;

namespace Dsl.Package.Tests;

/// <summary>Runs the dotnet CLI as a user would, without build servers (nothing is left running
/// after a test) and with telemetry and the first-run banner off.</summary>
internal static class DotnetCli
{
    /// <summary>The result of one command: exit code and the interleaved output.</summary>
    internal readonly record struct Result(int ExitCode, string Output, string CommandLine)
    {
        /// <summary>Throws with the command and its whole output unless it succeeded.</summary>
        public Result Check() => ExitCode == 0 ? this : throw new InvalidOperationException($"`{CommandLine}` exited with {ExitCode}:\n{Output}");
    }

    /// <summary>Runs <c>dotnet</c> with <paramref name="arguments"/> in <paramref name="directory"/>.</summary>
    public static Result Run(string directory, IReadOnlyDictionary<string, string>? environment, TimeSpan timeout, params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string argument in arguments) start.ArgumentList.Add(argument);
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        start.Environment["DOTNET_SKIP_FIRST_TIME_EXPERIENCE"] = "1";
        start.Environment["MSBUILDDISABLENODEREUSE"] = "1";
        start.Environment["DOTNET_CLI_UI_LANGUAGE"] = "en";
        // The test host's own variables would make a child build think it runs under the test platform.
        start.Environment.Remove("VSTEST_HOST_DEBUG");
        if (environment is not null)
        {
            foreach (var (key, value) in environment) start.Environment[key] = value;
        }

        var output = new StringBuilder();
        using var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        string commandLine = "dotnet " + string.Join(' ', arguments);
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
            return new Result(-1, $"timed out after {timeout.TotalSeconds:F0} s\n{output}", commandLine);
        }

        process.WaitForExit();
        return new Result(process.ExitCode, output.ToString(), commandLine);
    }

    /// <summary>The repository root: the folder above the test assembly that holds Dsl.sln.</summary>
    public static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Dsl.sln"))) return dir.FullName;
        }

        throw new InvalidOperationException($"no Dsl.sln above {AppContext.BaseDirectory}");
    }
}
