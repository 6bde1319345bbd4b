using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using Xunit;

namespace Dsl.Package.Tests;

/// <summary>The dotnet new templates as a user gets them: installed from the packed Dsl.Templates into a
/// private template hive (the user's own templates are untouched), instantiated outside the
/// repository, built against the packed Dsl and Dsl.Training, and run through their own smoke test.</summary>
[Collection(PackedCollection.Name)]
public sealed class TemplateTests
{
    private static readonly TimeSpan Minutes8 = TimeSpan.FromMinutes(8);
    private readonly PackedPackages _packed;

    public TemplateTests(PackedPackages packed) => _packed = packed;

    [Theory]
    [InlineData("dsl-mlp", "MyClassifier")]
    [InlineData("dsl-gpt", "MyGpt")]
    public void A_template_project_builds_trains_and_passes_its_smoke_test(string template, string name)
    {
        string hive = _packed.Hive();
        string folder = _packed.NewFolder(template);
        DotnetCli.Run(folder, null, Minutes8, "new", template, "-n", name, "-o", name, "--debug:custom-hive", hive).Check();
        string project = Path.Combine(folder, name);
        Assert.True(File.Exists(Path.Combine(project, name + ".csproj")), string.Join(", ", Directory.GetFiles(project)));
        string csproj = File.ReadAllText(Path.Combine(project, name + ".csproj"));
        Assert.Contains($"Include=\"Dsl\" Version=\"{_packed.Version}\"", csproj);

        var run = DotnetCli.Run(project, null, Minutes8, "run", "-c", "Release", "--disable-build-servers", "--", "--smoke", "--out", "runs/smoke").Check();
        Assert.Contains("smoke test passed", run.Output);
        string runs = Path.Combine(project, "runs", "smoke");
        Assert.True(File.Exists(Path.Combine(runs, "metrics.jsonl")), run.Output);
        Assert.StartsWith("<svg", File.ReadAllText(Path.Combine(runs, "loss.svg")));
        var kinds = File.ReadAllLines(Path.Combine(runs, "metrics.jsonl")).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("kind").GetString()).ToHashSet();
        Assert.Superset(new HashSet<string?> { "run", "train", "eval" }, kinds);
    }

    [Fact]
    public void The_templates_default_package_version_is_the_packed_version()
    {
        foreach (string template in new[] { "dsl-mlp", "dsl-gpt" })
        {
            string json = File.ReadAllText(Path.Combine(_packed.Repository, "templates", "content", template, ".template.config", "template.json"));
            var version = JsonDocument.Parse(json).RootElement.GetProperty("symbols").GetProperty("DslVersion").GetProperty("defaultValue").GetString();
            Assert.Equal(_packed.Version, version);
        }
    }
}
