using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using Xunit;

namespace Dsl.Generators.Tests;

/// <summary>
/// Two console projects outside the repository, built with <c>dotnet build</c> against the generator and
/// analyzer assemblies this test project was built with, as a user's project references them. The
/// compiler does not run analyzers when a compilation has declaration errors, which only a real build
/// shows: project "Stops" holds the mistakes that are compiler declaration errors whatever the generator
/// writes (the generator reports their DSL ids itself), project "Runs" the ones the generator makes
/// compile (throwing stubs with the declared signatures) so that the analyzers report them.
/// </summary>
public sealed class CommandLineBuildFixture : IDisposable
{
    // Each case's line ends with "// DSL1xx": that is where the diagnostic must be, once.
    public const string Stops = """
        using Dsl;

        [Model(Batch = 8, Input = 20)]
        public class NotPartialModel // DSL101
        {
            [Dense(Out = 4)] public partial Tensor A(Tensor x);
            public Tensor Forward(Tensor x) => A(x);
        }

        [Module]
        public class NotPartialModule // DSL101
        {
            [Dense(Out = 4)] public partial Tensor A(Tensor x);
            public Tensor Forward(Tensor x) => A(x);
        }

        [Model(Batch = 8, Input = 20)]
        public partial class LayerWithoutAccessibility
        {
            [Dense(Out = 4)] partial Tensor A(Tensor x); // DSL103
            [Relu] public Tensor B(Tensor x); // DSL103
            public Tensor Forward(Tensor x) => x;
        }

        public static class Program { public static void Main() { } }
        """;

    public const string Runs = """
        using Dsl;

        [Model(Batch = 8, Input = 20)]
        public partial class TwoTensors
        {
            [Dense(Out = 4)] public partial Tensor A(Tensor x, Tensor y); // DSL103
            [Relu] public partial Tensor B(ref Tensor x); // DSL103
            public Tensor Forward(Tensor x) => x;
        }

        [Module]
        public partial class Inner
        {
            [Dense(Out = 20)] public partial Tensor Up(Tensor x);
            public Tensor Forward(Tensor x) => x + Up(x);
        }

        [Module]
        public partial class Outer
        {
            public partial Inner Nested { get; } // DSL108
            [Relu] public partial Tensor Act(Tensor x);
            public Tensor Forward(Tensor x) => Act(x);
        }

        [Model(Batch = 8, Input = 20)]
        public partial class StaticBlocks
        {
            [Repeat(2)] public static partial Inner[] Blocks { get; } // DSL110
            public Tensor Forward(Tensor x) { foreach (var b in Blocks) x = b.Forward(x); return x; }
        }

        [Model(Batch = 8, Input = 20)]
        public partial class PrivateBlocks
        {
            [Repeat(2)] partial Inner[] Blocks { get; }
            [Dense(Out = 4)] public partial Tensor Head(Tensor x);
            public Tensor Forward(Tensor x) { foreach (var b in Blocks) x = b.Forward(x); return Head(x); }
            [Loss] public Scalar Loss(Tensor x, Tensor y) => Ops.MeanSquaredError(Forward(x), y);
        }

        [Model(Batch = 8, Input = 20)]
        public partial class WrongTarget
        {
            [Dense(Out = 4)] public partial Tensor A(Tensor x);
            public Tensor Forward(Tensor x) => A(x);
            [Loss] public Scalar Loss(Tensor x, Labels y) => Ops.MeanSquaredError(Forward(x), y); // DSL107
        }

        [Model(Batch = 8, Input = 20)]
        public partial class Huge
        {
            [Dense(Out = 2147483647)] public partial Tensor A(Tensor x); // DSL210
            [Repeat(2147483647)] public partial Inner[] Blocks { get; } // DSL210
            public Tensor Forward(Tensor x) { foreach (var b in Blocks) x = b.Forward(x); return A(x); }
        }

        public static class Program
        {
            public static void Main()
            {
                var ok = new PrivateBlocks(seed: 1);
                System.GC.KeepAlive(ok.Compiled);
                System.Console.WriteLine(PrivateBlocks.ParameterCount);
            }
        }
        """;

    private readonly string _root = Path.Combine(Path.GetTempPath(), "dsl-cli-" + Guid.NewGuid().ToString("N"));

    public CommandLineBuildFixture()
    {
        Directory.CreateDirectory(_root);
        StopsOutput = Build("Stops", Stops);
        RunsOutput = Build("Runs", Runs);
    }

    public BuildOutput StopsOutput { get; }
    public BuildOutput RunsOutput { get; }

    private BuildOutput Build(string name, string source)
    {
        string dir = Path.Combine(_root, name);
        Directory.CreateDirectory(dir);
        string bin = AppContext.BaseDirectory;
        File.WriteAllText(Path.Combine(dir, name + ".csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <Nullable>enable</Nullable>
                <ImplicitUsings>disable</ImplicitUsings>
              </PropertyGroup>
              <ItemGroup>
                <Reference Include="{Path.Combine(bin, "Dsl.dll")}" />
                <Analyzer Include="{Path.Combine(bin, "Dsl.Generators.dll")}" />
                <Analyzer Include="{Path.Combine(bin, "Dsl.Analyzers.dll")}" />
              </ItemGroup>
            </Project>
            """);
        File.WriteAllText(Path.Combine(dir, "Program.cs"), source);

        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            WorkingDirectory = dir,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        // Each diagnostic once, in a log file (the console repeats them); no build servers are left behind.
        string log = Path.Combine(dir, "build.log");
        foreach (string arg in new[] { "build", "--disable-build-servers", "-nodeReuse:false", "-nologo", "-noConsoleLogger", "-fileLogger", $"-flp:LogFile={log};Verbosity=quiet;NoSummary" })
            start.ArgumentList.Add(arg);
        // The test host's MSBuild settings belong to the repository's build, not to this one.
        foreach (string key in start.Environment.Keys.Where(k => k.StartsWith("MSBUILD", StringComparison.OrdinalIgnoreCase)).ToList()) start.Environment.Remove(key);
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        if (!process.WaitForExit(300_000))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"dotnet build of {name} did not finish in 5 minutes:\n{stdout}");
        }

        return new BuildOutput(process.ExitCode, (File.Exists(log) ? File.ReadAllText(log) : "") + stdout + stderr.Result, source);
    }

    public void Dispose()
    {
        try { Directory.Delete(_root, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}

/// <summary>A build's exit code and its diagnostics, parsed from the console output.</summary>
public sealed class BuildOutput
{
    private static readonly Regex s_line = new(@"^(?<file>[^\s(][^(]*)\((?<line>\d+),(?<column>\d+)\): (?<severity>error|warning) (?<id>[A-Z]+\d+): (?<message>.*?)( \[[^\]]*\])?$", RegexOptions.Multiline);

    public BuildOutput(int exitCode, string text, string source)
    {
        ExitCode = exitCode;
        Text = text;
        Diagnostics = s_line.Matches(text).Select(m => new BuildDiagnostic(m.Groups["file"].Value.Trim(), int.Parse(m.Groups["line"].Value, System.Globalization.CultureInfo.InvariantCulture),
            m.Groups["severity"].Value, m.Groups["id"].Value, m.Groups["message"].Value)).ToList();
        var lines = source.Replace("\r\n", "\n").Split('\n');
        Expected = lines.Select((l, i) => (Line: i + 1, Match: Regex.Match(l, @"// (DSL\d+)\s*$"))).Where(t => t.Match.Success)
            .Select(t => (t.Match.Groups[1].Value, t.Line)).ToList();
    }

    public int ExitCode { get; }
    public string Text { get; }
    public List<BuildDiagnostic> Diagnostics { get; }
    /// <summary>(id, line) of each "// DSL…" marker in the source.</summary>
    public List<(string Id, int Line)> Expected { get; }
}

public sealed record BuildDiagnostic(string File, int Line, string Severity, string Id, string Message);

public sealed class CommandLineBuildTests : IClassFixture<CommandLineBuildFixture>
{
    private readonly CommandLineBuildFixture _fixture;

    public CommandLineBuildTests(CommandLineBuildFixture fixture) => _fixture = fixture;

    private static void EveryMarkedMistakeShowsItsIdOnce(BuildOutput build)
    {
        Assert.NotEqual(0, build.ExitCode);
        Assert.NotEmpty(build.Expected);
        foreach (var (id, line) in build.Expected)
        {
            var found = build.Diagnostics.Where(d => d.Id == id && d.Line == line && d.File.EndsWith("Program.cs", StringComparison.Ordinal)).ToList();
            Assert.True(found.Count == 1, $"{id} at line {line}: {found.Count} times\n{build.Text}");
        }

        // No DSL diagnostic where none was marked, and none twice (generator and analyzer both reporting).
        var dsl = build.Diagnostics.Where(d => d.Id.StartsWith("DSL", StringComparison.Ordinal) && d.Severity == "error").ToList();
        Assert.True(dsl.Count == build.Expected.Count, $"{dsl.Count} DSL diagnostics for {build.Expected.Count} marked: {string.Join(", ", build.Expected)}\n{build.Text}");
        // Nothing points into generated code.
        Assert.DoesNotContain(build.Diagnostics, d => d.File.Contains("Dsl.Generators.ModelGenerator", StringComparison.Ordinal) || d.File.EndsWith(".g.cs", StringComparison.Ordinal));
    }

    [Fact]
    public void Declaration_errors_of_the_compiler_come_with_their_dsl_ids()
    {
        var build = _fixture.StopsOutput;
        EveryMarkedMistakeShowsItsIdOnce(build);
        // The compiler's own errors are the unavoidable ones: partial members of a type that is not partial,
        // no accessibility on a partial method that returns a value, a body-less method that is not partial.
        Assert.All(build.Diagnostics.Where(d => d.Severity == "error" && !d.Id.StartsWith("DSL", StringComparison.Ordinal)),
            d => Assert.Contains(d.Id, new[] { "CS0751", "CS8795", "CS8796", "CS0501" }));
        Assert.Contains("'NotPartialModel' is marked [Model] but is not declared partial", build.Text);
        Assert.Contains("Layer member 'A' must be a partial method taking one Tensor and returning Tensor: it has no accessibility modifier", build.Text);
        Assert.Contains("Layer member 'B' must be a partial method taking one Tensor and returning Tensor: it is not declared partial", build.Text);
    }

    [Fact]
    public void Mistakes_the_generator_makes_compile_reach_the_analyzers()
    {
        var build = _fixture.RunsOutput;
        EveryMarkedMistakeShowsItsIdOnce(build);
        // The only other error is the user's own call that does not bind (DSL107 says why).
        Assert.All(build.Diagnostics.Where(d => d.Severity == "error" && !d.Id.StartsWith("DSL", StringComparison.Ordinal)), d => Assert.Equal("CS1503", d.Id));
        Assert.Contains("Layer member 'A' must be a partial method taking one Tensor and returning Tensor: it must have exactly one Tensor parameter (it has Tensor, Tensor)", build.Text);
        Assert.Contains("Member 'Nested' of module 'Outer' is a module; modules may contain layers only", build.Text);
        Assert.Contains("Module property 'Blocks' cannot be implemented by the generator: it is static", build.Text);
        Assert.Contains("the second argument of Ops.MeanSquaredError must be the loss method's Tensor parameter", build.Text);
        Assert.Contains("Layer 'A': Out is 2147483647, but the DSL's limit is 1048576 (2^20)", build.Text);
        Assert.Contains("[Repeat] on 'Blocks': the block count is 2147483647, but the DSL's limit is 1024 (2^10)", build.Text);
        // A private [Repeat] property is not a mistake: PrivateBlocks is generated in full (Main uses it).
        int first = Array.FindIndex(CommandLineBuildFixture.Runs.Split('\n'), l => l.Contains("class PrivateBlocks", StringComparison.Ordinal)) + 1;
        Assert.True(first > 0);
        Assert.DoesNotContain(build.Diagnostics, d => d.Line >= first - 1 && d.Line <= first + 7);
    }
}
