using System;
using System.Collections.Generic;
using System.Linq;
using Dsl.Generators.Model;

namespace Dsl.Generators.Planning;

/// <summary>
/// Turns a valid <see cref="ModelSpec"/> into a <see cref="ModelPlan"/>: lays out the arena
/// (parameters | gradients | optimizer state | activations and their gradients), decides fusion
/// (Dense with an activation that is its only consumer, in the GEMM epilogue; a residual add with
/// the LayerNorm that first reads it), and schedules the backward pass in reverse, deciding for
/// every gradient buffer whether a step overwrites it (first writer) or accumulates into it — so
/// no gradient needs zeroing before a step.
/// </summary>
/// <remarks>
/// Eager bindings (<see cref="LayerBinding"/>) per layer kind, read by <c>Dsl.Runtime.Eager</c>:
/// Dense ints [weight, bias, in, out]; Embedding [table, vocabulary, dim]; PositionEmbedding
/// [table, sequence, width]; LayerNorm [gamma, beta, width] doubles [ε]; RmsNorm [gain, width]
/// doubles [ε]; Attention and LinearAttention [wqkv, bqkv, wo, bo, preMix, postMix, in, out, heads,
/// keySize, valueSize, sequence, causal, window, entropyInvariant, rotaryDim, talkingHeads, linear]
/// doubles [scale, ropeBase]; DeepNorm doubles [α]. −1 marks an absent tensor.
/// </remarks>
internal static partial class Planner
{
    /// <summary>Every buffer starts on a 64-byte boundary for float (16 elements).</summary>
    public const int Alignment = 16;

    /// <summary>Optimizer state slots reserved per parameter: AdamW's m and v plus ChildTuning-D's
    /// Fisher mask and masked-gradient scratch (Dsl.Optimizers.Optimizer.MaxStateSlots; a test keeps them equal).</summary>
    public const int StateSlots = 4;

    /// <summary>Whether f'(x) needs x (else y = f(x) suffices and no pre-activation is kept).
    /// Must agree with the kernels' <c>IActivation.DerivativeNeedsInput</c>; a test checks it.</summary>
    public static bool DerivativeNeedsInput(ActivationKind kind) => kind switch
    {
        ActivationKind.Relu or ActivationKind.Tanh or ActivationKind.Sigmoid or ActivationKind.None => false,
        _ => true,
    };

    /// <summary>Initialisation gain for weights feeding an activation (Kaiming-style: keeps the
    /// forward variance near 1 for ReLU-like units).</summary>
    public static double Gain(ActivationKind kind) => kind switch
    {
        ActivationKind.Relu or ActivationKind.GeluTanh or ActivationKind.GeluErf or ActivationKind.Silu or ActivationKind.SquarePlus or ActivationKind.Softplus => Math.Sqrt(2),
        ActivationKind.Tanh => 5.0 / 3.0,
        _ => 1,
    };

    /// <summary>Whether a node kind owns parameters (so its value, and everything downstream, needs a gradient).</summary>
    private static bool HasParameters(NodeSpec node, LayerSpec? layer) => node.Kind switch
    {
        NodeKind.Dense or NodeKind.Embedding or NodeKind.PositionEmbedding or NodeKind.LayerNorm or NodeKind.Attention or NodeKind.LinearAttention => true,
        NodeKind.RmsNorm => layer?.Gain == true,
        _ => false,
    };

    public static ModelPlan Create(ModelSpec model)
    {
        var nodes = model.Nodes;
        int n = nodes.Count;
        var layers = model.Layers.ToDictionary(l => l.Path, StringComparer.Ordinal);
        LayerSpec? LayerOf(NodeSpec node) => node.Layer.Length > 0 && layers.TryGetValue(node.Layer, out var l) ? l : null;
        var consumers = new List<int>[n];
        for (int i = 0; i < n; i++) consumers[i] = new List<int>();
        foreach (var node in nodes)
            foreach (int input in node.Inputs)
                consumers[input].Add(node.Id);

        // Fusion: Dense → activation, where the activation is the Dense value's only consumer.
        var fusedInto = new int[n]; // Dense id → activation id, or −1
        var fusedFrom = new int[n]; // activation id → Dense id, or −1
        var addIntoNorm = new int[n]; // Add id → the LayerNorm that computes it, or −1
        for (int i = 0; i < n; i++) fusedInto[i] = fusedFrom[i] = addIntoNorm[i] = -1;
        foreach (var node in nodes)
        {
            if (node.Kind == NodeKind.Dense && consumers[node.Id].Count == 1 && node.Id != model.OutputNode)
            {
                var consumer = nodes[consumers[node.Id][0]];
                if (consumer.Kind != NodeKind.Activation) continue;
                fusedInto[node.Id] = consumer.Id;
                fusedFrom[consumer.Id] = node.Id;
            }

            // Residual add + LayerNorm in one pass, when the norm is the sum's first reader.
            if (node.Kind == NodeKind.Add && consumers[node.Id].Count > 0 && nodes[consumers[node.Id].Min()].Kind == NodeKind.LayerNorm)
                addIntoNorm[node.Id] = consumers[node.Id].Min();
        }

        // Which values need a gradient: those downstream of a parameter.
        var needsGrad = new bool[n];
        foreach (var node in nodes)
            needsGrad[node.Id] = HasParameters(node, LayerOf(node)) || node.Inputs.Any(i => needsGrad[i]);

        // Projections feeding a residual add (GPT-2's scaled init): count the residual branches.
        bool FeedsResidual(NodeSpec node) => consumers[node.Id].Any(c => nodes[c].Kind == NodeKind.Add);
        int residualBranches = nodes.Count(x => x.Kind is NodeKind.Dense or NodeKind.Attention or NodeKind.LinearAttention && FeedsResidual(x));

        // ---- parameters ------------------------------------------------------------------------
        var parameters = new List<ParameterPlan>();
        var bindings = new List<LayerBinding>();
        var attentionParams = new Dictionary<string, (int Wqkv, int Bqkv, int Wo, int Bo, int Pre, int Post)>(StringComparer.Ordinal);
        var tensorOf = new Dictionary<string, int>(StringComparer.Ordinal); // "Layer.weight" → offset
        int offset = 0;
        int Add(string name, string layer, int rows, int columns, bool matrix, InitKind init, double bound, bool align = true)
        {
            int at = offset;
            parameters.Add(new ParameterPlan(name, layer, at, rows, columns, matrix, init, bound));
            tensorOf[name] = at;
            offset += rows * columns;
            if (align) offset = Align(offset);
            return at;
        }

        double std = model.InitStd;
        double residualStd = residualBranches > 0 ? std / Math.Sqrt(residualBranches) : std;
        // Tied Dense layers last: they point at their embedding's table.
        foreach (var layer in model.Layers.OrderBy(l => l.Tied.Length > 0 ? 1 : 0))
        {
            var firstUse = nodes.FirstOrDefault(x => x.Layer == layer.Path);
            bool residual = firstUse is not null && FeedsResidual(firstUse);
            switch (layer.Kind)
            {
                case LayerKind.Dense:
                {
                    var activation = firstUse is not null && fusedInto[firstUse.Id] >= 0 ? nodes[fusedInto[firstUse.Id]].Activation : ActivationKind.None;
                    int weight;
                    if (layer.Tied.Length > 0)
                    {
                        weight = tensorOf.TryGetValue(layer.Tied + ".weight", out int tiedAt) ? tiedAt : -1;
                    }
                    else
                    {
                        var (init, bound) = layer.InitGain > 0 ? (InitKind.Normal, layer.InitGain * Math.Sqrt(2.0 / Math.Max(1, layer.In + layer.Out)))
                            : std > 0 ? (InitKind.Normal, residual ? residualStd : std)
                            : (InitKind.Uniform, Gain(activation) * Math.Sqrt(3.0 / Math.Max(1, layer.In)));
                        weight = Add(layer.Path + ".weight", layer.Path, layer.Out, layer.In, true, init, bound);
                    }

                    int bias = layer.Bias ? Add(layer.Path + ".bias", layer.Path, 1, layer.Out, false, InitKind.Zeros, 0) : -1;
                    bindings.Add(Binding(layer.Path, new[] { weight, bias, layer.In, layer.Out }));
                    break;
                }
                case LayerKind.Embedding:
                {
                    int table = Add(layer.Path + ".weight", layer.Path, layer.In, layer.Out, true, InitKind.Normal, std > 0 ? std : 1);
                    bindings.Add(Binding(layer.Path, new[] { table, layer.In, layer.Out }));
                    break;
                }
                case LayerKind.PositionEmbedding:
                {
                    int table = Add(layer.Path + ".weight", layer.Path, model.Sequence, layer.In, true, InitKind.Normal, std > 0 ? std : 1);
                    bindings.Add(Binding(layer.Path, new[] { table, model.Sequence, layer.In }));
                    break;
                }
                case LayerKind.LayerNorm:
                {
                    int gamma = Add(layer.Path + ".weight", layer.Path, 1, layer.In, false, InitKind.Ones, 0);
                    int beta = layer.Bias ? Add(layer.Path + ".bias", layer.Path, 1, layer.In, false, InitKind.Zeros, 0) : -1;
                    bindings.Add(Binding(layer.Path, new[] { gamma, beta, layer.In }, layer.Parameter));
                    break;
                }
                case LayerKind.RmsNorm:
                {
                    int gain = layer.Gain ? Add(layer.Path + ".weight", layer.Path, 1, layer.In, false, InitKind.Ones, 0) : -1;
                    bindings.Add(Binding(layer.Path, new[] { gain, layer.In }, layer.Parameter));
                    break;
                }
                case LayerKind.Attention:
                case LayerKind.LinearAttention:
                {
                    var a = layer.Attention!;
                    int h = a.Heads, dk = a.KeySize, dv = a.ValueSize;
                    // q, k, v weights are laid out back to back (no padding) so one GEMM computes all three.
                    (InitKind, double) Projection(bool valueOrOutput, int fanIn, int fanOut, bool residualOutput)
                    {
                        if (layer.InitGain > 0) return (InitKind.Normal, (valueOrOutput ? layer.InitGain : 1) * Math.Sqrt(2.0 / (fanIn + fanOut)));
                        if (std > 0) return (InitKind.Normal, residualOutput ? residualStd : std);
                        return (InitKind.Uniform, Math.Sqrt(3.0 / Math.Max(1, fanIn)));
                    }

                    var (qi, qb) = Projection(false, layer.In, h * dk, false);
                    var (vi, vb) = Projection(true, layer.In, h * dv, false);
                    var (oi, ob) = Projection(true, h * dv, layer.Out, residual);
                    int wqkv = Add(layer.Path + ".query.weight", layer.Path, h * dk, layer.In, true, qi, qb, align: false);
                    Add(layer.Path + ".key.weight", layer.Path, h * dk, layer.In, true, qi, qb, align: false);
                    Add(layer.Path + ".value.weight", layer.Path, h * dv, layer.In, true, vi, vb);
                    int bqkv = -1;
                    if (layer.Bias)
                    {
                        bqkv = Add(layer.Path + ".query.bias", layer.Path, 1, h * dk, false, InitKind.Zeros, 0, align: false);
                        Add(layer.Path + ".key.bias", layer.Path, 1, h * dk, false, InitKind.Zeros, 0, align: false);
                        Add(layer.Path + ".value.bias", layer.Path, 1, h * dv, false, InitKind.Zeros, 0);
                    }

                    int wo = Add(layer.Path + ".output.weight", layer.Path, layer.Out, h * dv, true, oi, ob);
                    int bo = layer.Bias ? Add(layer.Path + ".output.bias", layer.Path, 1, layer.Out, false, InitKind.Zeros, 0) : -1;
                    int pre = -1, post = -1;
                    if (a.TalkingHeads)
                    {
                        pre = Add(layer.Path + ".pre_mix", layer.Path, h, h, true, InitKind.Identity, 0);
                        post = Add(layer.Path + ".post_mix", layer.Path, h, h, true, InitKind.Identity, 0);
                    }

                    attentionParams[layer.Path] = (wqkv, bqkv, wo, bo, pre, post);
                    bindings.Add(Binding(layer.Path,
                        new[] { wqkv, bqkv, wo, bo, pre, post, layer.In, layer.Out, h, dk, dv, model.Sequence, a.Causal ? 1 : 0, a.Window, a.EntropyInvariant ? 1 : 0, a.RotaryDim, a.TalkingHeads ? 1 : 0, a.Linear ? 1 : 0 },
                        AttentionScale(a), a.RopeBase));
                    break;
                }
                case LayerKind.DeepNorm:
                    bindings.Add(Binding(layer.Path, Array.Empty<int>(), layer.Parameter));
                    break;
                case LayerKind.MeanPool:
                    bindings.Add(Binding(layer.Path, new[] { (int)layer.Parameter, model.Sequence }));
                    break;
            }
        }

        // Multi-task uncertainty weighting: one learned s_i = ln σ_i² per task, after the layers' tensors.
        int taskLogVariance = model.MultiTask is { Weighting: TaskWeightingKind.Uncertainty } uncertain
            ? Add(TaskLogVarianceName, "tasks", 1, uncertain.Tasks.Count, false, InitKind.Zeros, 0)
            : -1;

        int parameterRegion = Align(offset);
        int parameterCount = parameters.Sum(p => p.Rows * p.Columns);
        int gradientOffset = parameterRegion;
        int stateOffset = gradientOffset + parameterRegion;
        int cursor = stateOffset + StateSlots * parameterRegion;

        // ---- activations -----------------------------------------------------------------------
        int batch = model.MaxBatch;
        int rows = batch * model.Sequence;
        var buffers = new List<BufferPlan>();
        int Allocate(string name, int bufferRows, int width)
        {
            int at = cursor;
            buffers.Add(new BufferPlan(name, at, bufferRows, width));
            cursor = Align(cursor + bufferRows * width);
            return at;
        }

        var value = new int[n];
        var preActivation = new int[n];
        var grad = new int[n];
        var aux = new int[n];  // LayerNorm mean; attention stats
        var aux2 = new int[n]; // LayerNorm/RMSNorm rstd
        var attentionPlans = new AttentionPlan?[n];
        for (int i = 0; i < n; i++) value[i] = preActivation[i] = grad[i] = aux[i] = aux2[i] = -1;

        int inputOffset = -1;
        foreach (var node in nodes)
        {
            string label = Label(node);
            int width = model.Widths[node.Id];
            switch (node.Kind)
            {
                case NodeKind.Input:
                    // Token ids live in the engine's int buffer, not in the arena.
                    if (!model.TokenInput) value[node.Id] = inputOffset = Allocate("input", rows, width);
                    break;
                case NodeKind.SoftmaxCrossEntropy:
                case NodeKind.MeanSquaredError:
                case NodeKind.Loss:
                    break;
                case NodeKind.Dense when fusedInto[node.Id] >= 0:
                    // Its value is the pre-activation z, stored by the epilogue only when f' needs it.
                    if (DerivativeNeedsInput(nodes[fusedInto[node.Id]].Activation))
                        value[node.Id] = preActivation[fusedInto[node.Id]] = Allocate(label + " (pre-activation)", rows, width);
                    break;
                case NodeKind.LayerNorm:
                    value[node.Id] = Allocate(label, rows, width);
                    aux[node.Id] = Allocate(label + " mean", rows, 1);
                    aux2[node.Id] = Allocate(label + " 1/σ", rows, 1);
                    break;
                case NodeKind.RmsNorm:
                    value[node.Id] = Allocate(label, rows, width);
                    aux2[node.Id] = Allocate(label + " 1/rms", rows, 1);
                    break;
                case NodeKind.Attention:
                case NodeKind.LinearAttention:
                {
                    var layer = LayerOf(node)!;
                    var a = layer.Attention!;
                    var p = attentionParams[layer.Path];
                    int qkvWidth = 2 * a.Heads * a.KeySize + a.Heads * a.ValueSize;
                    int qkv = Allocate(label + " q|k|v", rows, qkvWidth);
                    int heads = Allocate(label + " heads", rows, a.Heads * a.ValueSize);
                    int stats = Allocate(label + " row statistics", batch * a.Heads, model.Sequence);
                    int table = a.Rope ? Allocate(label + " RoPE cos|sin", 1, RopeTableLength(model.Sequence, a.RotaryDim)) : -1;
                    value[node.Id] = Allocate(label, rows, width);
                    attentionPlans[node.Id] = new AttentionPlan(a, AttentionScale(a), qkvWidth, p.Wqkv, p.Bqkv, p.Wo, p.Bo, p.Pre, p.Post, qkv, heads, stats, table, -1, -1);
                    break;
                }
                default:
                    value[node.Id] = Allocate(label, rows, width);
                    break;
            }
        }

        // Targets (labels or tensors) are read from the caller's span by the loss step: no buffer.
        int targetOffset = -1;

        foreach (var node in nodes)
        {
            bool isFusedDense = node.Kind == NodeKind.Dense && fusedInto[node.Id] >= 0;
            if (!needsGrad[node.Id] || isFusedDense || node.Kind is NodeKind.SoftmaxCrossEntropy or NodeKind.MeanSquaredError or NodeKind.Loss || model.LossNode < 0) continue;
            grad[node.Id] = Allocate("∂loss/∂" + Label(node), rows, model.Widths[node.Id]);
            if (attentionPlans[node.Id] is { } ap)
            {
                attentionPlans[node.Id] = ap with
                {
                    DQkv = Allocate("∂loss/∂" + Label(node) + " q|k|v", rows, ap.QkvWidth),
                    DHeads = Allocate("∂loss/∂" + Label(node) + " heads", rows, ap.Options.Heads * ap.Options.ValueSize),
                };
            }
        }

        var adversarial = PlanAdversarial(model, bindings, parameterRegion, buffers, ref cursor);
        var spectralNorms = PlanSpectralNorms(model, bindings, gradientOffset, buffers, ref cursor);
        int arenaLength = cursor;

        // ---- forward schedule ------------------------------------------------------------------
        var forward = new List<PlanStep>();
        var layerIndex = model.Layers.Select((l, i) => (l.Path, i)).ToDictionary(t => t.Path, t => t.i, StringComparer.Ordinal);
        LayerBinding BindingOf(string layer) => bindings.First(b => b.Layer == layer);

        foreach (var node in nodes)
        {
            int x = node.Inputs.Count > 0 ? value[node.Inputs[0]] : -1;
            int width = model.Widths[node.Id];
            int inWidth = node.Inputs.Count > 0 ? model.Widths[node.Inputs[0]] : 0;
            switch (node.Kind)
            {
                case NodeKind.Dense:
                {
                    var b = BindingOf(node.Layer).Ints;
                    int act = fusedInto[node.Id];
                    int y = act >= 0 ? value[act] : value[node.Id];
                    int z = act >= 0 ? preActivation[act] : -1;
                    forward.Add(Step(StepKind.DenseForward, node, act >= 0 ? nodes[act].Activation : ActivationKind.None, act >= 0 ? nodes[act].Scalar : 0,
                        b[2], b[3], x: x, y: y, z: z, w: b[0], bias: b[1]));
                    break;
                }
                case NodeKind.Activation when fusedFrom[node.Id] >= 0:
                    break; // done in the Dense's epilogue
                case NodeKind.Activation:
                    forward.Add(Step(StepKind.ActivationForward, node, node.Activation, node.Scalar, width, width, x: x, y: value[node.Id]));
                    break;
                case NodeKind.Dropout:
                    forward.Add(Step(StepKind.DropoutForward, node, ActivationKind.None, node.Scalar, width, width, x: x, y: value[node.Id], stream: layerIndex[node.Layer]));
                    break;
                case NodeKind.Add when addIntoNorm[node.Id] >= 0:
                    break; // computed by the LayerNorm that reads it
                case NodeKind.Add:
                    forward.Add(Step(StepKind.AddForward, node, ActivationKind.None, 0, width, width, x: x, x2: value[node.Inputs[1]], y: value[node.Id]));
                    break;
                case NodeKind.Scale:
                    forward.Add(Step(StepKind.ScaleForward, node, ActivationKind.None, node.Scalar, width, width, x: x, y: value[node.Id]));
                    break;
                case NodeKind.Embedding:
                {
                    var b = BindingOf(node.Layer).Ints;
                    forward.Add(Step(StepKind.EmbeddingForward, node, ActivationKind.None, 0, b[1], b[2], y: value[node.Id], w: b[0]));
                    break;
                }
                case NodeKind.PositionEmbedding:
                    forward.Add(Step(StepKind.PositionForward, node, ActivationKind.None, 0, width, width, x: x, y: value[node.Id], w: BindingOf(node.Layer).Ints[0]));
                    break;
                case NodeKind.LayerNorm:
                {
                    var b = BindingOf(node.Layer).Ints;
                    var input = nodes[node.Inputs[0]];
                    bool fused = input.Kind == NodeKind.Add && addIntoNorm[input.Id] == node.Id;
                    // Fused: x = first addend, x2 = second addend, x3 = the sum (written), y = LN(sum).
                    forward.Add(Step(StepKind.LayerNormForward, node, ActivationKind.None, LayerOf(node)!.Parameter, width, width,
                        x: fused ? value[input.Inputs[0]] : x, x2: fused ? value[input.Inputs[1]] : -1, x3: fused ? x : -1,
                        y: value[node.Id], w: b[0], bias: b[1], aux: aux[node.Id], aux2: aux2[node.Id]));
                    break;
                }
                case NodeKind.RmsNorm:
                    forward.Add(Step(StepKind.RmsNormForward, node, ActivationKind.None, LayerOf(node)!.Parameter, width, width,
                        x: x, y: value[node.Id], w: BindingOf(node.Layer).Ints[0], aux2: aux2[node.Id]));
                    break;
                case NodeKind.Attention:
                case NodeKind.LinearAttention:
                {
                    var layer = LayerOf(node)!;
                    forward.Add(Step(StepKind.AttentionForward, node, ActivationKind.None, 0, layer.In, layer.Out, x: x, y: value[node.Id], attention: attentionPlans[node.Id]));
                    break;
                }
                case NodeKind.SoftmaxCrossEntropy:
                    forward.Add(Step(StepKind.SoftmaxCrossEntropy, node, ActivationKind.None, 0, inWidth, 1, x: x, dx: grad[node.Inputs[0]]));
                    break;
                case NodeKind.MeanSquaredError:
                    forward.Add(Step(StepKind.MeanSquaredError, node, ActivationKind.None, 0, inWidth, 1, x: x, x2: targetOffset, dx: grad[node.Inputs[0]]));
                    break;
                case NodeKind.Loss:
                    forward.Add(Step(StepKind.Loss, node, ActivationKind.None, 0, inWidth, 1, x: x, dx: grad[node.Inputs[0]]));
                    break;
                case NodeKind.MeanPool:
                    forward.Add(Step(StepKind.MeanPoolForward, node, ActivationKind.None, node.Scalar, width, width, x: x, y: value[node.Id]));
                    break;
            }
        }

        // ---- backward schedule -----------------------------------------------------------------
        var backward = new List<PlanStep>();
        var written = new HashSet<int>();      // activation-gradient buffers that hold a value
        var paramsWritten = new HashSet<int>(); // parameter tensors (by offset) whose gradient holds a value
        bool Overwrites(int buffer) => buffer >= 0 && written.Add(buffer);
        // A layer's parameter gradients: overwritten by the first step that writes them (a shared or
        // tied tensor's later writers accumulate). Keyed by the first tensor the step writes.
        bool AccumulateParams(int firstTensor) => firstTensor >= 0 && !paramsWritten.Add(firstTensor);
        if (model.LossNode >= 0)
        {
            // The fused loss steps write ∂loss/∂prediction first (one prediction per task).
            foreach (var (lossNode, _) in model.LossNodes)
                if (grad[nodes[lossNode].Inputs[0]] >= 0) written.Add(grad[nodes[lossNode].Inputs[0]]);

            for (int id = n - 1; id >= 0; id--)
            {
                var node = nodes[id];
                if (!needsGrad[id]) continue;
                int width = model.Widths[id];
                int input = node.Inputs.Count > 0 ? node.Inputs[0] : -1;
                int dx = input >= 0 && needsGrad[input] ? grad[input] : -1;
                switch (node.Kind)
                {
                    case NodeKind.Dense:
                    {
                        var b = BindingOf(node.Layer).Ints;
                        int act = fusedInto[id];
                        bool accumulateDx = dx >= 0 && !Overwrites(dx);
                        bool accumulateParams = AccumulateParams(b[0]);
                        if (b[1] >= 0 && !accumulateParams) paramsWritten.Add(b[1]);
                        backward.Add(Step(StepKind.DenseBackward, node, act >= 0 ? nodes[act].Activation : ActivationKind.None, act >= 0 ? nodes[act].Scalar : 0,
                            b[2], b[3], x: value[input], y: act >= 0 ? value[act] : value[id], z: act >= 0 ? preActivation[act] : -1,
                            w: b[0], bias: b[1], gw: gradientOffset + b[0], gb: b[1] >= 0 ? gradientOffset + b[1] : -1,
                            dx: dx, dy: act >= 0 ? grad[act] : grad[id], accumulateDx: accumulateDx, accumulateParams: accumulateParams));
                        break;
                    }
                    case NodeKind.Activation when fusedFrom[id] >= 0:
                        break; // handled by the Dense's backward
                    case NodeKind.Activation:
                    case NodeKind.Dropout:
                    case NodeKind.Scale:
                    {
                        if (dx < 0) break;
                        var kind = node.Kind switch
                        {
                            NodeKind.Activation => StepKind.ActivationBackward,
                            NodeKind.Dropout => StepKind.DropoutBackward,
                            _ => StepKind.ScaleBackward,
                        };
                        bool accumulate = !Overwrites(dx);
                        backward.Add(Step(kind, node, node.Activation, node.Scalar, width, width, x: value[input], y: value[id], dx: dx, dy: grad[id],
                            accumulateDx: accumulate, stream: node.Kind == NodeKind.Dropout ? layerIndex[node.Layer] : 0));
                        break;
                    }
                    case NodeKind.Add:
                    {
                        int a = node.Inputs[0], c = node.Inputs[1];
                        int da = needsGrad[a] ? grad[a] : -1, dc = needsGrad[c] ? grad[c] : -1;
                        bool accumulateA = da >= 0 && !Overwrites(da);
                        bool accumulateB = dc >= 0 && !Overwrites(dc);
                        backward.Add(Step(StepKind.AddBackward, node, ActivationKind.None, 0, width, width, dx: da, dx2: dc, dy: grad[id],
                            accumulateDx: accumulateA, accumulateDx2: accumulateB));
                        break;
                    }
                    case NodeKind.Embedding:
                    {
                        var b = BindingOf(node.Layer).Ints;
                        backward.Add(Step(StepKind.EmbeddingBackward, node, ActivationKind.None, 0, b[1], b[2], gw: gradientOffset + b[0], dy: grad[id],
                            accumulateParams: AccumulateParams(b[0])));
                        break;
                    }
                    case NodeKind.PositionEmbedding:
                    {
                        int table = BindingOf(node.Layer).Ints[0];
                        backward.Add(Step(StepKind.PositionBackward, node, ActivationKind.None, 0, width, width, gw: gradientOffset + table, dx: dx, dy: grad[id],
                            accumulateDx: dx >= 0 && !Overwrites(dx), accumulateParams: AccumulateParams(table)));
                        break;
                    }
                    case NodeKind.LayerNorm:
                    case NodeKind.RmsNorm:
                    {
                        var b = BindingOf(node.Layer).Ints;
                        bool layerNorm = node.Kind == NodeKind.LayerNorm;
                        int gamma = b[0], beta = layerNorm ? b[1] : -1;
                        bool accumulateParams = AccumulateParams(gamma);
                        if (beta >= 0 && !accumulateParams) paramsWritten.Add(beta);
                        backward.Add(Step(layerNorm ? StepKind.LayerNormBackward : StepKind.RmsNormBackward, node, ActivationKind.None, LayerOf(node)!.Parameter, width, width,
                            x: value[input], y: value[id], w: gamma, bias: beta, gw: gamma >= 0 ? gradientOffset + gamma : -1, gb: beta >= 0 ? gradientOffset + beta : -1,
                            dx: dx, dy: grad[id], accumulateDx: dx >= 0 && !Overwrites(dx), accumulateParams: accumulateParams, aux: aux[id], aux2: aux2[id]));
                        break;
                    }
                    case NodeKind.MeanPool:
                        if (dx >= 0)
                            backward.Add(Step(StepKind.MeanPoolBackward, node, ActivationKind.None, node.Scalar, width, width, dx: dx, dy: grad[id], accumulateDx: !Overwrites(dx)));
                        break;
                    case NodeKind.Attention:
                    case NodeKind.LinearAttention:
                    {
                        var layer = LayerOf(node)!;
                        var ap = attentionPlans[id]!;
                        bool accumulateParams = AccumulateParams(ap.Wqkv);
                        if (!accumulateParams)
                            foreach (int t in new[] { ap.Bqkv, ap.Wo, ap.Bo, ap.PreMix, ap.PostMix }.Where(t => t >= 0)) paramsWritten.Add(t);
                        backward.Add(Step(StepKind.AttentionBackward, node, ActivationKind.None, 0, layer.In, layer.Out, x: value[input], y: value[id],
                            gw: gradientOffset, dx: dx, dy: grad[id], accumulateDx: dx >= 0 && !Overwrites(dx), accumulateParams: accumulateParams, attention: ap));
                        break;
                    }
                }
            }
        }

        UseNormalizedWeights(spectralNorms, forward, backward, bindings);
        return new ModelPlan(model, parameters.ToEquatableArray(), parameterCount, parameterRegion, gradientOffset, stateOffset, StateSlots,
            buffers.ToEquatableArray(), inputOffset, rows, targetOffset, value[model.OutputNode], model.Widths[model.OutputNode], arenaLength,
            forward.ToEquatableArray(), backward.ToEquatableArray(), bindings.ToEquatableArray())
        {
            Adversarial = adversarial,
            SpectralNorms = spectralNorms.ToEquatableArray(),
            TaskLogVariance = taskLogVariance,
        };
    }

    /// <summary>Checkpoint name of the learned log-variances of <see cref="TaskWeightingKind.Uncertainty"/>.</summary>
    public const string TaskLogVarianceName = "tasks.log_variance";

    /// <summary>λ for a fixed-scale attention: the declared value, else 1/√KeySize (linear attention: unused, 1).</summary>
    public static double AttentionScale(AttentionSpec a) => a.Linear ? 1 : a.Scale > 0 ? a.Scale : 1 / Math.Sqrt(Math.Max(1, a.KeySize));

    /// <summary>Length of a RoPE cos/sin table; must agree with <c>Dsl.Kernels.Rope.TableLength</c> (a test checks it).</summary>
    public static int RopeTableLength(int sequence, int rotaryDim) => sequence * rotaryDim;

    private static LayerBinding Binding(string layer, int[] ints, params double[] doubles) =>
        new(layer, ints.ToEquatableArray(), doubles.ToEquatableArray());

    private static PlanStep Step(StepKind kind, NodeSpec node, ActivationKind activation, double scalar, int @in, int @out,
        int x = -1, int x2 = -1, int y = -1, int z = -1, int w = -1, int bias = -1, int gw = -1, int gb = -1, int dx = -1, int dx2 = -1, int dy = -1,
        bool accumulateDx = false, bool accumulateDx2 = false, bool accumulateParams = false, int stream = 0, int aux = -1, int aux2 = -1,
        AttentionPlan? attention = null, int x3 = -1) =>
        new(kind, node.Id, node.Layer, activation, scalar, @in, @out, x, x2, y, z, w, bias, gw, gb, dx, dx2, dy, accumulateDx, accumulateDx2, accumulateParams, stream,
            aux, aux2, attention, x3);

    private static int Align(int value) => (value + Alignment - 1) / Alignment * Alignment;

    /// <summary>A short name for a node's value, used in buffer names.</summary>
    public static string Label(NodeSpec node) => node.Kind switch
    {
        NodeKind.Input => "input",
        NodeKind.Activation when node.Layer.Length == 0 => $"{node.Activation}#{node.Id}",
        NodeKind.Add => $"add#{node.Id}",
        NodeKind.Scale when node.Layer.Length == 0 => $"scale#{node.Id}",
        _ => node.Layer.Length > 0 ? $"{node.Layer}#{node.Id}" : $"{node.Kind}#{node.Id}",
    };
}
