using Dsl;

namespace Dsl.Tests.EndToEnd;

/// <summary>Every activation, fused into a Dense epilogue and standalone, plus dropout, residual
/// adds, a scale and softmax cross-entropy: one model whose gradient check covers them all.</summary>
[Model(Batch = 4, Input = 6)]
public partial class AllOps
{
    [Dense(Out = 5)] public partial Tensor D1(Tensor x);
    [Dense(Out = 5)] public partial Tensor D2(Tensor x);
    [Dense(Out = 5)] public partial Tensor D3(Tensor x);
    [Dense(Out = 5)] public partial Tensor D4(Tensor x);
    [Dense(Out = 5)] public partial Tensor D5(Tensor x);
    [Dense(Out = 5)] public partial Tensor D6(Tensor x);
    [Dense(Out = 5)] public partial Tensor D7(Tensor x);
    [Dense(Out = 5)] public partial Tensor D8(Tensor x);
    [Dense(Out = 5, Bias = false)] public partial Tensor Shared(Tensor x);
    [Relu] public partial Tensor R(Tensor x);
    [Gelu] public partial Tensor G(Tensor x);
    [Gelu(Exact = true)] public partial Tensor GE(Tensor x);
    [Silu] public partial Tensor S(Tensor x);
    [Softplus] public partial Tensor SP(Tensor x);
    [SquarePlus(B = 2)] public partial Tensor SQ(Tensor x);
    [Tanh] public partial Tensor T(Tensor x);
    [Sigmoid] public partial Tensor SG(Tensor x);
    [Dropout(0.3)] public partial Tensor Drop(Tensor x);
    [Dense(Out = 3)] public partial Tensor Head(Tensor x);

    public Tensor Forward(Tensor x)
    {
        // Fused: each Dense feeds exactly one activation.
        var fused = R(D1(x)) + G(D2(x)) + GE(D3(x)) + S(D4(x)) + SP(D5(x)) + SQ(D6(x)) + T(D7(x)) + SG(D8(x));
        // Standalone: the shared value has several consumers, so nothing fuses; Shared is used twice.
        var h = Shared(fused);
        var standalone = Ops.Relu(h) + Ops.Gelu(h) + Ops.GeluExact(h) + Ops.Silu(h) + Ops.Softplus(h) + Ops.SquarePlus(h, 3) + Ops.Tanh(h) + Ops.Sigmoid(h);
        var mixed = Shared(standalone * 0.25) + fused;
        return Head(Drop(mixed));
    }

    [Loss] public Scalar Loss(Tensor x, Labels y) => Ops.SoftmaxCrossEntropy(Forward(x), y);
}

/// <summary>A residual module used twice, a Dense without bias and mean squared error.</summary>
[Module]
public partial class ResidualBlock
{
    [Dense(Out = 12)] public partial Tensor Up(Tensor x);
    [Dense(Out = 7, Bias = false)] public partial Tensor Down(Tensor x);

    public Tensor Forward(Tensor x) => x + Down(Ops.Silu(Up(x))) * 0.5;
}

[Model(Batch = 5, Input = 7)]
public partial class Regressor
{
    public partial ResidualBlock First { get; }
    public partial ResidualBlock Second { get; }
    [Dense(Out = 2)] public partial Tensor Out(Tensor x);

    public Tensor Forward(Tensor x) => Out(Second.Forward(First.Forward(x)));

    [Loss] public Scalar Loss(Tensor x, Tensor target) => Ops.MeanSquaredError(Forward(x), target);
}

/// <summary>The Fashion-MNIST sample's shape, for the allocation and training tests.</summary>
[Model(Batch = 64, Input = 784)]
public partial class WideMlp
{
    [Dense(Out = 256)] public partial Tensor Hidden1(Tensor x);
    [Relu] public partial Tensor Act1(Tensor x);
    [Dropout(0.2)] public partial Tensor Drop1(Tensor x);
    [Dense(Out = 256)] public partial Tensor Hidden2(Tensor x);
    [Gelu] public partial Tensor Act2(Tensor x);
    [Dense(Out = 10)] public partial Tensor Classes(Tensor x);

    public Tensor Forward(Tensor x) => Classes(Act2(Hidden2(Drop1(Act1(Hidden1(x))))));

    [Loss] public Scalar Loss(Tensor x, Labels y) => Ops.SoftmaxCrossEntropy(Forward(x), y);
}
