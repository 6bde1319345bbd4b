using System.Linq;
using Microsoft.CodeAnalysis;
using Xunit;

namespace Dsl.Generators.Tests;

/// <summary>Misuses of [Adversarial] and [SpectralNorm] become DSL106 on the attribute, naming the value.</summary>
public sealed class RegularizerDiagnosticTests
{
    private const string Tagger = """
        using Dsl;
        namespace T;

        [Model(Batch = 2, Sequence = 4)]
        public partial class M
        {
            [Embedding(Vocabulary = 6, Dim = 16)] ADV public partial Tensor Tokens(Tensor ids);
            [Dense(Out = 3)] DENSE public partial Tensor Head(Tensor x);
            public Tensor Forward(Tensor ids) => Head(Tokens(ids));
            [Loss] public Scalar Loss(Tensor ids, Labels y) => Ops.SoftmaxCrossEntropy(Forward(ids), y);
        }
        """;

    private static Diagnostic[] Diagnostics(string adversarial, string dense)
    {
        string source = Tagger.Replace("ADV", adversarial).Replace("DENSE", dense);
        var (output, _, _) = GeneratorHarness.Run(GeneratorHarness.Compile(source));
        return GeneratorHarness.Analyze(output).ToArray();
    }

    [Fact]
    public void Valid_placements_have_no_diagnostics()
    {
        Assert.Empty(Diagnostics("[Adversarial(Epsilon = 0.5)]", ""));
        Assert.Empty(Diagnostics("[Adversarial]", ""));
    }

    [Fact]
    public void Adversarial_on_a_dense_layer_is_reported()
    {
        var d = Assert.Single(Diagnostics("", "[Adversarial]"));
        Assert.Equal("DSL106", d.Id);
        Assert.Contains("on an [Embedding] layer", d.GetMessage());
        Assert.Contains("'Head'", d.GetMessage());
    }

    [Theory]
    [InlineData("0", "0")]
    [InlineData("-1.5", "-1.5")]
    [InlineData("double.PositiveInfinity", "∞")]
    public void Adversarial_epsilon_must_be_positive_and_finite(string epsilon, string shown)
    {
        var d = Assert.Single(Diagnostics($"[Adversarial(Epsilon = {epsilon})]", ""));
        Assert.Equal("DSL106", d.Id);
        Assert.Contains("Epsilon must be > 0 and finite", d.GetMessage());
        Assert.Contains(shown, d.GetMessage(System.Globalization.CultureInfo.InvariantCulture).Replace("Infinity", "∞"));
    }

    [Fact]
    public void SpectralNorm_on_a_plain_dense_is_valid_and_on_a_tied_one_is_reported()
    {
        string source = Tagger.Replace("ADV", "").Replace("[Dense(Out = 3)] DENSE", "[Dense(Out = 6, Tied = nameof(Tokens), Bias = false, SpectralNorm = true)]");
        var (output, _, _) = GeneratorHarness.Run(GeneratorHarness.Compile(source));
        var d = Assert.Single(GeneratorHarness.Analyze(output));
        Assert.Equal("DSL106", d.Id);
        Assert.Contains("SpectralNorm must be false on a layer tied to an embedding", d.GetMessage());

        string plain = Tagger.Replace("ADV", "").Replace("[Dense(Out = 3)] DENSE", "[Dense(Out = 3, SpectralNorm = true)]");
        var (plainOutput, _, _) = GeneratorHarness.Run(GeneratorHarness.Compile(plain));
        Assert.Empty(GeneratorHarness.Analyze(plainOutput));
    }

    [Fact]
    public void Adversarial_inside_a_module_is_reported()
    {
        const string source = """
            using Dsl;
            namespace T;

            [Module]
            public partial class Block
            {
                [Dense(Out = 5)] [Adversarial] public partial Tensor Up(Tensor x);
                public Tensor Forward(Tensor x) => Up(x);
            }

            [Model(Batch = 2, Input = 5)]
            public partial class M
            {
                public partial Block First { get; }
                [Dense(Out = 3)] public partial Tensor Head(Tensor x);
                public Tensor Forward(Tensor x) => Head(First.Forward(x));
                [Loss] public Scalar Loss(Tensor x, Labels y) => Ops.SoftmaxCrossEntropy(Forward(x), y);
            }
            """;
        var (output, _, _) = GeneratorHarness.Run(GeneratorHarness.Compile(source));
        var d = Assert.Single(GeneratorHarness.Analyze(output));
        Assert.Equal("DSL106", d.Id);
        Assert.Contains("in the module 'Block'", d.GetMessage());
    }
}
