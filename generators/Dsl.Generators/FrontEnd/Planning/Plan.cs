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
    /// <summary>Y[r] = W[ids[r]] (token ids from the engine's Tokens).</summary>
    EmbeddingForward,
    /// <summary>∂W[ids[r]] (+)= DY[r].</summary>
    EmbeddingBackward,
    /// <summary>Y[b, t] = X[b, t] + P[t].</summary>
    PositionForward,
    /// <summary>DX (+)= DY; ∂P[t] (+)= Σ_b DY[b, t].</summary>
    PositionBackward,
    /// <summary>Y = LayerNorm(X) (or, fused, X2 ← X + X2's addend: S = A + B then Y = LayerNorm(S)); mean and rstd kept.</summary>
    LayerNormForward,
    /// <summary>DX (+)= LayerNorm′ᵀ·DY; ∂γ, ∂β (+)= row sums.</summary>
    LayerNormBackward,
    /// <summary>Y = RMSNorm(X); rstd kept.</summary>
    RmsNormForward,
    /// <summary>DX (+)= RMSNorm′ᵀ·DY; ∂g (+)= row sums.</summary>
    RmsNormBackward,
    /// <summary>QKV projection, RoPE, attention (softmax, talking-heads or linear), output projection.</summary>
    AttentionForward,
    /// <summary>The reverse of <see cref="AttentionForward"/>.</summary>
    AttentionBackward,
    /// <summary>Y[b] = mean of X[b, t] over the positions whose token id is not the pad (Scalar): batch × Sequence rows → batch rows.</summary>
    MeanPoolForward,
    /// <summary>DX[b, t] (+)= mask · DY[b] / n_b.</summary>
    MeanPoolBackward,
    /// <summary>A loss other than plain cross-entropy/MSE, or a flooded one (the model's LossSpec says which), fused with ∂loss/∂X → DX.</summary>
    Loss,
}

/// <summary>Where an attention layer's parameters and buffers lie (all element offsets; −1 absent).</summary>
/// <param name="Options">Resolved sizes and options.</param>
/// <param name="Scale">λ for a fixed scale (1/√KeySize unless given).</param>
/// <param name="QkvWidth">Columns of the packed q|k|v buffer: 2·H·KeySize + H·ValueSize.</param>
/// <param name="Wqkv">Contiguous query, key and value weights: one [QkvWidth, In] matrix.</param>
/// <param name="Bqkv">Contiguous biases [QkvWidth], or −1.</param>
/// <param name="Wo">Output projection [Out, H·ValueSize].</param>
/// <param name="Bo">Output bias, or −1.</param>
/// <param name="PreMix">Talking-heads pre-softmax mix [H, H], or −1.</param>
/// <param name="PostMix">Talking-heads post-softmax mix [H, H], or −1.</param>
/// <param name="Qkv">Packed q|k|v activations [rows, QkvWidth] (q and k after RoPE).</param>
/// <param name="Heads">Attention output before the projection [rows, H·ValueSize].</param>
/// <param name="Stats">Per-row statistics kept for the backward [batch, H, T].</param>
/// <param name="RopeTable">cos/sin table, or −1.</param>
/// <param name="DQkv">∂ of <paramref name="Qkv"/>.</param>
/// <param name="DHeads">∂ of <paramref name="Heads"/>.</param>
internal sealed record AttentionPlan(AttentionSpec Options, double Scale, int QkvWidth, int Wqkv, int Bqkv, int Wo, int Bo, int PreMix, int PostMix,
    int Qkv, int Heads, int Stats, int RopeTable, int DQkv, int DHeads);

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
    int Stream,
    int Aux = -1,
    int Aux2 = -1,
    AttentionPlan? Attention = null,
    int X3 = -1);

/// <summary>How a parameter tensor is initialised.</summary>
internal enum InitKind { Zeros, Ones, Uniform, Normal, Identity }

/// <summary>A parameter tensor's place in the arena and its initialisation.</summary>
/// <param name="Name">Checkpoint name ("Hidden.weight").</param>
/// <param name="Layer">Layer path.</param>
/// <param name="Offset">Offset of the value (the gradient is at the same offset in the gradient region).</param>
/// <param name="Rows">Rows (Out for a weight, 1 for a bias).</param>
/// <param name="Columns">Columns (In for a weight, Out for a bias).</param>
/// <param name="IsMatrix">Weight decay applies by default.</param>
/// <param name="Init">Initialisation.</param>
/// <param name="Bound">Uniform bound U(−bound, bound), or the normal's standard deviation.</param>
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
    int Rows,
    int TargetOffset,
    int OutputOffset,
    int OutputWidth,
    int ArenaLength,
    EquatableArray<PlanStep> Forward,
    EquatableArray<PlanStep> Backward,
    EquatableArray<LayerBinding> Bindings,
    AdversarialPlan? Adversarial = null,
    EquatableArray<SpectralNormPlan> SpectralNorms = default)
{
    /// <summary>Offset of the learned task log-variances s_i (multi-task uncertainty weighting), or −1.</summary>
    public int TaskLogVariance { get; init; } = -1;
}

/// <summary>
/// What a layer's eager member body needs (offsets into the arena and sizes), in a per-kind layout
/// that the emitter prints and <c>Dsl.Runtime.Eager</c> reads: see <see cref="Planner"/>.
/// </summary>
internal sealed record LayerBinding(string Layer, EquatableArray<int> Ints, EquatableArray<double> Doubles);
