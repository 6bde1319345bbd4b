using Dsl;

namespace Dsl.Tests.EndToEnd;

/// <summary>ON-LSTM's master gate, cumax, on a Dense's output that also feeds a residual path (so its input gradient
/// is accumulated from two readers), then a head and cross-entropy.</summary>
[Model(Batch = 4, Input = 6)]
public partial class CumaxNet
{
    [Dense(Out = 7)] public partial Tensor Gates(Tensor x);
    [Dense(Out = 3)] public partial Tensor Head(Tensor x);

    public Tensor Forward(Tensor x)
    {
        var h = Gates(x);
        return Head(Ops.Cumax(h) + (h * 0.5));
    }

    [Loss] public Scalar Loss(Tensor x, Labels y) => Ops.SoftmaxCrossEntropy(Forward(x), y);
}
