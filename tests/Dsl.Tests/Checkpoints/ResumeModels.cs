using Dsl;

namespace Dsl.Tests.Checkpoints;

/// <summary>A small classifier without dropout, for the resume tests.</summary>
[Model(Batch = 16, Input = 12)]
public partial class ResumePlain
{
    [Dense(Out = 24)] public partial Tensor Hidden(Tensor x);
    [Relu] public partial Tensor Act(Tensor x);
    [Dense(Out = 5)] public partial Tensor Classes(Tensor x);

    public Tensor Forward(Tensor x) => Classes(Act(Hidden(x)));

    [Loss] public Scalar Loss(Tensor x, Labels y) => Ops.SoftmaxCrossEntropy(Forward(x), y);
}

/// <summary>The same classifier with dropout: a resumed run must draw the same masks.</summary>
[Model(Batch = 16, Input = 12)]
public partial class ResumeDropout
{
    [Dense(Out = 24)] public partial Tensor Hidden(Tensor x);
    [Relu] public partial Tensor Act(Tensor x);
    [Dropout(0.3)] public partial Tensor Drop(Tensor x);
    [Dense(Out = 5)] public partial Tensor Classes(Tensor x);

    public Tensor Forward(Tensor x) => Classes(Drop(Act(Hidden(x))));

    [Loss] public Scalar Loss(Tensor x, Labels y) => Ops.SoftmaxCrossEntropy(Forward(x), y);
}

/// <summary>Spectral normalisation: its power-iteration vectors are state a resume must carry.</summary>
[Model(Batch = 16, Input = 12)]
public partial class ResumeSpectral
{
    [Dense(Out = 24, SpectralNorm = true)] public partial Tensor Hidden(Tensor x);
    [Tanh] public partial Tensor Act(Tensor x);
    [Dense(Out = 5)] public partial Tensor Classes(Tensor x);

    public Tensor Forward(Tensor x) => Classes(Act(Hidden(x)));

    [Loss] public Scalar Loss(Tensor x, Labels y) => Ops.SoftmaxCrossEntropy(Forward(x), y);
}
