namespace Dsl.Generators.Tests;

/// <summary>Model sources the tests feed to the generator.</summary>
internal static class Models
{
    public const string Mlp = """
        using Dsl;

        namespace Samples;

        [Model(Batch = 32, Input = 20)]
        public partial class Mlp
        {
            [Dense(Out = 16)] public partial Tensor Hidden(Tensor x);
            [Gelu] public partial Tensor Act(Tensor x);
            [Dropout(0.1)] public partial Tensor Drop(Tensor x);
            [Dense(Out = 4, Bias = false)] public partial Tensor Head(Tensor x);

            public Tensor Forward(Tensor x) => Head(Drop(Act(Hidden(x))));

            [Loss] public Scalar Loss(Tensor x, Labels y) => Ops.SoftmaxCrossEntropy(Forward(x), y);
        }
        """;

    public const string Residual = """
        using Dsl;

        namespace Samples.Deep;

        [Module]
        public partial class Block
        {
            [Dense(Out = 32)] public partial Tensor Up(Tensor x);
            [Dense(Out = 8)] public partial Tensor Down(Tensor x);

            public Tensor Forward(Tensor x)
            {
                var h = Up(x);
                return x + Down(Ops.SquarePlus(h, 2.5)) * 0.5;
            }
        }

        [Model(Batch = 16, Input = 8)]
        public partial class Regressor
        {
            public partial Block First { get; }
            public partial Block Second { get; }
            [Tanh] public partial Tensor Squash(Tensor x);
            [Dense(Out = 3)] public partial Tensor Out(Tensor x);

            public Tensor Forward(Tensor x) => Out(Squash(Second.Forward(First.Forward(x))));

            [Loss] public Scalar Loss(Tensor x, Tensor target) => Ops.MeanSquaredError(Forward(x), target);
        }
        """;
}
