using Dsl;

namespace Dsl.Bench;

/// <summary>The benchmark model: the Fashion-MNIST sample's MLP without dropout, so that both
/// sides do exactly the same arithmetic as the PyTorch script.</summary>
[Model(Batch = 128, Input = 784)]
public partial class BenchMlp
{
    [Dense(Out = 1024)] public partial Tensor Hidden1(Tensor x);
    [Relu] public partial Tensor Act1(Tensor x);
    [Dense(Out = 1024)] public partial Tensor Hidden2(Tensor x);
    [Relu] public partial Tensor Act2(Tensor x);
    [Dense(Out = 10)] public partial Tensor Classes(Tensor x);

    public Tensor Forward(Tensor x) => Classes(Act2(Hidden2(Act1(Hidden1(x)))));

    [Loss] public Scalar Loss(Tensor x, Labels y) => Ops.SoftmaxCrossEntropy(Forward(x), y);
}
