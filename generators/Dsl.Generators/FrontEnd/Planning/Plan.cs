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
internal sealed record BufferPlan(string Name, int Offset, int Rows, int Columns)
{
    /// <summary>The [Recompute] segment whose recomputed values the buffer holds, in the region every segment shares;
    /// null for a buffer of its own.</summary>
    public string? Shared { get; init; }
}

/// <summary>What a [Recompute] segment frees: the elements of its recomputed values and of their gradients (the same
/// places serve every segment), and how many forward steps its backward runs again.</summary>
/// <param name="Block">The segment's module instance ("Blocks.2").</param>
/// <param name="Values">Elements of the values (and what their ops keep beside them) computed again.</param>
/// <param name="Gradients">Elements of those values' gradients.</param>
/// <param name="Steps">Forward steps run again before the segment's backward.</param>
internal sealed record SegmentPlan(string Block, int Values, int Gradients, int Steps);

/// <summary>The start of a segment's recompute in the backward schedule: the forward steps after it are copies of the
/// forward schedule's, run again because their values were not kept. Prints a comment; the steps print themselves.</summary>
/// <param name="Block">The segment.</param>
/// <param name="Steps">How many forward steps follow.</param>
internal sealed record RecomputeStep(int Node, string Layer, string Block, int Steps) : PlanStep(Node, Layer)
{
    public override void Cpu(CpuWriter w) =>
        w.Line($"// ==== [Recompute] {Block}: its forward again ({Literals.Int(Steps)} steps, training masks replayed), since only what it reads was kept ====");

    public override void Cuda(CudaWriter w) =>
        w.W.Line($"/* ==== [Recompute] {Block}: its forward again ({Literals.Int(Steps)} steps, training masks replayed), since only what it reads was kept ==== */");
}

/// <summary>Zeroes gradients that no step of a recomputed segment writes (they are read, as zeros, by their node's
/// backward): in the shared region they would hold another segment's values.</summary>
/// <param name="Buffers">(offset, width) of [rows, width] gradients.</param>
internal sealed record ClearStep(int Node, string Layer, EquatableArray<(int Offset, int Width)> Buffers) : PlanStep(Node, Layer)
{
    public override void Cpu(CpuWriter w)
    {
        w.Line("// gradients no step of the segment writes: zero, as they are without [Recompute]");
        foreach (var (offset, width) in Buffers) w.Line($"{w.Span(offset, $"rows * {Literals.Int(width)}")}.Clear();");
    }

    public override void Cuda(CudaWriter w)
    {
        foreach (var (offset, width) in Buffers)
            w.Elementwise($"{w.Prefix}_clear", "gradients no step of the segment writes: zero, as they are without [Recompute]", width, false, $"arena[{Literals.Int(offset)} + i] = 0.0f;");
    }
}

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

    /// <summary>The [Recompute] segments, in forward order.</summary>
    public EquatableArray<SegmentPlan> Segments { get; init; } = EquatableArray<SegmentPlan>.Empty;

    /// <summary>Where the region the segments' recomputed buffers share starts, and its length (0 without segments).</summary>
    public int SharedOffset { get; init; }

    /// <summary>The shared region's length: the largest segment's values and gradients.</summary>
    public int SharedLength { get; init; }

    /// <summary>The arena's length were every value kept (the same as <see cref="ArenaLength"/> without segments).</summary>
    public int ArenaLengthWithoutRecompute { get; init; }
}

/// <summary>
/// What a layer's eager member body needs (offsets into the arena and sizes), in a per-op layout
/// that the op's plan writes and <c>Dsl.Runtime.Eager</c> reads.
/// </summary>
internal sealed record LayerBinding(string Layer, EquatableArray<int> Ints, EquatableArray<double> Doubles);
