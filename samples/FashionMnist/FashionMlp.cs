using Dsl;

namespace FashionMnist;

/// <summary>A 784-1024-1024-10 ReLU MLP for Fashion-MNIST: the whole model is this declaration.</summary>
[Model(Batch = 128, Input = 784)]
public partial class FashionMlp
{
    [Dense(Out = 1024)] public partial Tensor Hidden1(Tensor x);
    [Relu] public partial Tensor Act1(Tensor x);
    [Dropout(0.2)] public partial Tensor Drop1(Tensor x);
    [Dense(Out = 1024)] public partial Tensor Hidden2(Tensor x);
    [Relu] public partial Tensor Act2(Tensor x);
    [Dropout(0.2)] public partial Tensor Drop2(Tensor x);
    [Dense(Out = 10)] public partial Tensor Classes(Tensor x);

    public Tensor Forward(Tensor x) => Classes(Drop2(Act2(Hidden2(Drop1(Act1(Hidden1(x)))))));

    [Loss] public Scalar Loss(Tensor x, Labels y) => Ops.SoftmaxCrossEntropy(Forward(x), y);
}
