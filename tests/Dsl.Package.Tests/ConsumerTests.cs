using System;
using System.IO;
using System.IO.Compression;
using System.Linq;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using Xunit;

namespace Dsl.Package.Tests;

/// <summary>The Dsl package used as the README tells a newcomer: `dotnet add package Dsl` in a fresh
/// console project outside the repository, offline.</summary>
[Collection(PackedCollection.Name)]
public sealed class ConsumerTests
{
    private static readonly TimeSpan Minutes5 = TimeSpan.FromMinutes(5);
    private readonly PackedPackages _packed;

    public ConsumerTests(PackedPackages packed) => _packed = packed;

    [Fact]
    public void Packing_the_solution_gives_the_shipping_packages_and_nothing_else()
    {
        var expected = PackedPackages.ShippingIds.Select(id => $"{id}.{_packed.Version}.nupkg").OrderBy(n => n, StringComparer.Ordinal);
        Assert.Equal(expected, _packed.PackageFiles);
    }

    [Fact]
    public void The_package_carries_the_runtime_the_roslyn_components_and_real_metadata()
    {
        string path = Path.Combine(_packed.Feed, $"Dsl.{_packed.Version}.nupkg");
        Assert.True(File.Exists(path), $"no {Path.GetFileName(path)} among {string.Join(", ", _packed.PackageFiles)}");
        using var zip = ZipFile.OpenRead(path);
        var entries = zip.Entries.Select(e => e.FullName).ToHashSet(StringComparer.Ordinal);
        Assert.Contains("lib/net10.0/Dsl.dll", entries);
        Assert.Contains("lib/net10.0/Dsl.xml", entries);
        foreach (string component in new[] { "Dsl.Generators", "Dsl.Analyzers", "Dsl.CodeFixes" })
        {
            Assert.Contains($"analyzers/dotnet/cs/{component}.dll", entries);
            Assert.DoesNotContain($"lib/netstandard2.0/{component}.dll", entries);
        }

        Assert.Contains("README.md", entries);
        XNamespace ns = "http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd";
        using var nuspec = zip.GetEntry("Dsl.nuspec")!.Open();
        var metadata = XDocument.Load(nuspec).Root!.Element(ns + "metadata")!;
        Assert.Equal("Dsl", (string?)metadata.Element(ns + "id"));
        Assert.Equal(_packed.Version, (string?)metadata.Element(ns + "version"));
        Assert.Equal("expression", (string?)metadata.Element(ns + "license")?.Attribute("type"));
        Assert.False(string.IsNullOrWhiteSpace((string?)metadata.Element(ns + "license")));
        Assert.Equal("README.md", (string?)metadata.Element(ns + "readme"));
        Assert.True(((string?)metadata.Element(ns + "description"))?.Length > 100);
        Assert.Contains("source-generator", (string?)metadata.Element(ns + "tags"));
        // The runtime's dependency flows to the consumer; the Roslyn components are not dependencies.
        var dependencies = metadata.Descendants(ns + "dependency").Select(d => (string?)d.Attribute("id")).ToList();
        Assert.Contains("System.Numerics.Tensors", dependencies);
        Assert.DoesNotContain(dependencies, d => d!.StartsWith("Dsl.", StringComparison.Ordinal) || d.StartsWith("Microsoft.CodeAnalysis", StringComparison.Ordinal));
    }

    [Fact]
    public void A_console_project_outside_the_repository_trains_a_model_from_the_package()
    {
        string app = NewConsole("consumer", """
            using Dsl;
            using Dsl.Optimizers;

            var model = new Tiny(seed: 1);
            var x = new float[8 * 4];
            var y = new int[8];
            for (int i = 0; i < x.Length; i++) x[i] = (i % 7) / 7f;
            for (int i = 0; i < y.Length; i++) y[i] = i % 3;
            var sgd = new Sgd(0.1);
            float first = model.TrainStep(x, y, sgd), last = first;
            for (int s = 0; s < 50; s++) last = model.TrainStep(x, y, sgd);
            System.Console.WriteLine(System.FormattableString.Invariant($"loss {first:R} -> {last:R}; parameters {Tiny.ParameterCount}"));

            [Model(Batch = 8, Input = 4)]
            public partial class Tiny
            {
                [Dense(Out = 16)] public partial Tensor Hidden(Tensor x);
                [Relu] public partial Tensor Act(Tensor x);
                [Dense(Out = 3)] public partial Tensor Classes(Tensor x);
                public Tensor Forward(Tensor x) => Classes(Act(Hidden(x)));
                [Loss] public Scalar Loss(Tensor x, Labels y) => Ops.SoftmaxCrossEntropy(Forward(x), y);
            }
            """);
        var run = DotnetCli.Run(app, null, Minutes5, "run", "-c", "Release", "--disable-build-servers").Check();
        var match = Regex.Match(run.Output, @"loss (\S+) -> (\S+); parameters (\d+)");
        Assert.True(match.Success, run.Output);
        double first = double.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        double last = double.Parse(match.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(first, 0.5, 3.0);          // about ln 3 from a random init
        Assert.True(last < 0.8 * first, run.Output);
        Assert.Equal("131", match.Groups[3].Value); // 4·16 + 16 + 16·3 + 3: the generated constant
    }

    [Fact]
    public void A_broken_model_in_a_consumer_project_fails_the_build_with_its_dsl_diagnostic()
    {
        string app = NewConsole("broken", """
            using Dsl;

            System.Console.WriteLine("unreachable");

            [Model(Batch = 8, Input = 20)]
            public partial class Product
            {
                [Dense(Out = 4)] public partial Tensor A(Tensor x);
                [Dense(Out = 4)] public partial Tensor B(Tensor x);
                public Tensor Forward(Tensor x) => A(x) * B(x);
            }
            """);
        var build = DotnetCli.Run(app, null, Minutes5, "build", "-c", "Release", "--disable-build-servers");
        Assert.NotEqual(0, build.ExitCode);
        Assert.Matches(@"Program\.cs\(\d+,\d+\): error DSL102:", build.Output);
    }

    /// <summary>`dotnet new console` and `dotnet add package Dsl` in a fresh folder under the run's root.</summary>
    private string NewConsole(string name, string program)
    {
        string folder = _packed.NewFolder(name);
        DotnetCli.Run(folder, null, Minutes5, "new", "console", "-n", "App", "-o", ".", "--no-restore").Check();
        DotnetCli.Run(folder, null, Minutes5, "add", "package", "Dsl", "--version", _packed.Version).Check();
        File.WriteAllText(Path.Combine(folder, "Program.cs"), program);
        return folder;
    }
}
