using System;
using System.Collections.Generic;
using System.Linq;
using Dsl.Generators.Model;
using Dsl.Generators.Ops;
using Dsl.Generators.Rules;

namespace Dsl.Generators.Planning;

/// <summary>
/// Turns a valid <see cref="ModelSpec"/> into a <see cref="ModelPlan"/>, as a loop over the ops: lays out the
/// arena (parameters | gradients | optimizer state | activations and their gradients), each op placing its own
/// parameters and buffers; decides fusion (a Dense with an activation that is its only consumer, in the GEMM
/// epilogue; a residual add with the norm that first reads it); and schedules the backward pass in reverse,
/// deciding for every gradient buffer whether a step overwrites it (first writer) or accumulates into it — so no
/// gradient needs zeroing before a step. The steps are the ops' own typed records.
/// </summary>
internal static class Planner
{
    /// <summary>Every buffer starts on a 64-byte boundary for float (16 elements).</summary>
    public const int Alignment = 16;

    /// <summary>Optimizer state slots reserved per parameter: AdamW's m and v plus ChildTuning-D's
    /// Fisher mask and masked-gradient scratch (Dsl.Optimizers.Optimizer.MaxStateSlots; a test keeps them equal).</summary>
    public const int StateSlots = 4;

    public static ModelPlan Create(ModelSpec model)
    {
        var plan = new PlanBuilder(model);
        Op OpOf(string name) => OpRegistry.Get(name);

        // Parameters, layer by layer (a layer pointing at another's tensor after the others), then the model's own.
        foreach (var layer in model.Layers.OrderBy(l => OpOf(l.Op).ParameterOrder(l)))
            OpOf(layer.Op).PlanParameters(plan, layer);
        foreach (var op in OpRegistry.All) op.PlanModelParameters(plan);
        plan.EndParameters();

        // Activations, their gradients (for values downstream of a parameter, when there is a loss), then extras.
        // What a [Recompute] segment computes again is planned after the rest, every segment from the same start.
        foreach (var node in model.Nodes.Where(n => !plan.Recomputed[n.Id])) OpOf(node.Op).PlanValues(plan, node);
        if (model.LossNode >= 0)
        {
            foreach (var node in model.Nodes.Where(n => plan.NeedsGrad[n.Id] && !plan.Recomputed[n.Id]))
                OpOf(node.Op).PlanGradient(plan, node);
        }

        if (model.Segments.Count > 0)
        {
            // Constant buffers of recomputed nodes (a RoPE table) go before the shared region: a first pass measures them.
            long constants = PlanShared(plan, 0);
            if (constants > 0) PlanShared(plan, constants);
        }

        foreach (var op in OpRegistry.All) op.PlanModelExtras(plan);
        foreach (var layer in model.Layers) OpOf(layer.Op).PlanExtras(plan, layer);

        // The schedules.
        foreach (var node in model.Nodes)
            if (OpOf(node.Op).Forward(plan, node) is { } step) plan.ForwardSteps.Add(step);
        if (model.LossNode >= 0)
        {
            // The fused loss steps write ∂loss/∂prediction first (one prediction per task).
            foreach (var (lossNode, _) in model.LossNodes)
                plan.Overwrites(plan.Grad[model.Nodes[lossNode].Inputs[0]]);
            int segment = -1;
            for (int id = model.Nodes.Count - 1; id >= 0; id--)
            {
                if (!plan.NeedsGrad[id]) continue;
                if (plan.SegmentOf[id] is int s and >= 0 && s != segment)
                {
                    plan.EndRecompute();
                    segment = s;
                    plan.BeginRecompute(s);
                }

                if (OpOf(model.Nodes[id].Op).Backward(plan, model.Nodes[id]) is { } step) plan.BackwardSteps.Add(step);
            }

            plan.EndRecompute();
        }

        var built = plan.Build();
        // The arena without [Recompute], for the description and the constant that compares them.
        return model.Segments.Count == 0 ? built : built with { ArenaLengthWithoutRecompute = Create(model with { Segments = EquatableArray<SegmentSpec>.Empty }).ArenaLength };
    }

    /// <summary>Plans every segment's recomputed nodes in the shared region, after <paramref name="constants"/> elements
    /// reserved for their constant buffers; returns the constant elements they asked for (a second pass with that many
    /// reserved is needed when it is more).</summary>
    private static long PlanShared(PlanBuilder plan, long constants)
    {
        var model = plan.Model;
        plan.BeginShared(constants);
        for (int s = 0; s < model.Segments.Count; s++)
        {
            var inside = model.Nodes.Where(n => plan.Recomputed[n.Id] && plan.SegmentOf[n.Id] == s).ToList();
            plan.BeginSegment();
            foreach (var node in inside) OpRegistry.Get(node.Op).PlanValues(plan, node);
            long values = plan.SegmentUsed;
            if (model.LossNode >= 0)
                foreach (var node in inside.Where(n => plan.NeedsGrad[n.Id])) OpRegistry.Get(node.Op).PlanGradient(plan, node);
            plan.EndSegment(model.Segments[s].Block, values);
        }

        return plan.EndShared();
    }

    /// <summary>Rounds up to <see cref="Alignment"/>.</summary>
    public static int Align(int value) => (value + Alignment - 1) / Alignment * Alignment;
}

/// <summary>
/// The plan being built, as the ops see it: the graph's consumers and the fusion decisions, the parameter layout
/// and eager bindings, the arena cursor, each node's value and gradient buffers (and what an op keeps beside them),
/// the overwrite-or-accumulate bookkeeping of the backward, and the steps.
/// </summary>
internal sealed class PlanBuilder
{
    private readonly Dictionary<string, LayerSpec> _layers;
    private readonly List<ParameterPlan> _parameters = new();
    private readonly Dictionary<string, int> _tensorOf = new(StringComparer.Ordinal);
    private readonly List<LayerBinding> _bindings = new();
    private readonly List<BufferPlan> _buffers = new();
    private readonly HashSet<int> _written = new();
    private readonly HashSet<int> _paramsWritten = new();
    private readonly Dictionary<string, int> _layerIndex;
    // The layout is summed in long: a model too large for the arena (Limits.MaxArenaElements) is measured and
    // reported (DSL210, RequiredArenaElements), never wrapped around; the int offsets are exact when it fits.
    private long _offset;
    private long _cursor;

    public PlanBuilder(ModelSpec model)
    {
        Model = model;
        var nodes = model.Nodes;
        int n = nodes.Count;
        _layers = model.Layers.ToDictionary(l => l.Path, StringComparer.Ordinal);
        _layerIndex = model.Layers.Select((l, i) => (l.Path, i)).ToDictionary(t => t.Path, t => t.i, StringComparer.Ordinal);
        Consumers = new List<int>[n];
        for (int i = 0; i < n; i++) Consumers[i] = new List<int>();
        foreach (var node in nodes)
            foreach (int input in node.Inputs)
                Consumers[input].Add(node.Id);

        // [Recompute] segments: node → its segment, or −1.
        SegmentOf = new int[n];
        for (int i = 0; i < n; i++) SegmentOf[i] = -1;
        for (int s = 0; s < model.Segments.Count; s++)
            for (int i = model.Segments[s].First; i <= model.Segments[s].Last && i < n; i++) SegmentOf[i] = s;

        // Fusion: a Dense → an activation that is the Dense value's only consumer (in the GEMM epilogue); a residual
        // add computed by the norm that is its first reader. Never across a segment's edge: a segment's recompute
        // starts from what it keeps, so no step may straddle it.
        FusedInto = new int[n];
        FusedFrom = new int[n];
        AddIntoNorm = new int[n];
        for (int i = 0; i < n; i++) FusedInto[i] = FusedFrom[i] = AddIntoNorm[i] = -1;
        foreach (var node in nodes)
        {
            var op = OpRegistry.Get(node.Op);
            if (op.OffersEpilogue && Consumers[node.Id].Count == 1 && node.Id != model.OutputNode)
            {
                var consumer = nodes[Consumers[node.Id][0]];
                if (OpRegistry.Get(consumer.Op) is ActivationOp { FusesIntoEpilogue: true } && SegmentOf[consumer.Id] == SegmentOf[node.Id])
                {
                    FusedInto[node.Id] = consumer.Id;
                    FusedFrom[consumer.Id] = node.Id;
                }
            }

            if (op.IsResidualAdd && Consumers[node.Id].Count > 0 && OpRegistry.Get(nodes[Consumers[node.Id].Min()].Op).AbsorbsResidualAdd &&
                SegmentOf[Consumers[node.Id].Min()] == SegmentOf[node.Id])
                AddIntoNorm[node.Id] = Consumers[node.Id].Min();
        }

        // What a segment computes again: its nodes that nothing after it reads, whose op can run twice, and whose value
        // is computed by a step that runs again (an activation in its Dense's epilogue, an add in its norm's pass).
        // A segment that pools its rows (a MeanPool inside it) recomputes only what comes after its last pool: the
        // recompute runs where its backward starts, at one row per example, while what precedes the pool has
        // Sequence rows per example (and its backward runs after the pool's, which switches the rows back).
        Recomputed = new bool[n];
        var pooledUntil = new int[model.Segments.Count];
        for (int s = 0; s < pooledUntil.Length; s++) pooledUntil[s] = -1;
        foreach (var node in nodes)
            if (SegmentOf[node.Id] is int s and >= 0 && OpRegistry.Get(node.Op).PoolsRows) pooledUntil[s] = node.Id;
        var candidate = new bool[n];
        foreach (var node in nodes)
        {
            int s = SegmentOf[node.Id];
            candidate[node.Id] = s >= 0 && node.Id > pooledUntil[s] && node.Id != model.OutputNode && OpRegistry.Get(node.Op).Recomputable &&
                Consumers[node.Id].All(c => SegmentOf[c] == s);
        }

        foreach (var node in nodes)
        {
            int writer = FusedFrom[node.Id] >= 0 ? FusedFrom[node.Id] : AddIntoNorm[node.Id] >= 0 ? AddIntoNorm[node.Id] : node.Id;
            Recomputed[node.Id] = candidate[node.Id] && candidate[writer];
        }

        // Which values need a gradient: those downstream of a parameter.
        NeedsGrad = new bool[n];
        foreach (var node in nodes)
            NeedsGrad[node.Id] = OpRegistry.Get(node.Op).HasParameters(LayerOf(node)) || node.Inputs.Any(i => NeedsGrad[i]);

        // Projections feeding a residual add (GPT-2's scaled init): count the residual branches.
        int residualBranches = nodes.Count(x => OpRegistry.Get(x.Op).IsResidualBranch && FeedsResidual(x));
        Std = model.InitStd;
        ResidualStd = residualBranches > 0 ? Std / Math.Sqrt(residualBranches) : Std;

        Rows = model.MaxBatch * model.Sequence;
        Value = new int[n];
        Grad = new int[n];
        State = new object?[n];
        for (int i = 0; i < n; i++) Value[i] = Grad[i] = -1;
    }

    /// <summary>The model.</summary>
    public ModelSpec Model { get; }

    /// <summary>Node id → its [Recompute] segment's index, or −1.</summary>
    public int[] SegmentOf { get; }

    /// <summary>Whether a node's value (and what its op keeps beside it) is computed again before its segment's backward
    /// instead of being kept: its buffers share one segment's worth of arena with every other segment's.</summary>
    public bool[] Recomputed { get; }

    /// <summary>Node id → the nodes that read it.</summary>
    public List<int>[] Consumers { get; }

    /// <summary>Dense node id → the activation fused into its epilogue, or −1.</summary>
    public int[] FusedInto { get; }

    /// <summary>Activation node id → the Dense whose epilogue computes it, or −1.</summary>
    public int[] FusedFrom { get; }

    /// <summary>Residual add node id → the norm that computes it, or −1.</summary>
    public int[] AddIntoNorm { get; }

    /// <summary>Whether a node's value needs a gradient.</summary>
    public bool[] NeedsGrad { get; }

    /// <summary>The model's InitStd.</summary>
    public double Std { get; }

    /// <summary>InitStd/√R for a projection into a residual stream (R residual branches).</summary>
    public double ResidualStd { get; }

    /// <summary>MaxBatch × Sequence.</summary>
    public int Rows { get; }

    /// <summary>Node id → its value's offset, or −1.</summary>
    public int[] Value { get; }

    /// <summary>Node id → its gradient's offset, or −1.</summary>
    public int[] Grad { get; }

    /// <summary>Node id → what its op keeps beside the value (a norm's statistics, an attention's buffers), or null.</summary>
    public object?[] State { get; }

    /// <summary>Layer path → what its op keeps of its parameters' layout (offsets its steps read).</summary>
    public Dictionary<string, object> LayerState { get; } = new(StringComparer.Ordinal);

    /// <summary>Offset of the staged input rows (−1 for token ids, which live outside the arena).</summary>
    public int InputOffset { get; set; } = -1;

    /// <summary>Where the parameter region ends (aligned); gradients follow it.</summary>
    public int ParameterRegion { get; private set; }

    /// <summary>Where the gradient region starts.</summary>
    public int GradientOffset => ParameterRegion;

    /// <summary>The forward schedule.</summary>
    public List<PlanStep> ForwardSteps { get; } = new();

    /// <summary>The backward schedule.</summary>
    public List<PlanStep> BackwardSteps { get; } = new();

    /// <summary>FGM's buffers, once planned.</summary>
    public Adversarial.Plan? Adversarial { get; set; }

    /// <summary>The spectrally normalised layers' buffers, as planned.</summary>
    public List<SpectralNorm.Plan> SpectralNorms { get; } = new();

    /// <summary>Offset of the learned task log-variances, or −1.</summary>
    public int TaskLogVariance { get; set; } = -1;

    /// <summary>The layer of a node, or null.</summary>
    public LayerSpec? LayerOf(NodeSpec node) => node.Layer.Length > 0 && _layers.TryGetValue(node.Layer, out var l) ? l : null;

    /// <summary>The layer at <paramref name="path"/>.</summary>
    public LayerSpec Layer(string path) => _layers[path];

    /// <summary>The layer's position in the model (a dropout layer's mask stream).</summary>
    public int LayerIndex(string path) => _layerIndex[path];

    /// <summary>The first node that uses the layer, or null.</summary>
    public NodeSpec? FirstUse(LayerSpec layer) => Model.Nodes.FirstOrDefault(x => x.Layer == layer.Path);

    /// <summary>Whether the node's value is added into a residual stream.</summary>
    public bool FeedsResidual(NodeSpec node) => Consumers[node.Id].Any(c => OpRegistry.Get(Model.Nodes[c].Op).IsResidualAdd);

    /// <summary>What <paramref name="node"/>'s op keeps beside its value, as <typeparamref name="T"/>.</summary>
    public T StateOf<T>(int node) where T : class => (T)State[node]!;

    // ---- parameters -------------------------------------------------------------------------------

    /// <summary>Places a parameter tensor; returns its offset. Tensors start aligned unless the previous one asked not to
    /// align after it (q, k and v weights lie back to back, for one GEMM).</summary>
    public int AddParameter(string name, string layer, int rows, int columns, bool matrix, InitKind init, double bound, bool align = true)
    {
        int at = Limits.Offset(_offset);
        _parameters.Add(new ParameterPlan(name, layer, at, rows, columns, matrix, init, bound));
        _tensorOf[name] = at;
        _offset = Limits.Sum(_offset, Limits.Product(rows, columns));
        if (align) _offset = Align(_offset);
        return at;
    }

    /// <summary>The offset of the parameter tensor named <paramref name="name"/>, or −1.</summary>
    public int TensorOffset(string name) => _tensorOf.TryGetValue(name, out int at) ? at : -1;

    /// <summary>Records a layer's eager binding (its per-op layout of offsets, sizes and constants), replacing an earlier one.</summary>
    public void Bind(string layer, int[] ints, params double[] doubles)
    {
        var binding = new LayerBinding(layer, ints.ToEquatableArray(), doubles.ToEquatableArray());
        int at = _bindings.FindIndex(b => b.Layer == layer);
        if (at >= 0) _bindings[at] = binding;
        else _bindings.Add(binding);
    }

    /// <summary>Records a layer's eager binding in its layout (Dsl.Contracts), replacing an earlier one.</summary>
    public void Bind(string layer, Contracts.ILayerSlots slots) => Bind(layer, slots.Ints, slots.Doubles);

    /// <summary>A layer's eager binding, or null.</summary>
    public LayerBinding? BindingOf(string layer) => _bindings.FirstOrDefault(b => b.Layer == layer);

    /// <summary>Closes the parameter region: gradients, then optimizer state, then the activations.</summary>
    public void EndParameters()
    {
        long region = Align(_offset);
        ParameterRegion = Limits.Offset(region);
        _cursor = Limits.Product(region, 2 + Planner.StateSlots);
    }

    // ---- buffers ----------------------------------------------------------------------------------

    /// <summary>Reserves an aligned [<paramref name="rows"/>, <paramref name="width"/>] buffer after the ones so far
    /// (sizes in long: a product of sizes that would overflow int is measured, and the plan does not fit), in the
    /// shared region while a segment's recomputed nodes are planned.</summary>
    public int Allocate(string name, long rows, long width)
    {
        if (_segment is not null)
        {
            int shared = Limits.Offset(_segmentCursor);
            _buffers.Add(new BufferPlan(name, shared, Limits.Offset(rows), Limits.Offset(width)) { Shared = _segment });
            _segmentCursor = Align(Limits.Sum(_segmentCursor, Limits.Product(rows, width)));
            return shared;
        }

        int at = Limits.Offset(_cursor);
        _buffers.Add(new BufferPlan(name, at, Limits.Offset(rows), Limits.Offset(width)));
        _cursor = Align(Limits.Sum(_cursor, Limits.Product(rows, width)));
        return at;
    }

    /// <summary>Reserves a buffer that holds the same values for the engine's life (a RoPE table filled at
    /// initialisation): never in a segment's shared region (a recomputed node's goes just before it).</summary>
    public int AllocateConstant(string name, long rows, long width)
    {
        if (_segment is null) return Allocate(name, rows, width);
        int at = Limits.Offset(_constantCursor);
        _buffers.Add(new BufferPlan(name, at, Limits.Offset(rows), Limits.Offset(width)));
        _constantCursor = Align(Limits.Sum(_constantCursor, Limits.Product(rows, width)));
        return at;
    }

    private static long Align(long value) => Limits.Sum(value, Planner.Alignment - 1) / Planner.Alignment * Planner.Alignment;

    // ---- recompute --------------------------------------------------------------------------------

    private readonly List<SegmentPlan> _segments = new();
    private string? _segment;
    // In long like the cursor: a shared region too large for the arena is measured, never wrapped around.
    private long _sharedStart, _sharedEnd, _segmentCursor, _constantStart, _constantCursor;
    private int _sharedBuffers = -1;
    private int _recomputeAt = -1, _recomputing = -1;

    /// <summary>Starts the region every segment's recomputed buffers share, after <paramref name="constants"/> elements
    /// for their constant buffers. A second call plans the region again from the same place (what the first planned
    /// is forgotten).</summary>
    public void BeginShared(long constants)
    {
        if (_sharedBuffers >= 0)
        {
            _buffers.RemoveRange(_sharedBuffers, _buffers.Count - _sharedBuffers);
            _segments.Clear();
            _cursor = _constantStart;
        }

        _sharedBuffers = _buffers.Count;
        _constantStart = _constantCursor = _cursor;
        _sharedStart = _sharedEnd = Align(Limits.Sum(_cursor, constants));
    }

    /// <summary>Starts planning one segment's recomputed nodes, from the start of the shared region.</summary>
    public void BeginSegment()
    {
        _segment = "";
        _segmentCursor = _sharedStart;
    }

    /// <summary>Elements of the shared region the segment being planned uses so far.</summary>
    public long SegmentUsed => _segmentCursor - _sharedStart;

    /// <summary>Ends a segment: its recomputed values took <paramref name="values"/> elements, its gradients the rest.</summary>
    public void EndSegment(string block, long values)
    {
        for (int i = 0; i < _buffers.Count; i++)
            if (_buffers[i].Shared == "") _buffers[i] = _buffers[i] with { Shared = block };
        _segments.Add(new SegmentPlan(block, Limits.Offset(values), Limits.Offset(SegmentUsed - values), 0));
        _sharedEnd = Math.Max(_sharedEnd, _segmentCursor);
        _segment = null;
    }

    /// <summary>Ends the shared region (the largest segment's worth); returns the constant elements its nodes asked for.</summary>
    public long EndShared()
    {
        _cursor = _sharedEnd;
        SharedRegion = (Limits.Offset(_sharedStart), Limits.Offset(_sharedEnd - _sharedStart));
        long constants = _constantCursor - _constantStart;
        return constants > _sharedStart - _constantStart ? constants : 0;
    }

    /// <summary>The shared region (start, length); length 0 without segments.</summary>
    public (int Start, int Length) SharedRegion { get; private set; }

    /// <summary>Entering segment <paramref name="s"/>'s backward: when it recomputes anything, its forward steps run again
    /// first (copies of the forward schedule's steps of its recomputed nodes), and the gradients in the shared region
    /// start unwritten (the previous segment's backward used the same places).</summary>
    public void BeginRecompute(int s)
    {
        var steps = ForwardSteps.Where(step => step.Node >= 0 && step.Node < Recomputed.Length && Recomputed[step.Node] && SegmentOf[step.Node] == s)
            .Select(step => step with { }).ToList();
        if (steps.Count == 0) return;
        var segment = Model.Segments[s];
        BackwardSteps.Add(new RecomputeStep(segment.Last, "", segment.Block, steps.Count));
        BackwardSteps.AddRange(steps);
        _recomputeAt = BackwardSteps.Count;
        _recomputing = s;
        _segments[s] = _segments[s] with { Steps = steps.Count };
        _written.RemoveWhere(offset => offset >= SharedRegion.Start && offset < SharedRegion.Start + SharedRegion.Length);
    }

    /// <summary>Leaving a segment's backward: a recomputed node's gradient that no step of the segment wrote would be
    /// read as another segment's values (without [Recompute] it is the zeros it was created with), so it is cleared
    /// right after the recompute.</summary>
    public void EndRecompute()
    {
        if (_recomputing < 0) return;
        var unwritten = Model.Nodes
            .Where(n => Recomputed[n.Id] && SegmentOf[n.Id] == _recomputing && NeedsGrad[n.Id] && Grad[n.Id] >= 0 && !_written.Contains(Grad[n.Id]))
            .Select(n => (Grad[n.Id], Model.Widths[n.Id])).ToList();
        if (unwritten.Count > 0)
            BackwardSteps.Insert(_recomputeAt, new ClearStep(Model.Segments[_recomputing].Last, "", new EquatableArray<(int, int)>(unwritten.ToArray())));
        _recomputing = -1;
    }

    // ---- the backward's bookkeeping ---------------------------------------------------------------

    /// <summary>Whether a step writing <paramref name="buffer"/> is its first writer (overwrites; later writers accumulate).
    /// −1 (no buffer) is never first.</summary>
    public bool Overwrites(int buffer) => buffer >= 0 && _written.Add(buffer);

    /// <summary>Whether a layer's parameter gradients accumulate: not for the first step that writes them (a shared or
    /// tied tensor's later writers do). Keyed by the first tensor the step writes.</summary>
    public bool AccumulateParams(int firstTensor) => firstTensor >= 0 && !_paramsWritten.Add(firstTensor);

    /// <summary>Marks a further tensor of a step's parameter gradients as written.</summary>
    public void ParamsWritten(int tensor) => _paramsWritten.Add(tensor);

    /// <summary>The gradient a node's backward writes into its input <paramref name="k"/>, or −1 when it needs none.</summary>
    public int InputGrad(NodeSpec node, int k = 0)
    {
        int input = node.Inputs.Count > k ? node.Inputs[k] : -1;
        return input >= 0 && NeedsGrad[input] ? Grad[input] : -1;
    }

    /// <summary>The value of a node's input <paramref name="k"/>, or −1.</summary>
    public int InputValue(NodeSpec node, int k = 0) => node.Inputs.Count > k ? Value[node.Inputs[k]] : -1;

    /// <summary>The width of a node's value.</summary>
    public int Width(NodeSpec node) => Model.Widths[node.Id];

    /// <summary>The width of a node's input <paramref name="k"/>.</summary>
    public int InputWidth(NodeSpec node, int k = 0) => node.Inputs.Count > k ? Model.Widths[node.Inputs[k]] : 0;

    public ModelPlan Build() =>
        new(Model, _parameters.ToEquatableArray(), Limits.Offset(_parameters.Aggregate(0L, (sum, p) => Limits.Sum(sum, Limits.Product(p.Rows, p.Columns)))),
            ParameterRegion, GradientOffset, Limits.Offset(2L * ParameterRegion), Planner.StateSlots, _buffers.ToEquatableArray(), InputOffset, Rows, -1,
            Value[Model.OutputNode], Model.Widths[Model.OutputNode], Limits.Offset(_cursor), ForwardSteps.ToEquatableArray(), BackwardSteps.ToEquatableArray(),
            _bindings.ToEquatableArray())
        {
            Adversarial = Adversarial,
            SpectralNorms = SpectralNorms.ToEquatableArray(),
            TaskLogVariance = TaskLogVariance,
            RequiredArenaElements = _cursor,
            Values = Value.ToEquatableArray(),
            Grads = Grad.ToEquatableArray(),
            Segments = _segments.ToEquatableArray(),
            SharedOffset = SharedRegion.Start,
            SharedLength = SharedRegion.Length,
            ArenaLengthWithoutRecompute = Limits.Offset(_cursor),
        };
}
