using Dsl.Generators.Model;

namespace Dsl.Generators.Planning;

/// <summary>What one step of the schedule does.</summary>
internal enum StepKind
{
    /// <summary>Y = X·Wᵀ (+ b) (then f, fused in the GEMM epilogue, storing z when f' needs it).</summary>
    DenseForward,
    /// <summary>Y = f(X).</summary>
    ActivationForward,
    /// <summary>Y = dropout(X) in training, a copy otherwise.</summary>
    DropoutForward,
    /// <summary>Y = X + X2.</summary>
    AddForward,
    /// <summary>Y = s·X.</summary>
    ScaleForward,
    /// <summary>Loss = mean CE(softmax(X), labels); DX = (softmax − onehot)/batch, fused.</summary>
    SoftmaxCrossEntropy,
    /// <summary>Loss = mean (X − T)²; DX = 2(X − T)/n, fused.</summary>
    MeanSquaredError,
    /// <summary>DZ = DY ⊙ f'(z) in place (when fused), GW (+)= DZᵀ·X, GB (+)= Σ DZ, DX (+)= DZ·W.</summary>
    DenseBackward,
    /// <summary>DX (+)= DY ⊙ f'(X).</summary>
    ActivationBackward,
    /// <summary>DX (+)= mask ⊙ DY / (1 − p).</summary>
    DropoutBackward,
    /// <summary>DX (+)= DY; DX2 (+)= DY.</summary>
    AddBackward,
    /// <summary>DX (+)= s·DY.</summary>
    ScaleBackward,
}

/// <summary>
/// One step of the forward or backward schedule. Offsets are element offsets into the arena,
/// −1 when absent; widths are features per row (rows = the run-time batch).
/// </summary>
internal sealed record PlanStep(
    StepKind Kind,
    int Node,
    string Layer,
    ActivationKind Activation,
    double Scalar,
    int In,
    int Out,
    int X,
    int X2,
    int Y,
    int Z,
    int W,
    int B,
    int GW,
    int GB,
    int DX,
    int DX2,
    int DY,
    bool AccumulateDX,
    bool AccumulateDX2,
    bool AccumulateParams,
    int Stream);

/// <summary>How a parameter tensor is initialised.</summary>
internal enum InitKind { Zeros, Uniform }

/// <summary>A parameter tensor's place in the arena and its initialisation.</summary>
/// <param name="Name">Checkpoint name ("Hidden.weight").</param>
/// <param name="Layer">Layer path.</param>
/// <param name="Offset">Offset of the value (the gradient is at the same offset in the gradient region).</param>
/// <param name="Rows">Rows (Out for a weight, 1 for a bias).</param>
/// <param name="Columns">Columns (In for a weight, Out for a bias).</param>
/// <param name="IsMatrix">Weight decay applies by default.</param>
/// <param name="Init">Initialisation.</param>
/// <param name="Bound">Uniform bound: U(−bound, bound).</param>
internal sealed record ParameterPlan(string Name, string Layer, int Offset, int Rows, int Columns, bool IsMatrix, InitKind Init, double Bound);

/// <summary>A buffer of the arena, for the description comment and for tests.</summary>
/// <param name="Name">What it holds.</param>
/// <param name="Offset">Arena offset.</param>
/// <param name="Rows">Rows (the maximum batch for activations).</param>
/// <param name="Columns">Columns.</param>
internal sealed record BufferPlan(string Name, int Offset, int Rows, int Columns);

/// <summary>
/// The backend-neutral plan of a valid model: one arena with offsets fixed here, the forward
/// schedule (with fusion decided) and the backward schedule (with overwrite-or-accumulate decided
/// per gradient). Emitters print it and decide nothing.
/// </summary>
internal sealed record ModelPlan(
    ModelSpec Model,
    EquatableArray<ParameterPlan> Parameters,
    int ParameterCount,
    int ParameterRegion,
    int GradientOffset,
    int StateOffset,
    int StateSlots,
    EquatableArray<BufferPlan> Buffers,
    int InputOffset,
    int TargetOffset,
    int OutputOffset,
    int OutputWidth,
    int ArenaLength,
    EquatableArray<PlanStep> Forward,
    EquatableArray<PlanStep> Backward,
    EquatableArray<DenseBinding> DenseBindings);

/// <summary>Where a Dense layer's parameters are, for its eager member body.</summary>
internal sealed record DenseBinding(string Layer, int Weight, int Bias, int In, int Out);
