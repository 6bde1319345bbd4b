using System;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Xunit;

namespace Dsl.Generators.Tests;

public sealed class GeneratorTests
{
    [Theory]
    [InlineData(Models.Mlp)]
    [InlineData(Models.Residual)]
    public void Output_compiles_without_warnings(string source)
    {
        var diagnostics = GeneratorHarness.BuildDiagnostics(source);
        Assert.True(diagnostics.Count == 0, string.Join("\n", diagnostics));
    }

    [Fact]
    public void Emits_one_file_per_model_and_module()
    {
        var (_, _, run) = GeneratorHarness.Run(GeneratorHarness.Compile(Models.Residual));
        Assert.Equal(new[] { "Samples.Deep.Block.g.cs", "Samples.Deep.Regressor.Cuda.g.cs", "Samples.Deep.Regressor.g.cs" }, GeneratorHarness.Generated(run).Keys.OrderBy(k => k, StringComparer.Ordinal));
    }

    [Theory]
    [InlineData("Samples.Mlp.g.cs", Models.Mlp)]
    [InlineData("Samples.Deep.Regressor.g.cs", Models.Residual)]
    public void Output_matches_baseline(string hint, string source)
    {
        var (_, _, run) = GeneratorHarness.Run(GeneratorHarness.Compile(source));
        string actual = GeneratorHarness.Generated(run)[hint];
        string path = Path.Combine(AppContext.BaseDirectory, "Baselines", hint + ".txt");
        if (Environment.GetEnvironmentVariable("DSL_UPDATE_BASELINES") == "1")
        {
            // Write into the source tree, not the output folder.
            string source_ = Path.Combine(FindRepoRoot(), "tests", "Dsl.Generators.Tests", "Baselines", hint + ".txt");
            File.WriteAllText(source_, actual);
            return;
        }

        Assert.True(File.Exists(path), $"baseline {path} is missing; run the tests with DSL_UPDATE_BASELINES=1 to create it");
        Assert.Equal(File.ReadAllText(path), actual);
    }

    [Fact]
    public void Output_is_identical_under_a_culture_with_comma_decimals_and_unicode_minus()
    {
        var original = CultureInfo.CurrentCulture;
        string Generate() => string.Join("\n---\n", GeneratorHarness.Generated(GeneratorHarness.Run(GeneratorHarness.Compile(Models.Residual, Models.Mlp)).Run)
            .OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => kv.Value));
        string invariant;
        try
        {
            CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
            invariant = Generate();
            var odd = (CultureInfo)CultureInfo.InvariantCulture.Clone();
            odd.NumberFormat.NumberDecimalSeparator = ",";
            odd.NumberFormat.NumberGroupSeparator = ".";
            odd.NumberFormat.NegativeSign = "\u2212";
            CultureInfo.CurrentCulture = odd;
            CultureInfo.CurrentUICulture = odd;
            Assert.Equal(invariant, Generate());
        }
        finally
        {
            CultureInfo.CurrentCulture = original;
            CultureInfo.CurrentUICulture = original;
        }

        Assert.Contains("2.5d", invariant); // the SquarePlus b literal, with a point
        Assert.DoesNotContain('\r', invariant);
    }

    [Fact]
    public void Two_runs_give_the_same_text()
    {
        string a = string.Concat(GeneratorHarness.Generated(GeneratorHarness.Run(GeneratorHarness.Compile(Models.Residual)).Run).Values);
        string b = string.Concat(GeneratorHarness.Generated(GeneratorHarness.Run(GeneratorHarness.Compile(Models.Residual)).Run).Values);
        Assert.Equal(a, b);
    }

    [Fact]
    public void Comment_only_edit_leaves_every_step_cached()
    {
        var compilation = GeneratorHarness.Compile(Models.Mlp);
        var driver = GeneratorHarness.Driver().RunGenerators(compilation);
        var tree = compilation.SyntaxTrees.Single();
        var edited = compilation.ReplaceSyntaxTree(tree, tree.WithChangedText(tree.GetText().Replace(0, 0, "// a comment\n")));
        var run = driver.RunGenerators(edited).GetRunResult().Results.Single();

        foreach (var name in new[] { TrackingNames.Models, TrackingNames.Plans })
        {
            var reasons = run.TrackedSteps[name].SelectMany(s => s.Outputs).Select(o => o.Reason).ToList();
            Assert.NotEmpty(reasons);
            Assert.All(reasons, r => Assert.True(r is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, $"{name}: {r}"));
        }

        Assert.All(run.TrackedOutputSteps.SelectMany(s => s.Value).SelectMany(s => s.Outputs), o => Assert.Equal(IncrementalStepRunReason.Cached, o.Reason));
    }

    [Fact]
    public void Changing_a_layer_width_modifies_the_model_and_plan()
    {
        var compilation = GeneratorHarness.Compile(Models.Mlp);
        var driver = GeneratorHarness.Driver().RunGenerators(compilation);
        var tree = compilation.SyntaxTrees.Single();
        var edited = compilation.ReplaceSyntaxTree(tree, CSharpSyntaxTree.ParseText(Models.Mlp.Replace("Out = 16", "Out = 24"), GeneratorHarness.ParseOptions, tree.FilePath));
        var run = driver.RunGenerators(edited).GetRunResult().Results.Single();

        Assert.Contains(run.TrackedSteps[TrackingNames.Models].SelectMany(s => s.Outputs), o => o.Reason == IncrementalStepRunReason.Modified);
        Assert.Contains(run.TrackedSteps[TrackingNames.Plans].SelectMany(s => s.Outputs), o => o.Reason == IncrementalStepRunReason.Modified);
        Assert.Contains("Dense 20 → 24", run.GeneratedSources.Single(s => !s.HintName.EndsWith(".Cuda.g.cs", StringComparison.Ordinal)).SourceText.ToString());
    }

    [Fact]
    public void Pipeline_values_hold_no_roslyn_objects()
    {
        // Walk every type reachable from the step outputs; any Roslyn type would defeat caching
        // (and keep compilations alive).
        var seen = new System.Collections.Generic.HashSet<Type>();
        var pending = new System.Collections.Generic.Stack<Type>(new[] { typeof(ModelGenerator.PlanResult), typeof(ModelGenerator.ModuleResult), typeof(ModelGenerator.ModelResult) });
        // Each op declares its own options and plan-step records: fields typed by their abstract bases reach them only through these.
        foreach (var type in typeof(ModelGenerator).Assembly.GetTypes())
            if (!type.IsAbstract && (typeof(Dsl.Generators.Model.OpOptions).IsAssignableFrom(type) || typeof(Dsl.Generators.Planning.PlanStep).IsAssignableFrom(type)))
                pending.Push(type);
        while (pending.Count > 0)
        {
            var type = pending.Pop();
            if (!seen.Add(type)) continue;
            Assert.False(type.Namespace?.StartsWith("Microsoft.CodeAnalysis", StringComparison.Ordinal) ?? false, $"{type} is a Roslyn type");
            if (type.IsGenericType) foreach (var arg in type.GetGenericArguments()) pending.Push(arg);
            if (type.IsArray) pending.Push(type.GetElementType()!);
            if (type.Namespace?.StartsWith("Dsl", StringComparison.Ordinal) != true) continue;
            foreach (var field in type.GetFields(System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.NonPublic))
                pending.Push(field.FieldType);
        }

        Assert.Contains(typeof(Dsl.Generators.Planning.PlanStep), seen);
        Assert.Contains(typeof(Dsl.Generators.Model.NodeSpec), seen);
        Assert.Contains(typeof(Dsl.Generators.Ops.RmsNorm.ForwardStep), seen);
        Assert.Contains(typeof(Dsl.Generators.Ops.AttentionOp.Options), seen);
    }

    [Fact]
    public void Never_throws_on_any_truncation_of_a_model()
    {
        // Every prefix at a token boundary: the generator must neither throw nor report an internal error.
        var root = CSharpSyntaxTree.ParseText(Models.Residual, GeneratorHarness.ParseOptions).GetRoot();
        foreach (var token in root.DescendantTokens())
        {
            string prefix = Models.Residual.Substring(0, token.Span.End);
            var (_, diagnostics, run) = GeneratorHarness.Run(GeneratorHarness.Compile(prefix));
            Assert.All(run.Results, r => Assert.Null(r.Exception));
            Assert.DoesNotContain(diagnostics, d => d.Id is "CS8785" or "DSL901");
        }
    }

    [Fact]
    public void Invalid_model_gets_stubs_that_compile()
    {
        string broken = Models.Mlp.Replace("Head(Drop(Act(Hidden(x))))", "Head(Drop(Act(Hidden(x)))) - x");
        var (output, generatorDiagnostics, _) = GeneratorHarness.Run(GeneratorHarness.Compile(broken));
        Assert.Empty(generatorDiagnostics);
        // Only the user's own invalid construct fails to compile (Tensor has no '-'), nothing in generated code.
        var errors = output.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
        Assert.All(errors, e => Assert.Equal("Model0.cs", e.Location.SourceTree?.FilePath));
        Assert.Contains(GeneratorHarness.Analyze(output), d => d.Id == "DSL102");
    }

    [Fact]
    public void Only_the_parser_reads_roslyn_symbols_and_syntax()
    {
        // The front end is a straight line: only the parser reads Roslyn symbols and syntax; shape inference, the rules,
        // the planner, the ops and the emitters read the symbol-free model and point at Sites, which the parser's
        // location map resolves (a DiagnosticDescriptor is the only Roslyn type they name).
        string generator = Path.Combine(FindRepoRoot(), "generators", "Dsl.Generators");
        var files = new[] { "FrontEnd/Rules", "FrontEnd/Shapes", "FrontEnd/Planning", "Ops", "Emit" }
            .SelectMany(d => Directory.GetFiles(Path.Combine(generator, d), "*.cs", SearchOption.AllDirectories)).ToList();
        Assert.True(files.Count > 20, $"{files.Count} files");
        var roslyn = new System.Text.RegularExpressions.Regex(@"Microsoft\.CodeAnalysis\.CSharp|SyntaxNode|ISymbol|SemanticModel|Compilation\b|IRuleLocations|\bLocation\b(?!Map)");
        foreach (string file in files)
        {
            var match = roslyn.Match(File.ReadAllText(file));
            Assert.False(match.Success, $"{Path.GetFileName(file)} uses {match.Value}");
        }
    }

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Dsl.sln"))) return dir.FullName;
        throw new InvalidOperationException("Dsl.sln not found above " + AppContext.BaseDirectory);
    }
}
