using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Xml.Linq;
using Xunit;

namespace Dsl.Package.Tests;

/// <summary>
/// Packs the repository's shipping packages once per test run into a temporary feed and prepares an
/// offline NuGet configuration for projects created outside the repository: the feed, plus the
/// machine's global packages folder as a second source for the packages' own dependencies
/// (System.Numerics.Tensors, the test frameworks of the templates' tests). Restores go to a private
/// global packages folder, so the packages under test never land in (or come stale from) the
/// user's cache.
/// </summary>
public sealed class PackedPackages : IDisposable
{
    /// <summary>The shipping packages: all that `dotnet pack Dsl.sln` may produce (every other project
    /// is IsPackable=false, which also keeps pack from building it, so the pack below builds no test
    /// project that another test host is running).</summary>
    public static readonly string[] ShippingIds = { "Dsl", "Dsl.Training", "Dsl.Templates" };

    public PackedPackages()
    {
        Repository = DotnetCli.RepositoryRoot();
        Root = Path.Combine(Path.GetTempPath(), "dsl-package-tests-" + Guid.NewGuid().ToString("N")[..12]);
        Feed = Path.Combine(Root, "feed");
        Directory.CreateDirectory(Feed);
        // Exactly the README's command.
        DotnetCli.Run(Repository, null, TimeSpan.FromMinutes(8), "pack", "Dsl.sln", "-c", "Release", "-o", Feed, "--disable-build-servers").Check();
        Version = (string?)XDocument.Load(Path.Combine(Repository, "Directory.Build.props")).Descendants("Version").FirstOrDefault()
            ?? throw new InvalidOperationException("Directory.Build.props has no <Version>");

        string cache = GlobalPackagesFolder();
        NuGetConfig = Path.Combine(Root, "nuget.config");
        new XDocument(
            new XElement("configuration",
                new XElement("config", new XElement("add", new XAttribute("key", "globalPackagesFolder"), new XAttribute("value", Path.Combine(Root, "packages")))),
                new XElement("packageSources",
                    new XElement("clear"),
                    new XElement("add", new XAttribute("key", "packed"), new XAttribute("value", Feed)),
                    new XElement("add", new XAttribute("key", "machine-cache"), new XAttribute("value", cache))))).Save(NuGetConfig);
    }

    /// <summary>The repository root.</summary>
    public string Repository { get; }
    /// <summary>Temporary root of everything this run creates (outside the repository).</summary>
    public string Root { get; }
    /// <summary>Folder holding the packed .nupkg files.</summary>
    public string Feed { get; }
    /// <summary>The packages' version (Directory.Build.props).</summary>
    public string Version { get; }
    /// <summary>nuget.config of the projects created under <see cref="Root"/> (found by walking up from them).</summary>
    public string NuGetConfig { get; }

    /// <summary>The .nupkg files the pack produced, by file name.</summary>
    public IReadOnlyList<string> PackageFiles => Directory.GetFiles(Feed, "*.nupkg").Select(Path.GetFileName).OrderBy(n => n, StringComparer.Ordinal).ToList()!;

    /// <summary>A new empty folder under <see cref="Root"/>.</summary>
    public string NewFolder(string name)
    {
        string path = Path.Combine(Root, name + "-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(path);
        return path;
    }

    private string? _hive;

    /// <summary>A private `dotnet new` template hive with the packed Dsl.Templates installed (once per run).</summary>
    public string Hive()
    {
        lock (Feed)
        {
            if (_hive is not null) return _hive;
            string hive = Path.Combine(Root, "template-hive");
            DotnetCli.Run(Root, null, TimeSpan.FromMinutes(5), "new", "install", Path.Combine(Feed, $"Dsl.Templates.{Version}.nupkg"), "--debug:custom-hive", hive).Check();
            return _hive = hive;
        }
    }

    private string GlobalPackagesFolder()
    {
        string? variable = Environment.GetEnvironmentVariable("NUGET_PACKAGES");
        if (!string.IsNullOrEmpty(variable)) return variable;
        var listed = DotnetCli.Run(Repository, null, TimeSpan.FromMinutes(1), "nuget", "locals", "global-packages", "--list").Check();
        // "global-packages: /root/.nuget/packages/"
        string line = listed.Output.Split('\n').First(l => l.Contains("global-packages:", StringComparison.Ordinal));
        return line[(line.IndexOf(':') + 1)..].Trim();
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
            // A file still open by a process that is exiting: the temp folder is the OS's to clean.
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}

/// <summary>Every test that needs the packed packages shares one pack.</summary>
[CollectionDefinition(Name)]
public sealed class PackedCollection : ICollectionFixture<PackedPackages>
{
    public const string Name = "packed packages";
}
