using System.Collections.Generic;
using Dsl.Generators.Emit;
using Dsl.Generators.Emit.Cuda;
using Dsl.Generators.Model;

namespace Dsl.Generators.Planning;

/// <summary>
/// One step of the forward or backward schedule, as the op that planned it decided it: a small record per op
/// and direction that names its buffers (X, Y, Gain, Rstd, …: element offsets into the arena, −1 when absent)
/// and sizes, and prints itself for the CPU engine (C#) and for CUDA. Printing decides nothing.
/// </summary>
/// <param name="Node">The graph node the step computes (or differentiates).</param>
/// <param name="Layer">Its layer's path, or empty.</param>
internal abstract record PlanStep(int Node, string Layer)
{
    /// <summary>The step as generated C# of <c>Engine&lt;T&gt;</c>.</summary>
    public abstract void Cpu(CpuWriter w);

    /// <summary>The step as CUDA kernels and launches.</summary>
    public abstract void Cuda(CudaWriter w);

    /// <summary>What the step fills once at initialisation (a RoPE table); nothing by default.</summary>
    public virtual void Initialize(CpuWriter w)
    {
    }

    /// <summary>The parts of the gradient region the step writes, as (arena offset, length), for data parallelism's
    /// readiness schedule; null when the step does not say (it may then write any). Default: none (no parameters).</summary>
    public virtual IReadOnlyList<(int Start, int Length)>? GradientWrites(ModelPlan plan) => System.Array.Empty<(int, int)>();

    /// <summary>The step's name in comments: the layer, else the node.</summary>
    public string Title => Layer.Length > 0 ? Layer : $"node {Literals.Int(Node)}";
}

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
    EquatableArray<LayerBinding> Bindings)
{
    /// <summary>FGM's buffers, or null without [Adversarial].</summary>
    public Ops.Adversarial.Plan? Adversarial { get; init; }

    /// <summary>Every spectrally normalised Dense layer's buffers.</summary>
    public EquatableArray<Ops.SpectralNorm.Plan> SpectralNorms { get; init; } = EquatableArray<Ops.SpectralNorm.Plan>.Empty;

    /// <summary>Offset of the learned task log-variances s_i (multi-task uncertainty weighting), or −1.</summary>
    public int TaskLogVariance { get; init; } = -1;

    /// <summary>Node id → the offset of its value (−1: none), as planned; the checking pass reads what each step wrote.</summary>
    public EquatableArray<int> Values { get; init; } = EquatableArray<int>.Empty;

    /// <summary>Node id → the offset of its gradient (−1: none).</summary>
    public EquatableArray<int> Grads { get; init; } = EquatableArray<int>.Empty;

    /// <summary>The arena's length as laid out, summed in long (saturating). <see cref="ArenaLength"/> and
    /// every offset are exact only when <see cref="FitsArena"/>; a plan that does not fit is never emitted.</summary>
    public long RequiredArenaElements { get; init; }

    /// <summary>Whether the arena is within <see cref="Rules.Limits.MaxArenaElements"/> (else DSL210 and stubs).</summary>
    public bool FitsArena => RequiredArenaElements <= Rules.Limits.MaxArenaElements;
}

/// <summary>
/// What a layer's eager member body needs (offsets into the arena and sizes), in a per-op layout
/// that the op's plan writes and <c>Dsl.Runtime.Eager</c> reads.
/// </summary>
internal sealed record LayerBinding(string Layer, EquatableArray<int> Ints, EquatableArray<double> Doubles);
