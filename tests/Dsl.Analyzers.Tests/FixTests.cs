using System.Collections.Immutable;
using System.Linq;
using Dsl.Generators.Diagnostics;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeActions;
using Microsoft.CodeAnalysis.Text;
using Xunit;
using static Dsl.Analyzers.Tests.AnalyzerHarness;

namespace Dsl.Analyzers.Tests;

/// <summary>
/// Every code fix, applied through an <see cref="AdhocWorkspace"/>: the expected text, the diagnostic
/// gone, and the fixed program clean after generation (no errors from the compiler, the generator or
/// the analyzers). Fix All goes through the fixer's own FixAllProvider.
/// </summary>
public sealed class FixTests
{
    private const string SetIn = "Dsl.SetArgument.DSL201.In";
    private const string SetB = "Dsl.SetArgument.DSL301.B";

    /// <summary>Fixes the single <paramref name="id"/> diagnostic of <paramref name="before"/> with the action
    /// <paramref name="key"/> and checks the result is <paramref name="after"/> and clean.</summary>
    private static void Fix(string id, string key, string before, string after, params string[] otherSources)
    {
        using var fix = new FixHarness(new[] { Header + before }.Concat(otherSources).ToArray());
        var diagnostic = Assert.Single(fix.Diagnostics(), d => d.Id == id);
        fix.Apply(diagnostic, key);
        Assert.Equal(Header + after, fix.Text());
        AssertClean(fix);
    }

    private static void AssertClean(FixHarness fix)
    {
        var errors = BuildErrors(fix.Compilation());
        Assert.True(errors.Count == 0, string.Join("\n", errors) + "\n" + fix.Text());
    }

    [Fact]
    public void DSL201_set_in_to_the_inferred_width() =>
        Fix("DSL201", SetIn, RuleTests.Valid.Replace("Dense(Out = 4)", "Dense(Out = 4, In = 30)"), RuleTests.Valid.Replace("Dense(Out = 4)", "Dense(Out = 4, In = 20)"));

    [Fact]
    public void DSL201_remove_in() =>
        Fix("DSL201", "Dsl.RemoveArgument.DSL201.In", RuleTests.Valid.Replace("Dense(Out = 4)", "Dense(In = 30, Out = 4)"), RuleTests.Valid);

    [Fact]
    public void DSL201_fix_all_sets_each_layer_to_its_own_width()
    {
        const string Two = """
            [Model(Batch = 8, Input = 20)]
            public partial class M
            {
                [Dense(Out = 4, In = 30)] public partial Tensor A(Tensor x);
                [Dense(Out = 3, In = 7)] public partial Tensor B(Tensor x);
                public Tensor Forward(Tensor x) => B(A(x));
            }
            """;
        using var fix = new FixHarness(Header + Two);
        Assert.Equal(2, fix.Diagnostics().Count(d => d.Id == "DSL201"));
        fix.FixAll("DSL201", SetIn);
        Assert.Equal(Header + Two.Replace("In = 30", "In = 20").Replace("In = 7", "In = 4"), fix.Text());
        AssertClean(fix);
    }

    [Fact]
    public void DSL106_negative_in_is_removed() =>
        Fix("DSL106", "Dsl.RemoveArgument.DSL106.In", RuleTests.Valid.Replace("Dense(Out = 4)", "Dense(Out = 4, In = -1)"), RuleTests.Valid);

    [Fact]
    public void DSL106_out_has_no_fix()
    {
        using var fix = new FixHarness(Header + RuleTests.Valid.Replace("Dense(Out = 4)", "Dense(Out = 0)"));
        Assert.Empty(fix.Actions(Assert.Single(fix.Diagnostics(), d => d.Id == "DSL106")));
    }

    [Fact]
    public void DSL205_rotary_dimension_rounded_down_to_even() =>
        Fix("DSL205", "Dsl.SetArgument.DSL205.RotaryDim",
            RuleTests.Attention.Replace("Heads = 4", "Heads = 3").Replace("Rope = true", "Rope = true, RotaryDim = 3"),
            RuleTests.Attention.Replace("Heads = 4", "Heads = 3").Replace("Rope = true", "Rope = true, RotaryDim = 2"));

    [Fact]
    public void DSL205_rotary_dimension_inserted_when_the_key_is_odd() =>
        Fix("DSL205", "Dsl.SetArgument.DSL205.RotaryDim", RuleTests.Attention,
            RuleTests.Attention.Replace("Rope = true", "Rope = true, RotaryDim = 2"));

    [Fact]
    public void DSL301_attribute_b_set_to_4() =>
        Fix("DSL301", SetB, RuleTests.Valid.Replace("SquarePlus(B = 1)", "SquarePlus(B = -0.5)"), RuleTests.Valid.Replace("SquarePlus(B = 1)", "SquarePlus(B = 4)"));

    [Fact]
    public void DSL301_ops_argument_set_to_4() =>
        Fix("DSL301", SetB, RuleTests.Valid.Replace("S(A(x)) + A(x) * 2", "Ops.SquarePlus(A(x), b: 0)"), RuleTests.Valid.Replace("S(A(x)) + A(x) * 2", "Ops.SquarePlus(A(x), b: 4)"));

    [Fact]
    public void DSL301_fix_all_in_the_document()
    {
        string before = RuleTests.Valid.Replace("SquarePlus(B = 1)", "SquarePlus(B = 0)").Replace("S(A(x)) + A(x) * 2", "S(A(x)) + Ops.SquarePlus(A(x), 0)");
        using var fix = new FixHarness(Header + before);
        fix.FixAll("DSL301", SetB, Microsoft.CodeAnalysis.CodeFixes.FixAllScope.Document);
        Assert.Equal(Header + before.Replace("B = 0", "B = 4").Replace("A(x), 0)", "A(x), 4)"), fix.Text());
        AssertClean(fix);
    }

    [Fact]
    public void DSL302_scale_set_to_one_over_root_key_size()
    {
        string wrong = RuleTests.Gpt.Replace("Causal = true", "Causal = true, Scale = 0.08838834764831845");
        Fix("DSL302", "Dsl.SetArgument.DSL302.Scale", wrong,
            RuleTests.Gpt.Replace("Causal = true", "Causal = true, Scale = " + (1 / System.Math.Sqrt(32)).ToString("R", System.Globalization.CultureInfo.InvariantCulture)));
    }

    [Fact]
    public void DSL302_scale_removed_so_the_default_applies() =>
        Fix("DSL302", "Dsl.RemoveArgument.DSL302.Scale", RuleTests.Gpt.Replace("Causal = true", "Causal = true, Scale = 0.08838834764831845"), RuleTests.Gpt);

    [Fact]
    public void DSL303_unscaled_softmax_gets_one_over_root_key_size() =>
        Fix("DSL303", "Dsl.SetArgument.DSL303.Scale", RuleTests.Gpt.Replace("Causal = true", "Causal = true, Scale = 1"),
            RuleTests.Gpt.Replace("Causal = true", "Causal = true, Scale = " + (1 / System.Math.Sqrt(32)).ToString("R", System.Globalization.CultureInfo.InvariantCulture)));

    [Fact]
    public void DSL304_alpha_and_beta_set_for_the_declared_depth()
    {
        static string F(double x) => System.Math.Round(x, 4).ToString("R", System.Globalization.CultureInfo.InvariantCulture);
        string six = RuleTests.Deep.Replace("Repeat(12)", "Repeat(6)");
        Fix("DSL304", "Dsl.SetArgument.DSL304.Alpha,Beta", six,
            six.Replace("Alpha = 2.2134, Beta = 0.3195", $"Alpha = {F(System.Math.Pow(12, 0.25))}, Beta = {F(System.Math.Pow(48, -0.25))}"));
    }

    [Fact]
    public void DSL304_beta_inserted_when_only_alpha_was_given() =>
        Fix("DSL304", "Dsl.SetArgument.DSL304.Alpha,Beta", RuleTests.Deep.Replace("Alpha = 2.2134, Beta = 0.3195", "Alpha = 3"),
            RuleTests.Deep);

    [Fact]
    public void DSL310_alpha_set_to_one_in_a_pre_ln_block()
    {
        string before = RuleTests.Deep.Replace("Alpha = 2.2134, Beta = 0.3195", "Alpha = 2.2134")
            .Replace("=> Norm(Skip(x) + Down(Ops.Relu(Up(x))));", "=> Skip(x) + Down(Ops.Relu(Up(Norm(x))));");
        Fix("DSL310", "Dsl.SetArgument.DSL310.Alpha", before, before.Replace("Alpha = 2.2134", "Alpha = 1"));
    }

    [Fact]
    public void DSL309_window_set_to_the_training_length() =>
        Fix("DSL309", "Dsl.SetArgument.DSL309.Window", RuleTests.Gpt.Replace("Causal = true", "Causal = true, Window = 100"),
            RuleTests.Gpt.Replace("Causal = true", "Causal = true, Window = 64"));

    [Fact]
    public void DSL101_model_and_its_containing_type_made_partial() =>
        Fix("DSL101", "Dsl.MakeTypePartial",
            "public static class Outer\n{\n" + RuleTests.Valid.Replace("public partial class M", "public class M") + "\n}\n",
            "public static partial class Outer\n{\n" + RuleTests.Valid + "\n}\n");

    [Fact]
    public void DSL101_module_without_modifiers_made_partial() =>
        Fix("DSL101", "Dsl.MakeTypePartial", RuleTests.Block.Replace("public partial class Block", "class Block"), RuleTests.Block.Replace("public partial class Block", "partial class Block"));

    [Fact]
    public void DSL103_static_removed() =>
        Fix("DSL103", "Dsl.RemoveStatic",
            RuleTests.Valid.Replace("[Dense(Out = 4)] public partial", "[Dense(Out = 4)] public static partial"), RuleTests.Valid);

    [Fact]
    public void DSL103_made_partial() =>
        Fix("DSL103", "Dsl.MakeMethodPartial",
            RuleTests.Valid.Replace("[SquarePlus(B = 1)] public partial Tensor", "[SquarePlus(B = 1)] public Tensor"), RuleTests.Valid);

    [Fact]
    public void DSL103_made_partial_and_private_without_modifiers() =>
        Fix("DSL103", "Dsl.MakeMethodPartial",
            RuleTests.Valid.Replace("[SquarePlus(B = 1)] public partial Tensor", "[SquarePlus(B = 1)] Tensor"),
            RuleTests.Valid.Replace("[SquarePlus(B = 1)] public partial Tensor", "[SquarePlus(B = 1)] private partial Tensor"));

    [Fact]
    public void DSL103_wrong_parameters_have_no_fix()
    {
        using var fix = new FixHarness(Header + RuleTests.Valid.Replace("S(Tensor x)", "S(Tensor x, Tensor y)"));
        Assert.Empty(fix.Actions(Assert.Single(fix.Diagnostics(), d => d.Id == "DSL103")));
    }

    [Fact]
    public void DSL109_adds_a_cross_entropy_loss_in_the_model_file()
    {
        string model = Header + RuleTests.NoLoss.Substring(0, RuleTests.NoLoss.IndexOf("public static class", System.StringComparison.Ordinal));
        string caller = "namespace T;\npublic static class Training\n{\n    public static float Step(M model, float[] x, int[] y, Dsl.Optimizers.Optimizer optimizer) => model.TrainStep(x, y, optimizer);\n}\n";
        using var fix = new FixHarness(model, caller);
        var diagnostic = Assert.Single(fix.Diagnostics(), d => d.Id == "DSL109");
        Assert.Equal("Model1.cs", fix.Solution.GetDocument(diagnostic.Location.SourceTree)!.Name);
        fix.Apply(diagnostic, "Dsl.AddLoss.SoftmaxCrossEntropy");
        Assert.Contains("    [Loss] public Scalar Loss(Tensor inputs, Labels labels) => Ops.SoftmaxCrossEntropy(Forward(inputs), labels);\n}", fix.Text(0));
        AssertClean(fix);
    }

    [Fact]
    public void DSL109_adds_a_mean_squared_error_loss()
    {
        using var fix = new FixHarness(Header + RuleTests.NoLoss.Replace("int[] y", "float[] y").Replace("MARK", "model.TrainStep(x, y, optimizer)"));
        fix.Apply(Assert.Single(fix.Diagnostics(), d => d.Id == "DSL109"), "Dsl.AddLoss.MeanSquaredError");
        Assert.Contains("Ops.MeanSquaredError(Forward(inputs), targets)", fix.Text());
        AssertClean(fix);
    }

    /// <summary>The property contract for the rules to come (attention scale, DeepNorm α/β, rotary
    /// dimension): a made-up diagnostic carrying the properties gets the edit, with no rule-specific code.</summary>
    [Theory]
    [InlineData("[Attention(Heads = 4)]", "Scale|0.125", "[Attention(Heads = 4, Scale = 0.125)]")]
    [InlineData("[Attention]", "Scale|0.125", "[Attention(Scale = 0.125)]")]
    [InlineData("[DeepNorm(Alpha = 1, Layers = 12)]", "Alpha|2.2134|Beta|0.3195", "[DeepNorm(Alpha = 2.2134, Layers = 12, Beta = 0.3195)]")]
    [InlineData("[Rotary(Dim = 33)]", "Dim|32", "[Rotary(Dim = 32)]")]
    public void Property_contract_sets_or_inserts_named_arguments(string attribute, string pairs, string expected)
    {
        string source = $"class C\n{{\n    {attribute} void F() {{ }}\n}}\n";
        using var fix = new FixHarness(source);
        var tree = fix.Tree();
        var parts = pairs.Split('|');
        var properties = ImmutableDictionary<string, string?>.Empty.Add(DiagnosticCatalog.TitleProperty, "Use the sourced constants");
        for (int i = 0; i < parts.Length; i += 2)
        {
            string suffix = i == 0 ? "" : (i / 2 + 1).ToString(System.Globalization.CultureInfo.InvariantCulture);
            properties = properties.Add(DiagnosticCatalog.ArgumentProperty + suffix, parts[i]).Add(DiagnosticCatalog.ValueProperty + suffix, parts[i + 1]);
        }

        var span = new TextSpan(source.IndexOf('[') + 1, attribute.Length - 2);
        var diagnostic = Diagnostic.Create(DiagnosticCatalog.LayerArgument, Location.Create(tree, span), properties, "x", "y", "z", "w");
        var action = Assert.Single(fix.Actions(diagnostic));
        Assert.Equal("Use the sourced constants", action.Title);
        fix.Apply(action);
        Assert.Equal(source.Replace(attribute, expected), fix.Text());
    }

    [Fact]
    public void Every_fix_has_an_equivalence_key_and_set_argument_fixes_batch()
    {
        foreach (var fixer in Fixers)
            Assert.True(fixer.GetFixAllProvider() is null || fixer.GetFixAllProvider() == Microsoft.CodeAnalysis.CodeFixes.WellKnownFixAllProviders.BatchFixer, fixer.GetType().Name);
        using var fix = new FixHarness(Header + RuleTests.Valid.Replace("Dense(Out = 4)", "Dense(Out = 4, In = 30)").Replace("B = 1", "B = 0"));
        foreach (var diagnostic in fix.Diagnostics())
            foreach (CodeAction action in fix.Actions(diagnostic))
                Assert.False(string.IsNullOrEmpty(action.EquivalenceKey), action.Title);
    }

    [Fact]
    public void DSL313_focal_gamma_set_to_2() =>
        Fix("DSL313", "Dsl.SetArgument.DSL313.gamma",
            RuleTests.Valid.Replace("Ops.SoftmaxCrossEntropy(Forward(x), y)", "Ops.FocalLoss(Forward(x), y, gamma: -1, alpha: 0.25)"),
            RuleTests.Valid.Replace("Ops.SoftmaxCrossEntropy(Forward(x), y)", "Ops.FocalLoss(Forward(x), y, gamma: 2, alpha: 0.25)"));

    [Fact]
    public void DSL313_cosent_lambda_set_to_20() =>
        Fix("DSL313", "Dsl.SetArgument.DSL313.lambda", RuleTests.Pairs.Replace("lambda: 20", "lambda: -20"), RuleTests.Pairs);

    [Fact]
    public void DSL313_positional_smoothing_set_to_a_tenth() =>
        Fix("DSL313", "Dsl.SetArgument.DSL313.smoothing",
            RuleTests.Valid.Replace("Ops.SoftmaxCrossEntropy(Forward(x), y)", "Ops.SoftmaxCrossEntropy(Forward(x), y, 1.5)"),
            RuleTests.Valid.Replace("Ops.SoftmaxCrossEntropy(Forward(x), y)", "Ops.SoftmaxCrossEntropy(Forward(x), y, 0.1)"));

    [Fact]
    public void DSL313_offers_no_fix_for_a_zero_prior()
    {
        using var fix = new FixHarness(Header + RuleTests.Valid.Replace("Ops.SoftmaxCrossEntropy(Forward(x), y)", "Ops.LogitAdjustedCrossEntropy(Forward(x), y, 1, [0.5, 0, 0.3, 0.2])"));
        Assert.Empty(fix.Actions(Assert.Single(fix.Diagnostics(), d => d.Id == "DSL313")));
    }

    [Fact]
    public void DSL315_lion_learning_rate_divided_by_10()
    {
        const string Before = """

            public static class Training
            {
                public static Dsl.Optimizers.Optimizer Make() => new Dsl.Optimizers.Lion(3e-3, weightDecay: 0.1);
            }
            """;
        using var fix = new FixHarness(Header + RuleTests.Valid + Before);
        var diagnostic = Assert.Single(fix.Diagnostics(), d => d.Id == "DSL315");
        Assert.Equal("Set learningRate = 0.0003 (10× smaller)", Assert.Single(fix.Actions(diagnostic)).Title);
        fix.Apply(diagnostic, "Dsl.SetArgument.DSL315.learningRate");
        Assert.Equal(Header + RuleTests.Valid + Before.Replace("Lion(3e-3,", "Lion(0.0003,"), fix.Text());
        AssertClean(fix);
        Assert.DoesNotContain(fix.Diagnostics(), d => d.Id == "DSL315");
    }
}
