using Dsl;

namespace DslMlp;

/// <summary>The classifier: the whole model is this declaration. Input is the number of feature
/// columns of your CSV, the last Dense layer's Out the number of classes; the compiler checks the rest.</summary>
[Model(Batch = 64, Input = __FEATURES__)]
public partial class Classifier
{
    [Dense(Out = 64)] public partial Tensor Hidden1(Tensor x);
    [Relu] public partial Tensor Act1(Tensor x);
    [Dropout(0.1)] public partial Tensor Drop1(Tensor x);
    [Dense(Out = 64)] public partial Tensor Hidden2(Tensor x);
    [Relu] public partial Tensor Act2(Tensor x);
    [Dense(Out = __CLASSES__)] public partial Tensor Classes(Tensor x);

    public Tensor Forward(Tensor x) => Classes(Act2(Hidden2(Drop1(Act1(Hidden1(x))))));

    [Loss] public Scalar Loss(Tensor x, Labels y) => Ops.SoftmaxCrossEntropy(Forward(x), y);
}
