using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Xunit;

namespace Dsl.Generators.Tests;

/// <summary>The generator on Ops.MultiTask models: warning-free output, no throw on any truncation, stubs with the
/// multi-target signature for an invalid one, and one trunk node shared by both heads.</summary>
public sealed class MultiTaskGeneratorTests
{
    private const string TwoHeads = """
        using Dsl;

        namespace Samples;

        [Model(Batch = 16, Input = 12)]
        public partial class TwoHeads
        {
            [Dense(Out = 24)] public partial Tensor Trunk(Tensor x);
            [Relu] public partial Tensor Act(Tensor x);
            [Dense(Out = 5)] public partial Tensor Classes(Tensor h);
            [Dense(Out = 3)] public partial Tensor Box(Tensor h);

            public Tensor Features(Tensor x) => Act(Trunk(x));
            public Tensor Forward(Tensor x) => Classes(Features(x));

            [Loss] public Scalar Loss(Tensor x, Labels y, Tensor box) =>
                Ops.MultiTask(TaskWeighting.Uncertainty, Ops.SoftmaxCrossEntropy(Forward(x), y), Ops.MeanSquaredError(Box(Features(x)), box));
        }

        public static class Use
        {
            public static float Step(TwoHeads m, float[] x, int[] y, float[] box) => m.TrainStep(x, y, box, new Dsl.Optimizers.AdamW(1e-3)) + m.Evaluate(x, y, box);
        }
        """;

    [Fact]
    public void Output_compiles_without_warnings()
    {
        var diagnostics = GeneratorHarness.BuildDiagnostics(TwoHeads);
        Assert.True(diagnostics.Count == 0, string.Join("\n", diagnostics));
    }

    [Fact]
    public void The_trunk_is_computed_once_for_both_heads()
    {
        var (_, _, run) = GeneratorHarness.Run(GeneratorHarness.Compile(TwoHeads));
        string code = GeneratorHarness.Generated(run)["Samples.TwoHeads.g.cs"];
        // One forward product for Trunk (ReLU fused in its epilogue) feeding both heads, and one backward for it.
        Assert.Single(code.Split('\n'), l => l.Contains("// Trunk: Dense 12 → 24", System.StringComparison.Ordinal));
        Assert.Single(code.Split('\n'), l => l.Contains("// Trunk backward", System.StringComparison.Ordinal));
        Assert.Contains("tasks.log_variance", code);
        Assert.Contains("global::Dsl.Kernels.MultiTask.Uncertainty<T>", code);
    }

    [Fact]
    public void Never_throws_on_any_truncation_of_a_multi_task_model()
    {
        var root = CSharpSyntaxTree.ParseText(TwoHeads, GeneratorHarness.ParseOptions).GetRoot();
        foreach (var token in root.DescendantTokens())
        {
            string prefix = TwoHeads.Substring(0, token.Span.End);
            var (_, diagnostics, run) = GeneratorHarness.Run(GeneratorHarness.Compile(prefix));
            Assert.All(run.Results, r => Assert.Null(r.Exception));
            Assert.DoesNotContain(diagnostics, d => d.Id is "CS8785" or "DSL901");
        }
    }

    [Fact]
    public void Invalid_multi_task_model_gets_stubs_with_the_multi_target_signature()
    {
        string broken = TwoHeads.Replace("TaskWeighting.Uncertainty", "[1.0, -2.0]");
        var (output, generatorDiagnostics, _) = GeneratorHarness.Run(GeneratorHarness.Compile(broken));
        Assert.Empty(generatorDiagnostics);
        Assert.Empty(output.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error));
        Assert.Contains(GeneratorHarness.Analyze(output), d => d.Id == "DSL319");
    }
}
