using System;
using System.Collections.Generic;
using System.Linq;
using Dsl.Generators.Model;

namespace Dsl.Generators.Planning;

/// <summary>
/// Turns a valid <see cref="ModelSpec"/> into a <see cref="ModelPlan"/>: lays out the arena
/// (parameters | gradients | optimizer state | activations and their gradients), fuses each Dense
/// with an activation that is its only consumer (bias and f in the GEMM epilogue), and schedules
/// the backward pass in reverse, deciding for every gradient buffer whether a step overwrites it
/// (first writer) or accumulates into it — so no gradient needs zeroing before a step.
/// </summary>
internal static class Planner
{
    /// <summary>Every buffer starts on a 64-byte boundary for float (16 elements).</summary>
    public const int Alignment = 16;

    /// <summary>Optimizer state slots reserved per parameter (AdamW's m and v).</summary>
    public const int StateSlots = 2;

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

    public static ModelPlan Create(ModelSpec model)
    {
        var nodes = model.Nodes;
        int n = nodes.Count;
        var consumers = new List<int>[n];
        for (int i = 0; i < n; i++) consumers[i] = new List<int>();
        foreach (var node in nodes)
            foreach (int input in node.Inputs)
                consumers[input].Add(node.Id);

        // Fusion: Dense → activation, where the activation is the Dense value's only consumer.
        var fusedInto = new int[n]; // Dense id → activation id, or −1
        var fusedFrom = new int[n]; // activation id → Dense id, or −1
        for (int i = 0; i < n; i++) fusedInto[i] = fusedFrom[i] = -1;
        foreach (var node in nodes)
        {
            if (node.Kind != NodeKind.Dense || consumers[node.Id].Count != 1 || node.Id == model.OutputNode) continue;
            var consumer = nodes[consumers[node.Id][0]];
            if (consumer.Kind != NodeKind.Activation) continue;
            fusedInto[node.Id] = consumer.Id;
            fusedFrom[consumer.Id] = node.Id;
        }

        // Which values need a gradient: those downstream of a parameter.
        var needsGrad = new bool[n];
        foreach (var node in nodes)
            needsGrad[node.Id] = node.Kind == NodeKind.Dense || node.Inputs.Any(i => needsGrad[i]);

        // ---- parameters ------------------------------------------------------------------------
        var parameters = new List<ParameterPlan>();
        var bindings = new List<DenseBinding>();
        int offset = 0;
        foreach (var layer in model.Layers)
        {
            if (layer.Kind != LayerKind.Dense) continue;
            var firstUse = nodes.FirstOrDefault(x => x.Kind == NodeKind.Dense && x.Layer == layer.Path);
            var activation = firstUse is not null && fusedInto[firstUse.Id] >= 0 ? nodes[fusedInto[firstUse.Id]].Activation : ActivationKind.None;
            double bound = Gain(activation) * Math.Sqrt(3.0 / Math.Max(1, layer.In));
            int weight = offset;
            parameters.Add(new ParameterPlan(layer.Path + ".weight", layer.Path, weight, layer.Out, layer.In, true, InitKind.Uniform, bound));
            offset = Align(offset + layer.Out * layer.In);
            int bias = -1;
            if (layer.Bias)
            {
                bias = offset;
                parameters.Add(new ParameterPlan(layer.Path + ".bias", layer.Path, bias, 1, layer.Out, false, InitKind.Zeros, 0));
                offset = Align(offset + layer.Out);
            }

            bindings.Add(new DenseBinding(layer.Path, weight, bias, layer.In, layer.Out));
        }

        int parameterRegion = offset;
        int parameterCount = parameters.Sum(p => p.Rows * p.Columns);
        int gradientOffset = parameterRegion;
        int stateOffset = gradientOffset + parameterRegion;
        int cursor = stateOffset + StateSlots * parameterRegion;

        // ---- activations -----------------------------------------------------------------------
        int batch = model.MaxBatch;
        var buffers = new List<BufferPlan>();
        int Allocate(string name, int width)
        {
            int at = cursor;
            buffers.Add(new BufferPlan(name, at, batch, width));
            cursor = Align(cursor + batch * width);
            return at;
        }

        var value = new int[n];
        var preActivation = new int[n];
        var grad = new int[n];
        for (int i = 0; i < n; i++) value[i] = preActivation[i] = grad[i] = -1;

        int inputOffset = -1;
        foreach (var node in nodes)
        {
            string label = Label(node);
            int width = model.Widths[node.Id];
            switch (node.Kind)
            {
                case NodeKind.Input:
                    value[node.Id] = inputOffset = Allocate("input", width);
                    break;
                case NodeKind.SoftmaxCrossEntropy:
                case NodeKind.MeanSquaredError:
                    break;
                case NodeKind.Dense when fusedInto[node.Id] >= 0:
                    // Its value is the pre-activation z, stored by the epilogue only when f' needs it.
                    if (DerivativeNeedsInput(nodes[fusedInto[node.Id]].Activation))
                        value[node.Id] = preActivation[fusedInto[node.Id]] = Allocate(label + " (pre-activation)", width);
                    break;
                default:
                    value[node.Id] = Allocate(label, width);
                    break;
            }
        }

        // Targets (labels or tensors) are read from the caller's span by the loss step: no buffer.
        int targetOffset = -1;

        foreach (var node in nodes)
        {
            bool isFusedDense = node.Kind == NodeKind.Dense && fusedInto[node.Id] >= 0;
            if (!needsGrad[node.Id] || isFusedDense || node.Kind is NodeKind.SoftmaxCrossEntropy or NodeKind.MeanSquaredError || model.LossNode < 0) continue;
            grad[node.Id] = Allocate("∂loss/∂" + Label(node), model.Widths[node.Id]);
        }

        int arenaLength = cursor;

        // ---- forward schedule ------------------------------------------------------------------
        var forward = new List<PlanStep>();
        var layerIndex = model.Layers.Select((l, i) => (l.Path, i)).ToDictionary(t => t.Path, t => t.i, StringComparer.Ordinal);
        DenseBinding Binding(string layer) => bindings.First(b => b.Layer == layer);

        foreach (var node in nodes)
        {
            int x = node.Inputs.Count > 0 ? value[node.Inputs[0]] : -1;
            int width = model.Widths[node.Id];
            int inWidth = node.Inputs.Count > 0 ? model.Widths[node.Inputs[0]] : 0;
            switch (node.Kind)
            {
                case NodeKind.Dense:
                {
                    var b = Binding(node.Layer);
                    int act = fusedInto[node.Id];
                    int y = act >= 0 ? value[act] : value[node.Id];
                    int z = act >= 0 ? preActivation[act] : -1;
                    forward.Add(Step(StepKind.DenseForward, node, act >= 0 ? nodes[act].Activation : ActivationKind.None, act >= 0 ? nodes[act].Scalar : 0,
                        b.In, b.Out, x: x, y: y, z: z, w: b.Weight, bias: b.Bias));
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
                case NodeKind.Add:
                    forward.Add(Step(StepKind.AddForward, node, ActivationKind.None, 0, width, width, x: x, x2: value[node.Inputs[1]], y: value[node.Id]));
                    break;
                case NodeKind.Scale:
                    forward.Add(Step(StepKind.ScaleForward, node, ActivationKind.None, node.Scalar, width, width, x: x, y: value[node.Id]));
                    break;
                case NodeKind.SoftmaxCrossEntropy:
                    forward.Add(Step(StepKind.SoftmaxCrossEntropy, node, ActivationKind.None, 0, inWidth, 1, x: x, dx: grad[node.Inputs[0]]));
                    break;
                case NodeKind.MeanSquaredError:
                    forward.Add(Step(StepKind.MeanSquaredError, node, ActivationKind.None, 0, inWidth, 1, x: x, x2: targetOffset, dx: grad[node.Inputs[0]]));
                    break;
            }
        }

        // ---- backward schedule -----------------------------------------------------------------
        var backward = new List<PlanStep>();
        var written = new HashSet<int>();                                  // activation-gradient buffers
        var layersWritten = new HashSet<string>(StringComparer.Ordinal);   // layers whose ∂W, ∂b hold a value
        bool Overwrites(int buffer) => buffer >= 0 && written.Add(buffer);
        if (model.LossNode >= 0)
        {
            // The fused loss step writes ∂loss/∂logits first.
            if (grad[model.OutputNode] >= 0) written.Add(grad[model.OutputNode]);

            for (int id = n - 1; id >= 0; id--)
            {
                var node = nodes[id];
                if (!needsGrad[id]) continue;
                int width = model.Widths[id];
                switch (node.Kind)
                {
                    case NodeKind.Dense:
                    {
                        var b = Binding(node.Layer);
                        int act = fusedInto[id];
                        int input = node.Inputs[0];
                        int dx = needsGrad[input] ? grad[input] : -1;
                        bool accumulateDx = dx >= 0 && !Overwrites(dx);
                        bool accumulateParams = !layersWritten.Add(node.Layer); // a shared layer's later uses accumulate
                        backward.Add(Step(StepKind.DenseBackward, node, act >= 0 ? nodes[act].Activation : ActivationKind.None, act >= 0 ? nodes[act].Scalar : 0,
                            b.In, b.Out, x: value[input], y: act >= 0 ? value[act] : value[id], z: act >= 0 ? preActivation[act] : -1,
                            w: b.Weight, bias: b.Bias, gw: gradientOffset + b.Weight, gb: b.Bias >= 0 ? gradientOffset + b.Bias : -1,
                            dx: dx, dy: act >= 0 ? grad[act] : grad[id], accumulateDx: accumulateDx, accumulateParams: accumulateParams));
                        break;
                    }
                    case NodeKind.Activation when fusedFrom[id] >= 0:
                        break; // handled by the Dense's backward
                    case NodeKind.Activation:
                    case NodeKind.Dropout:
                    case NodeKind.Scale:
                    {
                        int input = node.Inputs[0];
                        if (!needsGrad[input]) break;
                        var kind = node.Kind switch
                        {
                            NodeKind.Activation => StepKind.ActivationBackward,
                            NodeKind.Dropout => StepKind.DropoutBackward,
                            _ => StepKind.ScaleBackward,
                        };
                        int dx = grad[input];
                        bool accumulate = !Overwrites(dx);
                        backward.Add(Step(kind, node, node.Activation, node.Scalar, width, width, x: value[input], y: value[id], dx: dx, dy: grad[id],
                            accumulateDx: accumulate, stream: node.Kind == NodeKind.Dropout ? layerIndex[node.Layer] : 0));
                        break;
                    }
                    case NodeKind.Add:
                    {
                        int a = node.Inputs[0], c = node.Inputs[1];
                        int dx = needsGrad[a] ? grad[a] : -1, dx2 = needsGrad[c] ? grad[c] : -1;
                        bool accumulateA = dx >= 0 && !Overwrites(dx);
                        bool accumulateB = dx2 >= 0 && !Overwrites(dx2);
                        backward.Add(Step(StepKind.AddBackward, node, ActivationKind.None, 0, width, width, dx: dx, dx2: dx2, dy: grad[id],
                            accumulateDx: accumulateA, accumulateDx2: accumulateB));
                        break;
                    }
                }
            }
        }

        return new ModelPlan(model, parameters.ToEquatableArray(), parameterCount, parameterRegion, gradientOffset, stateOffset, StateSlots,
            buffers.ToEquatableArray(), inputOffset, targetOffset, value[model.OutputNode], model.Widths[model.OutputNode], arenaLength,
            forward.ToEquatableArray(), backward.ToEquatableArray(), bindings.ToEquatableArray());
    }

    private static PlanStep Step(StepKind kind, NodeSpec node, ActivationKind activation, double scalar, int @in, int @out,
        int x = -1, int x2 = -1, int y = -1, int z = -1, int w = -1, int bias = -1, int gw = -1, int gb = -1, int dx = -1, int dx2 = -1, int dy = -1,
        bool accumulateDx = false, bool accumulateDx2 = false, bool accumulateParams = false, int stream = 0) =>
        new(kind, node.Id, node.Layer, activation, scalar, @in, @out, x, x2, y, z, w, bias, gw, gb, dx, dx2, dy, accumulateDx, accumulateDx2, accumulateParams, stream);

    private static int Align(int value) => (value + Alignment - 1) / Alignment * Alignment;

    /// <summary>A short name for a node's value, used in buffer names.</summary>
    public static string Label(NodeSpec node) => node.Kind switch
    {
        NodeKind.Input => "input",
        NodeKind.Activation when node.Layer.Length == 0 => $"{node.Activation}#{node.Id}",
        NodeKind.Add => $"add#{node.Id}",
        NodeKind.Scale => $"scale#{node.Id}",
        _ => node.Layer.Length > 0 ? $"{node.Layer}#{node.Id}" : $"{node.Kind}#{node.Id}",
    };
}
