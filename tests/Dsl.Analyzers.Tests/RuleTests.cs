using System.Globalization;
using System.Linq;
using Dsl.Generators.Diagnostics;
using Microsoft.CodeAnalysis;
using Xunit;
using static Dsl.Analyzers.Tests.AnalyzerHarness;

namespace Dsl.Analyzers.Tests;

/// <summary>
/// Every rule: a case that fires on the exact span marked [| |], with a message naming the values,
/// and a near miss that is a clean program (no diagnostics, no build errors after generation).
/// Test names start with the id; <see cref="CatalogTests"/> checks each id has both kinds.
/// </summary>
public sealed class RuleTests
{
    internal const string Valid = """
        [Model(Batch = 8, Input = 20)]
        public partial class M
        {
            [Dense(Out = 4)] public partial Tensor A(Tensor x);
            [SquarePlus(B = 1)] public partial Tensor S(Tensor x);
            public Tensor Forward(Tensor x) => S(A(x)) + A(x) * 2;
            [Loss] public Scalar Loss(Tensor x, Labels y) => Ops.SoftmaxCrossEntropy(Forward(x), y);
        }
        """;

    internal const string Block = """
        [Module]
        public partial class Block
        {
            [Dense(Out = 20)] public partial Tensor Up(Tensor x);
            public Tensor Forward(Tensor x) => x + Up(x);
        }

        """;

    /// <summary>Asserts exactly one <paramref name="id"/> diagnostic, on the marked span; returns it.</summary>
    internal static Diagnostic Fires(string id, string marked)
    {
        var (source, span) = Markup(Header + marked);
        var run = Analyze(Compile(source));
        Assert.Empty(run.Exceptions);
        var found = run.Diagnostics.Where(d => d.Id == id).ToList();
        var diagnostic = Assert.Single(found);
        Assert.Equal(span, diagnostic.Location.SourceSpan);
        Assert.Equal($"docs/diagnostics/{id}.md", diagnostic.Descriptor.HelpLinkUri);
        return diagnostic;
    }

    /// <summary>Asserts a clean program: no DSL diagnostics and no errors after generation.</summary>
    internal static void Clean(string source)
    {
        var errors = BuildErrors(Compile(Header + source));
        Assert.True(errors.Count == 0, string.Join("\n", errors));
        var run = Analyze(Compile(Header + source));
        Assert.True(run.Diagnostics.IsEmpty, string.Join("\n", run.Diagnostics));
    }

    private static string Message(Diagnostic d) => d.GetMessage(CultureInfo.InvariantCulture);

    [Fact]
    public void Valid_model_is_clean() => Clean(Valid);

    // ---- DSL101 ---------------------------------------------------------------------------------

    [Fact]
    public void DSL101_fires_on_a_model_that_is_not_partial() =>
        Assert.Contains("'M' is marked [Model]", Message(Fires("DSL101", Valid.Replace("public partial class M", "public class [|M|]"))));

    [Fact]
    public void DSL101_fires_on_a_module_that_is_not_partial() =>
        Assert.Contains("'Block' is marked [Module]", Message(Fires("DSL101", Block.Replace("public partial class Block", "public class [|Block|]"))));

    [Fact]
    public void DSL101_near_miss_partial_model() => Clean(Valid);

    // ---- DSL102 ---------------------------------------------------------------------------------

    [Fact]
    public void DSL102_fires_on_a_product_of_tensors() =>
        Assert.Contains("'A(x) * A(x)'", Message(Fires("DSL102", Valid.Replace("S(A(x)) + A(x) * 2", "S(A(x)) + [|A(x) * A(x)|]"))));

    [Fact]
    public void DSL102_fires_on_a_statement() =>
        Assert.Contains("if (x == null)", Message(Fires("DSL102", Valid.Replace("public Tensor Forward(Tensor x) => S(A(x)) + A(x) * 2;",
            "public Tensor Forward(Tensor x) { [|if (x == null) return x;|] return A(x); }"))));

    [Fact]
    public void DSL102_near_miss_product_by_a_constant() => Clean(Valid.Replace("A(x) * 2", "2.5 * A(x)"));

    // ---- DSL103 ---------------------------------------------------------------------------------

    [Fact]
    public void DSL103_fires_on_two_parameters() =>
        Assert.Contains("exactly one Tensor parameter", Message(Fires("DSL103", Valid.Replace("[Dense(Out = 4)] public partial Tensor A(Tensor x);",
            "[Dense(Out = 4)] public partial Tensor A(Tensor x);\n    [Relu] public partial Tensor [|B|](Tensor x, Tensor y);"))));

    [Fact]
    public void DSL103_fires_on_a_static_layer() =>
        Assert.Contains("static", Message(Fires("DSL103", Valid.Replace("[Dense(Out = 4)] public partial Tensor A(Tensor x);",
            "[Dense(Out = 4)] public partial Tensor A(Tensor x);\n    [Relu] public static partial Tensor [|B|](Tensor x);"))));

    [Fact]
    public void DSL103_fires_on_a_layer_without_an_accessibility_modifier() =>
        // The compiler's CS8796 stops a build before the analyzers; the generator reports this one.
        Assert.Contains("no accessibility modifier", Message(Fires("DSL103", Valid.Replace("[Dense(Out = 4)] public partial Tensor A(Tensor x);",
            "[Dense(Out = 4)] public partial Tensor A(Tensor x);\n    [Relu] partial Tensor [|B|](Tensor x);"))));

    [Fact]
    public void DSL103_fires_on_a_ref_parameter_and_the_stub_compiles()
    {
        var d = Fires("DSL103", Valid.Replace("[Dense(Out = 4)] public partial Tensor A(Tensor x);",
            "[Dense(Out = 4)] public partial Tensor A(Tensor x);\n    [Relu] public partial Tensor [|B|](ref Tensor x);"));
        Assert.Contains("no ref, out, in or params", Message(d));
        // The generator implements B with its declared signature: the only error left is the DSL's.
        var errors = BuildErrors(Compile(Markup(Header + Valid.Replace("[Dense(Out = 4)] public partial Tensor A(Tensor x);",
            "[Dense(Out = 4)] public partial Tensor A(Tensor x);\n    [Relu] public partial Tensor B(ref Tensor x);")).Source));
        Assert.Equal(new[] { "DSL103" }, errors.Select(e => e.Id));
    }

    [Fact]
    public void DSL103_near_miss_a_second_well_formed_layer() => Clean(Valid.Replace("[Dense(Out = 4)] public partial Tensor A(Tensor x);",
        "[Dense(Out = 4)] public partial Tensor A(Tensor x);\n    [Relu] private partial Tensor B(Tensor x);"));

    // ---- DSL104 ---------------------------------------------------------------------------------

    [Fact]
    public void DSL104_fires_on_batch_zero() =>
        Assert.Contains("Batch must be > 0, but it is 0", Message(Fires("DSL104", Valid.Replace("Batch = 8", "[|Batch = 0|]"))));

    [Fact]
    public void DSL104_fires_on_a_missing_input_on_the_attribute() =>
        Assert.Contains("Input must be > 0, but it is 0", Message(Fires("DSL104", Valid.Replace("[Model(Batch = 8, Input = 20)]", "[[|Model(Batch = 8)|]]"))));

    [Fact]
    public void DSL104_near_miss_batch_one() => Clean(Valid.Replace("Batch = 8", "Batch = 1"));

    // ---- DSL105 ---------------------------------------------------------------------------------

    [Fact]
    public void DSL105_fires_on_a_model_without_forward() =>
        Assert.Contains("'M' has no method 'Forward(Tensor)'", Message(Fires("DSL105", """
            [Model(Batch = 8, Input = 20)]
            public partial class [|M|]
            {
                [Dense(Out = 4)] public partial Tensor A(Tensor x);
                public Tensor Run(Tensor x) => A(x);
            }
            """)));

    [Fact]
    public void DSL105_near_miss_forward_present() => Clean(Valid);

    // ---- DSL106 ---------------------------------------------------------------------------------

    [Fact]
    public void DSL106_fires_on_dense_out() =>
        Assert.Contains("Out must be > 0, but it is -3", Message(Fires("DSL106", Valid.Replace("Dense(Out = 4)", "Dense([|Out = -3|])"))));

    [Fact]
    public void DSL106_fires_on_a_negative_dense_in() =>
        Assert.Contains("In must be >= 0", Message(Fires("DSL106", Valid.Replace("Dense(Out = 4)", "Dense(Out = 4, [|In = -1|])"))));

    [Fact]
    public void DSL106_fires_on_a_dropout_rate_of_one() =>
        Assert.Contains("the rate must be in [0, 1), but it is 1", Message(Fires("DSL106", Valid.Replace(
            "[SquarePlus(B = 1)] public partial Tensor S(Tensor x);", "[[|Dropout(1.0)|]] public partial Tensor S(Tensor x);"))));

    [Fact]
    public void DSL106_near_miss_dropout_just_below_one() => Clean(Valid.Replace(
        "[SquarePlus(B = 1)] public partial Tensor S(Tensor x);", "[Dropout(0.99)] public partial Tensor S(Tensor x);"));

    // ---- DSL107 ---------------------------------------------------------------------------------

    [Fact]
    public void DSL107_fires_on_a_loss_with_one_parameter() =>
        Assert.Contains("(Tensor inputs, Labels labels)", Message(Fires("DSL107", Valid.Replace(
            "[Loss] public Scalar Loss(Tensor x, Labels y) => Ops.SoftmaxCrossEntropy(Forward(x), y);",
            "[Loss] public Scalar [|Loss|](Tensor x) => Ops.SoftmaxCrossEntropy(Forward(x), null!);"))));

    [Fact]
    public void DSL107_fires_on_targets_that_are_not_the_loss_parameter() =>
        Assert.Contains("must be the loss method's Labels parameter", Message(Fires("DSL107", Valid.Replace(
            "Ops.SoftmaxCrossEntropy(Forward(x), y)", "[|Ops.SoftmaxCrossEntropy(Forward(x), new Labels(default))|]"))));

    [Fact]
    public void DSL107_fires_on_mean_squared_error_of_labels() =>
        // Does not bind (CS1503), but it is the loss's wrong target type, with the docs' message.
        Assert.EndsWith("the second argument of Ops.MeanSquaredError must be the loss method's Tensor parameter", Message(Fires("DSL107", Valid.Replace(
            "Ops.SoftmaxCrossEntropy(Forward(x), y)", "[|Ops.MeanSquaredError(Forward(x), y)|]"))));

    [Fact]
    public void DSL107_near_miss_mean_squared_error_on_tensor_targets() => Clean(Valid.Replace(
        "Loss(Tensor x, Labels y) => Ops.SoftmaxCrossEntropy(Forward(x), y)", "Loss(Tensor x, Tensor y) => Ops.MeanSquaredError(Forward(x), y)"));

    internal const string Pairs = """
        [Model(Batch = 8, Sequence = 4)]
        public partial class P
        {
            [Embedding(Vocabulary = 10, Dim = 20)] public partial Tensor E(Tensor ids);
            [MeanPool] public partial Tensor Pool(Tensor x, Tensor ids);
            public Tensor Forward(Tensor ids) => Pool(E(ids), ids);
            [Loss] public Scalar Loss(Tensor ids, Scores s) => Ops.CoSent(Forward(ids), s, lambda: 20);
        }
        """;

    [Fact]
    public void DSL107_fires_on_a_flood_inside_a_flood() =>
        Assert.Contains("Ops.Flood must wrap one loss op", Message(Fires("DSL107", Valid.Replace(
            "Ops.SoftmaxCrossEntropy(Forward(x), y)", "[|Ops.Flood(Ops.Flood(Ops.SoftmaxCrossEntropy(Forward(x), y), 0.1), 0.2)|]"))));

    [Fact]
    public void DSL107_fires_on_a_pair_loss_over_unpooled_sequences() =>
        Assert.Contains("pool the sequence first", Message(Fires("DSL107", Pairs
            .Replace("[MeanPool] public partial Tensor Pool(Tensor x, Tensor ids);", "")
            .Replace("Pool(E(ids), ids)", "E(ids)")
            .Replace("Ops.CoSent(Forward(ids), s, lambda: 20)", "[|Ops.CoSent(Forward(ids), s, lambda: 20)|]"))));

    [Fact]
    public void DSL107_near_miss_a_pooled_model_with_a_row_loss_classifies_or_regresses_sequences() => Clean(Pairs
            .Replace("Loss(Tensor ids, Scores s) => Ops.CoSent(Forward(ids), s, lambda: 20)", "Loss(Tensor ids, Labels y) => Ops.FocalLoss(Forward(ids), y)")
        + Pairs.Replace("class P", "class P2")
            .Replace("Loss(Tensor ids, Scores s) => Ops.CoSent(Forward(ids), s, lambda: 20)", "Loss(Tensor ids, Tensor t) => Ops.MeanSquaredError(Forward(ids), t)"));

    [Fact]
    public void DSL107_near_miss_every_new_loss_and_a_pooled_pair_model() => Clean(Pairs + Valid
        .Replace("Ops.SoftmaxCrossEntropy(Forward(x), y)", "Ops.Flood(Ops.TaiLr(Forward(x), y, 0.5, 0.1), 0.05)")
        + Valid.Replace("class M", "class M2").Replace("Ops.SoftmaxCrossEntropy(Forward(x), y)", "Ops.LogitAdjustedCrossEntropy(Forward(x), y, 1, [0.4, 0.3, 0.2, 0.1])")
        + Valid.Replace("class M", "class M3").Replace("Ops.SoftmaxCrossEntropy(Forward(x), y)", "Ops.SoftmaxCrossEntropy(Forward(x), y, smoothing: 0.1)")
        + Pairs.Replace("class P", "class P2").Replace("Ops.CoSent(Forward(ids), s, lambda: 20)", "Ops.CosineMse(Forward(ids), s)"));

    [Fact]
    public void DSL102_fires_on_a_non_constant_loss_hyper_parameter() =>
        Assert.Contains("the non-constant lambda", Message(Fires("DSL102", Pairs
            .Replace("Ops.CoSent(Forward(ids), s, lambda: 20)", "Ops.CoSent(Forward(ids), s, [|lambda: Lambda|])")
            .Replace("public Tensor Forward", "public double Lambda { get; set; } = 20;\n    public Tensor Forward"))));

    [Fact]
    public void DSL102_fires_on_mean_pool_ids_that_are_not_the_input() =>
        Assert.Contains("pass the model's input token ids", Message(Fires("DSL102", Pairs
            .Replace("Pool(E(ids), ids)", "Pool(E(ids), [|E(ids)|])"))));

    // ---- DSL108 ---------------------------------------------------------------------------------

    [Fact]
    public void DSL108_fires_on_a_module_inside_a_module() =>
        Assert.Contains("Member 'Inner' of module 'Outer' is a module", Message(Fires("DSL108", Block + """
            [Module]
            public partial class Outer
            {
                public partial Block [|Inner|] { get; }
                [Relu] public partial Tensor Act(Tensor x);
                public Tensor Forward(Tensor x) => Act(x);
            }
            """)));

    [Fact]
    public void DSL108_near_miss_module_on_the_model() => Clean(Block + Valid.Replace(
        "[Dense(Out = 4)] public partial Tensor A(Tensor x);", "public partial Block First { get; }\n    [Dense(Out = 4)] public partial Tensor A(Tensor x);")
        .Replace("S(A(x)) + A(x) * 2", "S(A(First.Forward(x)))"));

    // ---- DSL110 ---------------------------------------------------------------------------------

    [Fact]
    public void DSL110_fires_on_a_static_module_property_with_a_setter() =>
        Assert.Contains("Module property 'Blocks' cannot be implemented by the generator: it is static", Message(Fires("DSL110", Block + Valid.Replace(
            "[Dense(Out = 4)] public partial Tensor A(Tensor x);", "[Repeat(2)] public static partial Block[] [|Blocks|] { get; set; }\n    [Dense(Out = 4)] public partial Tensor A(Tensor x);"))));

    [Fact]
    public void DSL110_fires_on_a_module_property_that_is_not_partial() =>
        Assert.Contains("it is not declared partial", Message(Fires("DSL110", Block + Valid.Replace(
            "[Dense(Out = 4)] public partial Tensor A(Tensor x);", "public Block [|First|] { get; } = null!;\n    [Dense(Out = 4)] public partial Tensor A(Tensor x);"))));

    [Fact]
    public void DSL110_fires_on_a_generic_model() =>
        Assert.Contains("[Model] type 'M' cannot be implemented by the generator: it is generic", Message(Fires("DSL110",
            Valid.Replace("public partial class M", "public partial class [|M|]<T>"))));

    [Fact]
    public void DSL110_near_miss_private_repeat_property() => Clean(Block.Replace("x + Up(x)", "Up(x)") + Valid.Replace(
        "[Dense(Out = 4)] public partial Tensor A(Tensor x);", "[Repeat(2)] partial Block[] Blocks { get; }\n    [Dense(Out = 4)] public partial Tensor A(Tensor x);")
        .Replace("public Tensor Forward(Tensor x) => S(A(x)) + A(x) * 2;", "public Tensor Forward(Tensor x) { foreach (var b in Blocks) x = b.Forward(x); return S(A(x)); }"));

    // ---- DSL210 ---------------------------------------------------------------------------------

    [Fact]
    public void DSL210_fires_on_dense_out_int_max() =>
        Assert.Contains("Layer 'A': Out is 2147483647, but the DSL's limit is 1048576 (2^20)", Message(Fires("DSL210", Valid.Replace("Dense(Out = 4)", "Dense([|Out = 2147483647|])"))));

    [Fact]
    public void DSL210_fires_on_a_repeat_of_int_max_blocks() =>
        Assert.Contains("the block count is 2147483647, but the DSL's limit is 1024 (2^10)", Message(Fires("DSL210", Block + Valid.Replace(
            "[Dense(Out = 4)] public partial Tensor A(Tensor x);", "[[|Repeat(2147483647)|]] public partial Block[] Blocks { get; }\n    [Dense(Out = 4)] public partial Tensor A(Tensor x);")
            .Replace("public Tensor Forward(Tensor x) => S(A(x)) + A(x) * 2;", "public Tensor Forward(Tensor x) { foreach (var b in Blocks) x = b.Forward(x); return S(A(x)); }"))));

    [Fact]
    public void DSL210_fires_on_rows_whose_product_overflows() =>
        Assert.Contains("Batch × Sequence (the rows of a step) is 68719476736, but the DSL's limit is 16777216 (2^24)", Message(Fires("DSL210", """
            [[|Model(Batch = 65536, Sequence = 1048576)|]]
            public partial class T
            {
                [Embedding(Vocabulary = 10, Dim = 8)] public partial Tensor E(Tensor ids);
                public Tensor Forward(Tensor ids) => E(ids);
            }
            """)));

    [Fact]
    public void DSL210_fires_on_an_arena_above_its_limit() =>
        // By hand: 2^24 rows × (20 input + 6 values of 4 + 6 gradients of 4) = 68 × 2^24, plus 6 × 96 for the
        // parameter region (A's 80 weights and 4-bias aligned to 16), its gradients and 4 state slots.
        Assert.Contains("the arena (parameters, their gradients, 4 optimizer-state slots per parameter, the activations and their gradients) is 1140851264 elements, but the DSL's limit is 1073741824 (2^30)",
            Message(Fires("DSL210", Valid.Replace("[Model(Batch = 8, Input = 20)]", "[[|Model(Batch = 16777216, Input = 20)|]]").Replace("A(x) * 2", "A(x) * 2 + A(x) * 3"))));

    [Fact]
    public void DSL210_near_miss_at_the_largest_batch() => Clean(Valid.Replace("Batch = 8", "Batch = 16777216"));

    // ---- DSL201 ---------------------------------------------------------------------------------

    [Fact]
    public void DSL201_fires_on_the_in_argument()
    {
        var d = Fires("DSL201", Valid.Replace("Dense(Out = 4)", "Dense(Out = 4, [|In = 30|])"));
        Assert.Equal("Dense layer 'A' declares In = 30, but its input has 20 features", Message(d));
        Assert.Equal("In", d.Properties[DiagnosticCatalog.ArgumentProperty]);
        Assert.Equal("20", d.Properties[DiagnosticCatalog.ValueProperty]);
    }

    [Fact]
    public void DSL201_fires_in_a_module_with_the_width_from_the_model()
    {
        var d = Fires("DSL201", Block.Replace("Dense(Out = 20)", "Dense(Out = 20, [|In = 8|])") + Valid.Replace(
            "[Dense(Out = 4)] public partial Tensor A(Tensor x);", "public partial Block First { get; }\n    [Dense(Out = 4)] public partial Tensor A(Tensor x);")
            .Replace("S(A(x)) + A(x) * 2", "S(A(First.Forward(x)))"));
        Assert.Equal("20", d.Properties[DiagnosticCatalog.ValueProperty]);
    }

    [Fact]
    public void DSL201_near_miss_matching_in() => Clean(Valid.Replace("Dense(Out = 4)", "Dense(Out = 4, In = 20)"));

    // ---- DSL202 ---------------------------------------------------------------------------------

    [Fact]
    public void DSL202_fires_on_an_add_of_different_widths() =>
        Assert.Contains("4 features to one of 20", Message(Fires("DSL202", Valid.Replace("S(A(x)) + A(x) * 2", "[|S(A(x)) + x|]"))));

    [Fact]
    public void DSL202_near_miss_add_of_equal_widths() => Clean(Valid.Replace("S(A(x)) + A(x) * 2", "S(A(x)) + A(x)"));

    // ---- DSL203 ---------------------------------------------------------------------------------

    private const string Shared = """
        [Model(Batch = 8, Input = 20)]
        public partial class M
        {
            [Dense(Out = 4)] public partial Tensor A(Tensor x);
            [Dense(Out = 10)] public partial Tensor D(Tensor x);
            public Tensor Forward(Tensor x) => A(x) + A(D(x));
            [Loss] public Scalar Loss(Tensor x, Labels y) => Ops.SoftmaxCrossEntropy(Forward(x), y);
        }
        """;

    [Fact]
    public void DSL203_fires_on_a_layer_reused_at_another_width() =>
        Assert.Equal("Layer 'A' is called with 10 input features here but with 20 features earlier; a layer's weights have one shape",
            Message(Fires("DSL203", Shared.Replace("A(x) + A(D(x))", "A(x) + [|A(D(x))|]"))));

    [Fact]
    public void DSL203_near_miss_reused_at_the_same_width() => Clean(Shared.Replace("Dense(Out = 10)", "Dense(Out = 20)"));

    // ---- DSL204–DSL207: sequence models -------------------------------------------------------

    internal const string Attention = """
        [Model(Batch = 2, Input = 6, Sequence = 8)]
        public partial class M
        {
            [Dense(Out = 12)] public partial Tensor In(Tensor x);
            [Attention(Heads = 4, Causal = true, Rope = true)] public partial Tensor Attend(Tensor x);
            [Dense(Out = 3)] public partial Tensor Head(Tensor x);
            public Tensor Forward(Tensor x) => Head(Attend(In(x)));
            [Loss] public Scalar Loss(Tensor x, Labels y) => Ops.SoftmaxCrossEntropy(Forward(x), y);
        }
        """;

    [Fact]
    public void DSL204_fires_on_heads_that_do_not_divide_the_width() =>
        Assert.Equal("Attention 'Attend' has 5 heads, which do not divide its input width 12; change Heads or set ValueSize (and KeySize) explicitly",
            Message(Fires("DSL204", Attention.Replace("Heads = 4", "[|Heads = 5|]"))));

    [Fact]
    public void DSL204_near_miss_explicit_value_size() => Clean(Attention.Replace("Heads = 4", "Heads = 5, ValueSize = 2"));

    [Fact]
    public void DSL205_fires_on_an_odd_rotary_dimension()
    {
        var d = Fires("DSL205", Attention.Replace("Rope = true", "Rope = true, [|RotaryDim = 3|]"));
        Assert.Equal("Attention 'Attend' rotates 3 dimensions per head; RoPE needs an even number no larger than the key size 3", Message(d));
        Assert.Equal("2", d.Properties[DiagnosticCatalog.ValueProperty]);
    }

    [Fact]
    public void DSL205_fires_on_an_odd_key_size_rotated_whole() =>
        Assert.Contains("rotates 3 dimensions", Message(Fires("DSL205", Attention.Replace("[Attention(Heads = 4, Causal = true, Rope = true)]", "[[|Attention(Heads = 4, Causal = true, Rope = true)|]]"))));

    [Fact]
    public void DSL205_near_miss_even_partial_rotation() => Clean(Attention.Replace("Heads = 4", "Heads = 3").Replace("Rope = true", "Rope = true, RotaryDim = 2"));

    [Fact]
    public void DSL106_fires_on_alibi_without_causal() =>
        Assert.Equal("Layer 'Attend': Alibi must be false unless Causal is set (bidirectional ALiBi cannot tell left from right), but it is true",
            Message(Fires("DSL106", Attention.Replace("Causal = true, Rope = true", "[|Alibi = true|]"))));

    [Fact]
    public void DSL106_fires_on_alibi_with_talking_heads() =>
        Assert.Contains("TalkingHeads", Message(Fires("DSL106", Attention.Replace("Rope = true", "TalkingHeads = true, [|Alibi = true|]"))));

    [Fact]
    public void DSL106_near_miss_causal_alibi() => Clean(Attention.Replace("Rope = true", "Alibi = true"));

    internal const string Tied = """
        [Model(Batch = 2, Sequence = 4)]
        public partial class M
        {
            [Embedding(Vocabulary = 10, Dim = 24)] public partial Tensor Tokens(Tensor ids);
            [Dense(Out = 10, Bias = false, Tied = nameof(Tokens))] public partial Tensor Head(Tensor x);
            public Tensor Forward(Tensor ids) => Head(Tokens(ids));
            [Loss] public Scalar Loss(Tensor ids, Labels y) => Ops.SoftmaxCrossEntropy(Forward(ids), y);
        }
        """;

    [Fact]
    public void DSL206_fires_on_a_tied_head_with_another_vocabulary() =>
        Assert.Equal("Layer 'Head' is tied to embedding 'Tokens': its Out (the vocabulary) is 9, but the embedding table's is 10",
            Message(Fires("DSL206", Tied.Replace("Out = 10,", "[|Out = 9|],"))));

    [Fact]
    public void DSL206_near_miss_matching_shapes() => Clean(Tied);

    internal const string Stack = """
        [Module]
        public partial class Shrink
        {
            [Dense(Out = 6)] public partial Tensor Down(Tensor x);
            public Tensor Forward(Tensor x) => Down(x);
        }

        [Model(Batch = 2, Input = 6)]
        public partial class M
        {
            [Repeat(3)] public partial Shrink[] Blocks { get; }
            [Dense(Out = 3)] public partial Tensor Head(Tensor x);
            public Tensor Forward(Tensor x)
            {
                foreach (var block in Blocks) x = block.Forward(x);
                return Head(x);
            }
            [Loss] public Scalar Loss(Tensor x, Labels y) => Ops.SoftmaxCrossEntropy(Forward(x), y);
        }
        """;

    [Fact]
    public void DSL207_fires_on_a_block_that_changes_the_width() =>
        Assert.Equal("Block 'Blocks.0' of a [Repeat] stack maps 6 features to 4; every block of a stack must keep its input's shape",
            Message(Fires("DSL207", Stack.Replace("Dense(Out = 6)", "Dense(Out = 4)").Replace("in Blocks)", "in [|Blocks|])"))));

    [Fact]
    public void DSL207_near_miss_width_kept() => Clean(Stack);

    // ---- DSL301 ---------------------------------------------------------------------------------

    [Fact]
    public void DSL301_fires_on_the_attribute_argument()
    {
        var d = Fires("DSL301", Valid.Replace("SquarePlus(B = 1)", "SquarePlus([|B = 0|])"));
        Assert.Contains("SquarePlus 'S' has b = 0", Message(d));
        Assert.Equal("4", d.Properties[DiagnosticCatalog.ValueProperty]);
    }

    [Fact]
    public void DSL301_fires_on_the_ops_argument() =>
        Assert.Contains("has b = -1", Message(Fires("DSL301", Valid.Replace("S(A(x)) + A(x) * 2", "Ops.SquarePlus(A(x), [|-1|])"))));

    [Fact]
    public void DSL301_near_miss_small_positive_b() => Clean(Valid.Replace("SquarePlus(B = 1)", "SquarePlus(B = 1e-3)"));

    // ---- DSL302–DSL309: scaling rules (SEEDS §2) ------------------------------------------------

    /// <summary>The nanoGPT "baby" shape: width 128, 4 heads of 32, sequence 64, a tied head.</summary>
    internal const string Gpt = """
        [Model(Batch = 2, Sequence = 64)]
        public partial class M
        {
            [Embedding(Vocabulary = 65, Dim = 128)] public partial Tensor Tokens(Tensor ids);
            [Attention(Heads = 4, Causal = true)] public partial Tensor Attend(Tensor x);
            [Dense(Out = 65, Bias = false, Tied = nameof(Tokens))] public partial Tensor Head(Tensor x);
            public Tensor Forward(Tensor ids) => Head(Attend(Tokens(ids)));
            [Loss] public Scalar Loss(Tensor ids, Labels next) => Ops.SoftmaxCrossEntropy(Forward(ids), next);
        }
        """;

    private static string Literal(double value) => value.ToString("R", CultureInfo.InvariantCulture);

    [Fact]
    public void Gpt_base_is_clean() => Clean(Gpt);

    [Fact]
    public void DSL302_fires_on_a_scale_from_the_model_width()
    {
        var d = Fires("DSL302", Gpt.Replace("Causal = true", "Causal = true, [|Scale = " + Literal(1 / System.Math.Sqrt(128)) + "|]"));
        Assert.Equal("Attention 'Attend' scales logits by 0.08839 = 1/√128 (the model width d_model); its key size per head is 32, so 1/√32 = 0.1768", Message(d));
        Assert.Equal(1 / System.Math.Sqrt(32), double.Parse(d.Properties[DiagnosticCatalog.ValueProperty]!, CultureInfo.InvariantCulture));
        Assert.Equal("Scale", d.Properties[DiagnosticCatalog.RemoveProperty]);
    }

    [Fact]
    public void DSL302_fires_on_a_scale_from_the_head_split_when_the_key_size_differs() =>
        Assert.Contains("1/√32 (d_model / heads); its key size per head is 64, so 1/√64 = 0.125",
            Message(Fires("DSL302", Gpt.Replace("Causal = true", "Causal = true, KeySize = 64, [|Scale = 0.1767767|]"))));

    [Fact]
    public void DSL302_near_miss_scale_from_the_key_size() =>
        Clean(Gpt.Replace("Causal = true", "Causal = true, Scale = " + Literal(1 / System.Math.Sqrt(32))));

    [Fact]
    public void DSL303_fires_on_an_unscaled_softmax_with_default_init()
    {
        var d = Fires("DSL303", Gpt.Replace("Causal = true", "Causal = true, [|Scale = 1|]"));
        Assert.Equal("Attention 'Attend' scales logits by 1: with key size 32 and initial query/key entries of std 1, its initial logits have std λ·√d·s_q·s_k ≈ 5.657 > 1, so the softmax starts close to one-hot; 1/√32 = 0.1768", Message(d));
    }

    [Fact]
    public void DSL303_near_miss_unscaled_softmax_with_reduced_init() =>
        // T5-style: no scale, but N(0, 0.02²) projections keep the initial logits small ([K-8620]).
        Clean(Gpt.Replace("Causal = true", "Causal = true, Scale = 1").Replace("Sequence = 64", "Sequence = 64, InitStd = 0.02"));

    internal const string Deep = """
        [Module]
        public partial class Deep
        {
            [DeepNorm(Alpha = 2.2134, Beta = 0.3195)] public partial Tensor Skip(Tensor x);
            [Dense(Out = 16)] public partial Tensor Up(Tensor x);
            [Dense(Out = 8)] public partial Tensor Down(Tensor x);
            [LayerNorm] public partial Tensor Norm(Tensor x);
            public Tensor Forward(Tensor x) => Norm(Skip(x) + Down(Ops.Relu(Up(x))));
        }

        [Model(Batch = 2, Input = 8)]
        public partial class M
        {
            [Repeat(12)] public partial Deep[] Blocks { get; }
            [Dense(Out = 3)] public partial Tensor Head(Tensor x);
            public Tensor Forward(Tensor x)
            {
                foreach (var block in Blocks) x = block.Forward(x);
                return Head(x);
            }
            [Loss] public Scalar Loss(Tensor x, Labels y) => Ops.SoftmaxCrossEntropy(Forward(x), y);
        }
        """;

    [Fact]
    public void DSL304_fires_on_constants_for_another_depth()
    {
        var d = Fires("DSL304", Deep.Replace("Repeat(12)", "Repeat(6)").Replace("[DeepNorm(Alpha = 2.2134, Beta = 0.3195)]", "[[|DeepNorm(Alpha = 2.2134, Beta = 0.3195)|]]"));
        Assert.Equal("DeepNorm 'Blocks.0.Skip' uses α = 2.213 and β = 0.3195, but for N = 6 stacked blocks DeepNet gives α = (2N)^¼ = 1.861 and β = (8N)^−¼ = 0.3799", Message(d));
        Assert.Equal("Alpha", d.Properties[DiagnosticCatalog.ArgumentProperty]);
        Assert.Equal("Beta", d.Properties[DiagnosticCatalog.ArgumentProperty + "2"]);
    }

    [Fact]
    public void DSL304_fires_on_the_one_argument_that_is_off() =>
        Assert.Contains("uses α = 3 and β = 0.3195", Message(Fires("DSL304", Deep.Replace("Alpha = 2.2134", "[|Alpha = 3|]"))));

    [Fact]
    public void DSL304_near_miss_constants_of_the_declared_depth() => Clean(Deep);

    [Fact]
    public void DSL304_near_miss_su_adam_constants() =>
        // α = (2N)^½, β = (2N)^−½: Su's Adam-specific table in [K-8978].
        Clean(Deep.Replace("Alpha = 2.2134, Beta = 0.3195", "Alpha = 4.899, Beta = 0.2041"));

    internal const string Mlp = """
        [Model(Batch = 8, Input = 100, InitStd = 0.1)]
        public partial class M
        {
            [Dense(Out = 50)] public partial Tensor Hidden(Tensor x);
            [Relu] public partial Tensor Act(Tensor x);
            [Dense(Out = 3)] public partial Tensor Head(Tensor x);
            public Tensor Forward(Tensor x) => Head(Act(Hidden(x)));
            [Loss] public Scalar Loss(Tensor x, Labels y) => Ops.SoftmaxCrossEntropy(Forward(x), y);
        }
        """;

    [Fact]
    public void DSL305_fires_on_lecun_variance_before_a_relu() =>
        Assert.Equal("Dense 'Hidden' is initialised with variance InitStd² = 0.01 = 1/fan_in (fan_in = 100) and feeds a ReLU-family activation (Relu), which needs 2/fan_in = 0.02 (std 0.1414)",
            Message(Fires("DSL305", Mlp.Replace("InitStd = 0.1", "[|InitStd = 0.1|]"))));

    [Fact]
    public void DSL305_fires_on_he_variance_before_a_linear_output() =>
        Assert.Contains("Dense 'Head' is initialised with variance InitStd² = 0.04 = 2/fan_in (fan_in = 50) and feeds no activation (a linear output), which needs 1/fan_in",
            Message(Fires("DSL305", Mlp.Replace("InitStd = 0.1", "[|InitStd = 0.2|]"))));

    [Fact]
    public void DSL305_near_miss_he_variance_before_a_relu() => Clean(Mlp.Replace("InitStd = 0.1", "InitStd = 0.1414"));

    internal const string Words = """
        [Model(Batch = 2, Sequence = 4)]
        public partial class M
        {
            [Embedding(Vocabulary = 30000, Dim = 64)] public partial Tensor Tokens(Tensor ids);
            [Dense(Out = 3)] public partial Tensor Head(Tensor x);
            public Tensor Forward(Tensor ids) => Head(Tokens(ids));
            [Loss] public Scalar Loss(Tensor ids, Labels y) => Ops.SoftmaxCrossEntropy(Forward(ids), y);
        }
        """;

    [Fact]
    public void DSL306_fires_below_the_word_vector_floor()
    {
        var d = Fires("DSL306", Words.Replace("Dim = 64", "[|Dim = 64|]"));
        Assert.Equal(DiagnosticSeverity.Info, d.Severity);
        Assert.Equal("Embedding 'Tokens' has Dim = 64 for a vocabulary of 30000; the word-vector estimate asks for Dim > 8.31·ln 30000 = 85.69", Message(d));
    }

    [Fact]
    public void DSL306_near_miss_just_above_the_floor() => Clean(Words.Replace("Dim = 64", "Dim = 86"));

    [Fact]
    public void DSL307_fires_on_a_key_size_below_the_head_width_and_the_sequence() =>
        Assert.StartsWith("Attention 'Attend' has key size 8, below its value size 32 and the 64 keys a query attends",
            Message(Fires("DSL307", Gpt.Replace("Causal = true", "Causal = true, [|KeySize = 8|]"))));

    [Fact]
    public void DSL307_near_miss_the_usual_head_width_below_the_sequence() =>
        // SEEDS' literal trigger (key size < sequence) holds here, as in BERT and GPT-2; see docs/diagnostics/DSL307.md.
        Clean(Gpt.Replace("Causal = true", "Causal = true, KeySize = 32"));

    [Fact]
    public void DSL308_fires_on_more_classes_than_width_plus_one() =>
        Assert.Equal("Dense 'Head' scores 10 classes from 8 features (more than 8 + 1): a class whose weight vector lies inside the convex hull of the others can never be the argmax; its bias can rescue such classes",
            Message(Fires("DSL308", """
                [Model(Batch = 8, Input = 8)]
                public partial class M
                {
                    [Dense([|Out = 10|])] public partial Tensor Head(Tensor x);
                    public Tensor Forward(Tensor x) => Head(x);
                    [Loss] public Scalar Loss(Tensor x, Labels y) => Ops.SoftmaxCrossEntropy(Forward(x), y);
                }
                """)));

    [Fact]
    public void DSL308_near_miss_width_plus_one_classes() => Clean("""
        [Model(Batch = 8, Input = 8)]
        public partial class M
        {
            [Dense(Out = 9)] public partial Tensor Head(Tensor x);
            public Tensor Forward(Tensor x) => Head(x);
            [Loss] public Scalar Loss(Tensor x, Labels y) => Ops.SoftmaxCrossEntropy(Forward(x), y);
        }
        """);

    [Fact]
    public void DSL308_near_miss_regression_output() => Clean("""
        [Model(Batch = 8, Input = 8)]
        public partial class M
        {
            [Dense(Out = 10)] public partial Tensor Head(Tensor x);
            public Tensor Forward(Tensor x) => Head(x);
            [Loss] public Scalar Loss(Tensor x, Tensor y) => Ops.MeanSquaredError(Forward(x), y);
        }
        """);

    [Fact]
    public void DSL309_fires_on_a_window_beyond_the_sequence()
    {
        var d = Fires("DSL309", Gpt.Replace("Causal = true", "Causal = true, [|Window = 100|]"));
        Assert.Equal("Attention 'Attend' has Window = 100, larger than the training length Sequence = 64, so it restricts nothing; the local-attention baseline uses Window = 64", Message(d));
        Assert.Equal("64", d.Properties[DiagnosticCatalog.ValueProperty]);
    }

    [Fact]
    public void DSL309_near_miss_window_of_the_training_length() => Clean(Gpt.Replace("Causal = true", "Causal = true, Window = 64"));

    /// <summary>DeepNorm's skip in a Pre-LN block: the sum goes on to the next block un-normalised.</summary>
    private static string PreLn(string deepNorm) => Deep
        .Replace("[DeepNorm(Alpha = 2.2134, Beta = 0.3195)]", deepNorm)
        .Replace("public Tensor Forward(Tensor x) => Norm(Skip(x) + Down(Ops.Relu(Up(x))));", "public Tensor Forward(Tensor x) => Skip(x) + Down(Ops.Relu(Up(Norm(x))));");

    [Fact]
    public void DSL310_fires_on_the_derived_alpha_in_a_pre_ln_block()
    {
        var d = Fires("DSL310", PreLn("[[|DeepNorm|]]"));
        Assert.StartsWith("DeepNorm 'Blocks.0.Skip' weights the skip by α = 2.213, but the sum it feeds is used without a LayerNorm after it (Pre-LN)", Message(d));
        Assert.Equal("1", d.Properties[DiagnosticCatalog.ValueProperty]);
    }

    [Fact]
    public void DSL310_fires_on_the_alpha_argument() =>
        Fires("DSL310", PreLn("[DeepNorm([|Alpha = 2.2134|], Beta = 0.3195)]"));

    [Fact]
    public void DSL310_near_miss_alpha_one_in_a_pre_ln_block() => Clean(PreLn("[DeepNorm(Alpha = 1)]"));

    [Fact]
    public void DSL311_fires_on_another_rope_base()
    {
        var d = Fires("DSL311", Gpt.Replace("Causal = true", "Causal = true, Rope = true, [|RopeBase = 500000|]"));
        Assert.Equal(DiagnosticSeverity.Info, d.Severity);
        Assert.StartsWith("Attention 'Attend' uses RoPE base 500000, not RoFormer's 10000", Message(d));
    }

    [Fact]
    public void DSL311_near_miss_explicit_default_base() => Clean(Gpt.Replace("Causal = true", "Causal = true, Rope = true, RopeBase = 10000"));

    internal const string Plain = """
        [Module]
        public partial class Plain
        {
            [Dense(Out = 8)] public partial Tensor Up(Tensor x);
            public Tensor Forward(Tensor x) => x + Ops.Relu(Up(x));
        }

        [Model(Batch = 2, Input = 8)]
        public partial class M
        {
            [Repeat(4)] public partial Plain[] Blocks { get; }
            [Dense(Out = 3)] public partial Tensor Head(Tensor x);
            public Tensor Forward(Tensor x)
            {
                foreach (var block in Blocks) x = block.Forward(x);
                return Head(x);
            }
            [Loss] public Scalar Loss(Tensor x, Labels y) => Ops.SoftmaxCrossEntropy(Forward(x), y);
        }
        """;

    [Fact]
    public void DSL312_fires_once_on_the_residual_add_of_an_unnormalised_stack() =>
        Assert.Equal("This residual add gives its branch weight ε = 1 in a stack of 4 residual adds with no normalisation: each multiplies the stream's second moment by about 1 + ε², about 16 over the stack; without a norm the branches need ε ≤ 1/√4 = 0.5",
            Message(Fires("DSL312", Plain.Replace("x + Ops.Relu(Up(x));", "[|x + Ops.Relu(Up(x))|];"))));

    [Fact]
    public void DSL312_near_miss_branch_scaled_by_one_over_root_n() => Clean(Plain.Replace("x + Ops.Relu(Up(x));", "x + Ops.Relu(Up(x)) * 0.5;"));

    [Fact]
    public void DSL312_near_miss_normalised_stack() => Clean(Plain
        .Replace("[Dense(Out = 8)] public partial Tensor Up(Tensor x);", "[Dense(Out = 8)] public partial Tensor Up(Tensor x);\n    [LayerNorm] public partial Tensor Norm(Tensor x);")
        .Replace("x + Ops.Relu(Up(x));", "x + Ops.Relu(Up(Norm(x)));"));

    [Fact]
    public void Scaling_rules_report_once_per_declaration_of_a_repeated_block() =>
        Assert.Single(Analyze(Compile(Header + Deep.Replace("Repeat(12)", "Repeat(6)"))).Diagnostics, d => d.Id == "DSL304");

    // ---- DSL313 ---------------------------------------------------------------------------------

    private static string WithLoss(string loss) => Valid.Replace("Ops.SoftmaxCrossEntropy(Forward(x), y)", loss);

    // ---- DSL209 ---------------------------------------------------------------------------------

    [Fact]
    public void DSL209_fires_on_priors_for_fewer_classes_than_the_logits()
    {
        // Valid's output is Dense(Out = 4): four classes.
        var d = Fires("DSL209", WithLoss("Ops.LogitAdjustedCrossEntropy(Forward(x), y, 1, [|[0.5, 0.3, 0.2]|])"));
        Assert.StartsWith("Ops.LogitAdjustedCrossEntropy declares 3 class priors, but the logits have 4 classes", Message(d));
    }

    [Fact]
    public void DSL209_near_miss_one_prior_per_class_and_no_priors() => Clean(
        WithLoss("Ops.LogitAdjustedCrossEntropy(Forward(x), y, 1, [0.4, 0.3, 0.2, 0.1])")
        + WithLoss("Ops.LogitAdjustedCrossEntropy(Forward(x), y, 1)").Replace("class M", "class M2"));

    [Fact]
    public void DSL313_fires_on_a_non_positive_cosent_lambda()
    {
        var d = Fires("DSL313", Pairs.Replace("lambda: 20", "[|lambda: 0|]"));
        Assert.StartsWith("Ops.CoSent: λ = 0, but it must be finite and > 0", Message(d));
        Assert.Equal("20", d.Properties[DiagnosticCatalog.ValueProperty]);
    }

    [Fact]
    public void DSL313_fires_on_a_negative_focal_gamma_given_by_position() =>
        Assert.StartsWith("Ops.FocalLoss: γ = -0.5, but it must be finite and ≥ 0",
            Message(Fires("DSL313", WithLoss("Ops.FocalLoss(Forward(x), y, [|-0.5|], 0.25)"))));

    [Fact]
    public void DSL313_fires_on_a_negative_focal_alpha() =>
        Assert.StartsWith("Ops.FocalLoss: α = -1, but it must be finite and ≥ 0",
            Message(Fires("DSL313", WithLoss("Ops.FocalLoss(Forward(x), y, [|alpha: -1|])"))));

    [Fact]
    public void DSL313_fires_on_label_smoothing_of_one() =>
        Assert.StartsWith("Ops.SoftmaxCrossEntropy: ε = 1, but it must be in [0, 1)",
            Message(Fires("DSL313", WithLoss("Ops.SoftmaxCrossEntropy(Forward(x), y, [|smoothing: 1.0|])"))));

    [Fact]
    public void DSL313_fires_on_a_negative_logit_adjustment_tau() =>
        Assert.StartsWith("Ops.LogitAdjustedCrossEntropy: τ = -1, but it must be finite and ≥ 0",
            Message(Fires("DSL313", WithLoss("Ops.LogitAdjustedCrossEntropy(Forward(x), y, [|-1|])"))));

    [Fact]
    public void DSL313_fires_on_a_zero_prior_element()
    {
        var d = Fires("DSL313", WithLoss("Ops.LogitAdjustedCrossEntropy(Forward(x), y, 1, [0.5, [|0|], 0.3, 0.2])"));
        Assert.StartsWith("Ops.LogitAdjustedCrossEntropy: the prior π_1 of class 1 = 0, but it must be finite and > 0", Message(d));
        Assert.False(d.Properties.ContainsKey(DiagnosticCatalog.ValueProperty));
    }

    [Fact]
    public void DSL313_fires_on_tailr_gamma_above_one() =>
        Assert.StartsWith("Ops.TaiLr: γ = 1.5, but it must be in [0, 1]",
            Message(Fires("DSL313", WithLoss("Ops.TaiLr(Forward(x), y, [|gamma: 1.5|], minWeight: 0.2)"))));

    [Fact]
    public void DSL313_fires_on_a_negative_tailr_min_weight() =>
        Assert.StartsWith("Ops.TaiLr: b = -0.1, but it must be in [0, 1]",
            Message(Fires("DSL313", WithLoss("Ops.TaiLr(Forward(x), y, 0.5, [|-0.1|])"))));

    [Fact]
    public void DSL313_fires_on_a_negative_flood_level_even_of_minus_one() =>
        Assert.StartsWith("Ops.Flood: b = -1, but it must be finite and ≥ 0",
            Message(Fires("DSL313", WithLoss("Ops.Flood(Ops.SoftmaxCrossEntropy(Forward(x), y), [|-1|])"))));

    [Fact]
    public void DSL313_blocks_generation()
    {
        var run = Analyze(Compile(Header + WithLoss("Ops.FocalLoss(Forward(x), y, -1)")));
        Assert.Contains(run.Output.SyntaxTrees, t => t.ToString().Contains("has errors in its declaration", System.StringComparison.Ordinal));
    }

    [Fact]
    public void DSL313_near_miss_every_boundary_value() => Clean(Pairs.Replace("lambda: 20", "lambda: 0.01")
        + WithLoss("Ops.FocalLoss(Forward(x), y, 0, 0)").Replace("class M", "class M1")
        + WithLoss("Ops.FocalLoss(Forward(x), y, 0.5, 2)").Replace("class M", "class M2")
        + WithLoss("Ops.SoftmaxCrossEntropy(Forward(x), y, smoothing: 0.99)").Replace("class M", "class M3")
        + WithLoss("Ops.LogitAdjustedCrossEntropy(Forward(x), y, 0, [1e-9, 1, 1, 1])").Replace("class M", "class M4")
        + WithLoss("Ops.TaiLr(Forward(x), y, 0.999, 1)").Replace("class M", "class M5")
        + WithLoss("Ops.TaiLr(Forward(x), y, 0, 0)").Replace("class M", "class M6")
        + WithLoss("Ops.Flood(Ops.SoftmaxCrossEntropy(Forward(x), y), 0)").Replace("class M", "class M7"));

    // ---- DSL314 ---------------------------------------------------------------------------------

    [Fact]
    public void DSL314_fires_on_a_level_at_ln_k_for_cross_entropy() =>
        Assert.StartsWith("Ops.Flood level b = 1.5 is at or above the loss at a uniform initial output, ln 4 = 1.386 for 4 classes",
            Message(Fires("DSL314", WithLoss("Ops.Flood(Ops.SoftmaxCrossEntropy(Forward(x), y), [|level: 1.5|])"))));

    [Fact]
    public void DSL314_fires_below_ln_k_for_focal_loss_whose_initial_loss_is_smaller() =>
        // α(1 − 1/4)^2·ln 4 = 0.25 · 0.5625 · 1.386 = 0.1949
        Assert.StartsWith("Ops.Flood level b = 0.2 is at or above the loss at a uniform initial output, α(1 − 1/4)^γ·ln 4 = 0.1949 for 4 classes",
            Message(Fires("DSL314", WithLoss("Ops.Flood(Ops.FocalLoss(Forward(x), y, 2, 0.25), [|0.2|])"))));

    [Fact]
    public void DSL314_fires_when_the_flooded_loss_is_held_in_a_local() =>
        // The rule reads the parsed spec (the loss is flooded) and the call the parser recorded, not the syntax around the loss call.
        Assert.StartsWith("Ops.Flood level b = 1.5 is at or above the loss at a uniform initial output, ln 4 = 1.386 for 4 classes",
            Message(Fires("DSL314", Valid.Replace("=> Ops.SoftmaxCrossEntropy(Forward(x), y);", "{ var loss = Ops.SoftmaxCrossEntropy(Forward(x), y); return Ops.Flood(loss, [|1.5|]); }"))));

    [Fact]
    public void DSL314_near_miss_level_just_below_the_initial_loss() => Clean(WithLoss("Ops.Flood(Ops.SoftmaxCrossEntropy(Forward(x), y), 1.38)")
        + WithLoss("Ops.Flood(Ops.FocalLoss(Forward(x), y, 2, 0.25), 0.19)").Replace("class M", "class M2"));

    [Fact]
    public void DSL314_near_miss_regression_and_pair_losses_have_no_estimate() => Clean(
        Valid.Replace("Loss(Tensor x, Labels y) => Ops.SoftmaxCrossEntropy(Forward(x), y)", "Loss(Tensor x, Tensor y) => Ops.Flood(Ops.MeanSquaredError(Forward(x), y), 100)")
        + Pairs.Replace("Ops.CoSent(Forward(ids), s, lambda: 20)", "Ops.Flood(Ops.CoSent(Forward(ids), s, lambda: 20), 100)"));

    // ---- DSL318 ---------------------------------------------------------------------------------

    [Fact]
    public void DSL318_fires_on_tailr_gamma_one() =>
        Assert.StartsWith("Ops.TaiLr with γ = 1 weights each example by w = clamp(p, 0.2, 1), so its gradient is −∇p wherever p > 0.2",
            Message(Fires("DSL318", WithLoss("Ops.TaiLr(Forward(x), y, [|gamma: 1|], minWeight: 0.2)"))));

    [Fact]
    public void DSL318_fires_without_a_clamp() =>
        Assert.Contains("−∇p everywhere", Message(Fires("DSL318", WithLoss("Ops.TaiLr(Forward(x), y, [|1|])"))));

    [Fact]
    public void DSL318_near_miss_gamma_just_below_one() => Clean(WithLoss("Ops.TaiLr(Forward(x), y, gamma: 0.999, minWeight: 0.2)"));

    // ---- DSL315, DSL316 -------------------------------------------------------------------------

    private static string Optimizer(string creation) => Valid + $$"""

        public static class Training
        {
            public static Dsl.Optimizers.Optimizer Make() => {{creation}};
        }
        """;

    [Fact]
    public void DSL315_fires_on_a_lion_learning_rate_of_adamw_size()
    {
        var d = Fires("DSL315", Optimizer("new Dsl.Optimizers.Lion([|1e-3|])"));
        Assert.StartsWith("Lion learning rate 0.001 is above AdamW's usual 0.001 / 3 = 0.000333333", Message(d));
        Assert.Contains("its weight decay (here 0.1)", Message(d));
        Assert.Equal("0.0001", d.Properties[DiagnosticCatalog.ValueProperty]);
    }

    [Fact]
    public void DSL315_fires_on_a_named_argument_inside_a_child_tuning_wrapper() =>
        Fires("DSL315", Optimizer("new Dsl.Optimizers.ChildTuningF(new Dsl.Optimizers.Lion(weightDecay: 1, [|learningRate: 0.01|]), 0.3, 1)"));

    [Fact]
    public void DSL315_near_miss_su_base_rate_and_computed_rate() => Clean(Optimizer("new Dsl.Optimizers.Lion(3e-4)")
        .Replace("class Training", "class Training1")
        + Optimizer("new Dsl.Optimizers.Lion(System.Math.Sqrt(1e-2))").Replace("class M", "class M2").Replace("class Training", "class Training2")
        + Optimizer("new Dsl.Optimizers.Lion()").Replace("class M", "class M3").Replace("class Training", "class Training3"));

    [Fact]
    public void DSL316_fires_on_a_lion_beta_of_one() =>
        Assert.StartsWith("new Lion: beta2 = 1, but it must be in [0, 1)",
            Message(Fires("DSL316", Optimizer("new Dsl.Optimizers.Lion(1e-4, 0.9, [|1|])"))));

    [Fact]
    public void DSL316_fires_on_a_child_tuning_p_of_zero() =>
        Assert.StartsWith("new ChildTuningD: p = 0, but it must be in (0, 1]",
            Message(Fires("DSL316", Optimizer("new Dsl.Optimizers.ChildTuningD(new Dsl.Optimizers.AdamW(), [|p: 0|], fisherSteps: 10)"))));

    [Fact]
    public void DSL316_fires_on_a_non_positive_lion_learning_rate_without_the_warning()
    {
        var (source, _) = Markup(Header + Optimizer("new Dsl.Optimizers.Lion(-1)"));
        var ids = Analyze(Compile(source)).Diagnostics.Select(d => d.Id).ToList();
        Assert.Equal(new[] { "DSL316" }, ids);
    }

    [Fact]
    public void DSL316_near_miss_boundary_values() => Clean(Optimizer("new Dsl.Optimizers.ChildTuningF(new Dsl.Optimizers.Lion(1e-4, 0, 0, 0), 1, 1)"));

    [Fact]
    public void DSL317_fires_on_a_positive_l2_on_adamw()
    {
        var d = Fires("DSL317", Optimizer("new Dsl.Optimizers.AdamW(1e-3, weightDecay: 0, [|l2: 0.01|])"));
        Assert.StartsWith("AdamW with l2 = 0.01 adds λ₂·θ to the gradient", Message(d));
        Assert.Contains("use the decoupled weightDecay (here 0) instead", Message(d));
    }

    [Fact]
    public void DSL317_near_miss_decoupled_decay_zero_l2_and_sgd_l2() => Clean(Optimizer("new Dsl.Optimizers.AdamW(1e-3, weightDecay: 0.1, l2: 0)")
        .Replace("class Training", "class Training1")
        + Optimizer("new Dsl.Optimizers.Sgd(0.1, l2: 0.01)").Replace("class M", "class M2").Replace("class Training", "class Training2"));

    // ---- DSL208 ---------------------------------------------------------------------------------

    private static string StepCall(string call) => Valid + $$"""

        public static class Training
        {
            public static float Step(M model, int[] y, Dsl.Optimizers.Optimizer optimizer) => {{call}};
        }
        """;

    [Fact]
    public void DSL208_fires_on_more_examples_than_the_batch()
    {
        var d = Fires("DSL208", StepCall("model.TrainStep([|new float[16 * 20]|], y, optimizer)"));
        Assert.Equal("'M.TrainStep' gets 320 input values, 16 examples; 'M' takes up to Batch = 8 examples of 20 values per step", Message(d));
    }

    [Fact]
    public void DSL208_fires_on_a_partial_example() =>
        Assert.Contains("not a whole number of examples of 20", Message(Fires("DSL208", StepCall("model.TrainStep([|new float[50]|], y, optimizer)"))));

    [Fact]
    public void DSL208_near_miss_a_full_batch_a_smaller_one_and_a_variable_size() => Clean(
        StepCall("model.TrainStep(new float[8 * 20], y, optimizer) + model.TrainStep(new float[3 * 20], y, optimizer) + model.TrainStep(new float[y.Length * 20], y, optimizer)"));

    // ---- DSL109 ---------------------------------------------------------------------------------

    internal const string NoLoss = """
        [Model(Batch = 8, Input = 20)]
        public partial class M
        {
            [Dense(Out = 4)] public partial Tensor A(Tensor x);
            public Tensor Forward(Tensor x) => A(x);
        }

        public static class Training
        {
            public static float Step(M model, float[] x, int[] y, Dsl.Optimizers.Optimizer optimizer) => MARK;
        }
        """;

    [Fact]
    public void DSL109_fires_on_the_call()
    {
        var d = Fires("DSL109", NoLoss.Replace("MARK", "[|model.TrainStep(x, y, optimizer)|]"));
        Assert.StartsWith("'M' declares no [Loss] method", Message(d));
        Assert.Single(d.AdditionalLocations);
    }

    [Fact]
    public void DSL109_fires_on_a_conditional_call() =>
        Fires("DSL109", NoLoss.Replace("MARK", "[|model?.TrainStep(x, y, optimizer)|] ?? 0"));

    [Fact]
    public void DSL109_fires_when_the_model_is_invalid_and_has_stubs() =>
        Fires("DSL109", NoLoss.Replace("MARK", "[|model.TrainStep(x, y, optimizer)|]").Replace("Batch = 8", "Batch = 0"));

    [Fact]
    public void DSL109_near_miss_model_with_a_loss() => Clean(Valid + """

        public static class Training
        {
            public static float Step(M model, float[] x, int[] y, Dsl.Optimizers.Optimizer optimizer) => model.TrainStep(x, y, optimizer);
        }
        """);

    [Fact]
    public void DSL109_near_miss_a_hand_written_train_step() => Clean(NoLoss
        .Replace("public Tensor Forward(Tensor x) => A(x);", "public Tensor Forward(Tensor x) => A(x);\n    public float TrainStep(float[] x, int[] y, Dsl.Optimizers.Optimizer o) => 0;")
        .Replace("MARK", "model.TrainStep(x, y, optimizer)"));
}
