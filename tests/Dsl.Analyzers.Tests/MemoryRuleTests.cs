using System.Globalization;
using Xunit;
using static Dsl.Analyzers.Tests.RuleTests;

namespace Dsl.Analyzers.Tests;

/// <summary>[Recompute] (SEEDS §1.7, §2 "Precision &amp; memory"): DSL321, DSL322.</summary>
public sealed class MemoryRuleTests
{
    private const string Mlp = """
        [Module]
        public partial class Mlp
        {
            [Dense(Out = 32)] public partial Tensor Up(Tensor x);
            [Relu] public partial Tensor Act(Tensor x);
            [Dense(Out = 20)] public partial Tensor Down(Tensor x);
            public Tensor Forward(Tensor x) => x + Down(Act(Up(x)));
        }

        [Module]
        public partial class NormMlp
        {
            [LayerNorm] public partial Tensor Norm(Tensor x);
            [Dense(Out = 32)] public partial Tensor Up(Tensor x);
            [Relu] public partial Tensor Act(Tensor x);
            [Dense(Out = 20)] public partial Tensor Down(Tensor x);
            public Tensor Forward(Tensor x) => x + Down(Act(Up(Norm(x))));
        }

        """;

    // A stack of several un-normed residual blocks is DSL312's: the near misses stack pre-norm blocks.
    private static string Stack(string property, string block = "Mlp") => Mlp + $$"""
        [Model(Batch = 8, Input = 20)]
        public partial class M
        {
            {{property}} public partial {{block}}[] Blocks { get; }
            [Dense(Out = 4)] public partial Tensor Head(Tensor x);
            public Tensor Forward(Tensor x)
            {
                foreach (var block in Blocks) x = block.Forward(x);
                return Head(x);
            }
            [Loss] public Scalar Loss(Tensor x, Labels y) => Ops.SoftmaxCrossEntropy(Forward(x), y);
        }
        """;

    private static string Message(Microsoft.CodeAnalysis.Diagnostic d) => d.GetMessage(CultureInfo.InvariantCulture);

    // ---- DSL321 ---------------------------------------------------------------------------------

    [Fact]
    public void DSL321_fires_on_the_model_class() =>
        Assert.Contains("[Recompute] on the model 'M' makes one segment, its whole forward", Message(Fires("DSL321", "[[|Recompute|]]\n" + Valid)));

    [Fact]
    public void DSL321_fires_on_a_single_segment_with_its_size()
    {
        // One block: Act's output (8 × 32, the fused ReLU needs no z), Down's (8 × 20) and their gradients.
        string message = Message(Fires("DSL321", Stack("[[|Recompute|], Repeat(1)]")));
        Assert.Contains("[Recompute] on 'Blocks' makes one segment, 'Blocks.0'", message);
        Assert.Contains("their own 832 elements", message);
    }

    [Fact]
    public void DSL321_near_miss_a_stack_of_two() => Clean(Stack("[Recompute, Repeat(2)]", "NormMlp"));

    // ---- DSL322 ---------------------------------------------------------------------------------

    [Fact]
    public void DSL322_fires_on_blocks_whose_activations_are_all_read_after_them()
    {
        // Each block is x + Dense(x): its only values are the Dense's output (read by the add) and the add (its result).
        string message = Message(Fires("DSL322", Block + """
            [Model(Batch = 8, Input = 20)]
            public partial class M
            {
                [[|Recompute|], Repeat(3)] public partial Block[] Blocks { get; }
                public Tensor Forward(Tensor x)
                {
                    foreach (var block in Blocks) x = block.Forward(x);
                    return x;
                }
                [Loss] public Scalar Loss(Tensor x, Labels y) => Ops.SoftmaxCrossEntropy(Forward(x), y);
            }
            """));
        Assert.Contains("[Recompute] on 'Blocks': each of its segments recomputes 160 elements of activations, as many as the 160 of the input it keeps anyway", message);
    }

    [Fact]
    public void DSL322_near_miss_blocks_with_an_inner_activation() => Clean(Stack("[Recompute, Repeat(3)]", "NormMlp"));
}
