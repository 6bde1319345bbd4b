using System;
using System.Collections.Generic;
using System.Linq;

namespace Dsl.Generators.Model;

// The symbol-free description of a model: everything the later stages need, nothing from Roslyn
// (no ISymbol, SyntaxNode, Location), so the incremental pipeline can compare it by value.
// A test walks these types by reflection and fails if one holds a Roslyn object.

/// <summary>Elementwise activations the DSL knows.</summary>
internal enum ActivationKind { None, Relu, GeluTanh, GeluErf, Silu, Softplus, SquarePlus, Tanh, Sigmoid }

/// <summary>What a layer member is.</summary>
internal enum LayerKind { Dense, Activation, Dropout, Embedding, PositionEmbedding, LayerNorm, RmsNorm, Attention, LinearAttention, DeepNorm, MeanPool }

/// <summary>Operations in the forward graph.</summary>
internal enum NodeKind { Input, Dense, Activation, Dropout, Add, Scale, SoftmaxCrossEntropy, MeanSquaredError, Embedding, PositionEmbedding, LayerNorm, RmsNorm, Attention, LinearAttention, MeanPool, Loss }

/// <summary>What the loss consumes as targets.</summary>
internal enum TargetKind { None, Labels, Tensor, Scores }

/// <summary>One layer instance. <see cref="Path"/> is unique in the model ("Hidden", "Block1.Up").</summary>
/// <param name="Path">Member path from the model.</param>
/// <param name="Kind">The layer kind.</param>
/// <param name="Out">Output features (Dense).</param>
/// <param name="In">Declared input features (Dense); 0 = inferred.</param>
/// <param name="Bias">Dense has a bias.</param>
/// <param name="Activation">Activation kind (Activation layers).</param>
/// <param name="Parameter">SquarePlus b, dropout rate, norm ε, or DeepNorm α (0 = derived).</param>
/// <param name="Attention">Attention options (attention layers), else null.</param>
/// <param name="Tied">For a Dense: the path of the embedding whose table is its weight; else empty.</param>
/// <param name="Gain">Norms: learned gain (RMSNorm) — LayerNorm always has one.</param>
/// <param name="Block">Path of the module instance the layer belongs to ("" for the model's own).</param>
/// <param name="Depth">Number of stacked instances of that block (the Repeat count), 1 otherwise.</param>
/// <param name="InitGain">DeepNorm β for this layer's block (0 = not a DeepNorm block; resolved by the parser).</param>
/// <param name="SpectralNorm">Dense: the forward uses W/σ(W) (spectral normalisation).</param>
internal sealed record LayerSpec(string Path, LayerKind Kind, int Out, int In, bool Bias, ActivationKind Activation, double Parameter,
    AttentionSpec? Attention = null, string Tied = "", bool Gain = true, string Block = "", int Depth = 1, double InitGain = 0, bool SpectralNorm = false);

/// <summary>Options of an attention layer. Sizes of 0 are inferred from the input width by shape inference.</summary>
/// <param name="Heads">Heads.</param>
/// <param name="KeySize">Query/key width per head.</param>
/// <param name="ValueSize">Value width per head.</param>
/// <param name="Causal">Causal mask.</param>
/// <param name="Window">Local window (0 = none).</param>
/// <param name="EntropyInvariant">λ_i = ln n_i / (ln 512 √d).</param>
/// <param name="Scale">Explicit λ (0 = 1/√KeySize).</param>
/// <param name="Rope">Rotary position embedding on q and k.</param>
/// <param name="RotaryDim">Rotary dimensions per head (0 = KeySize).</param>
/// <param name="RopeBase">RoPE base.</param>
/// <param name="TalkingHeads">Talking-heads mixing.</param>
/// <param name="Linear">Linear attention (φ = elu + 1) instead of softmax.</param>
internal sealed record AttentionSpec(int Heads, int KeySize, int ValueSize, bool Causal, int Window, bool EntropyInvariant, double Scale,
    bool Rope, int RotaryDim, double RopeBase, bool TalkingHeads, bool Linear);

/// <summary>One node of the forward graph; inputs are node ids, ids are topologically ordered.</summary>
/// <param name="Id">Position in <see cref="ModelSpec.Nodes"/>.</param>
/// <param name="Kind">The operation.</param>
/// <param name="Inputs">Input node ids.</param>
/// <param name="Layer">Layer path for layer nodes, else empty.</param>
/// <param name="Activation">Activation kind for activation nodes.</param>
/// <param name="Scalar">Scale factor, SquarePlus b, or dropout rate.</param>
internal sealed record NodeSpec(int Id, NodeKind Kind, EquatableArray<int> Inputs, string Layer, ActivationKind Activation, double Scalar);

/// <summary>A module property of the model: which module type, which layer paths belong to it.</summary>
/// <param name="PropertyName">The model's property.</param>
/// <param name="TypeFullName">The module type, fully qualified with global::.</param>
/// <param name="LayerPaths">The module's layers (every instance's, instance by instance), in its declaration order.</param>
/// <param name="Repeat">0 for a single module property; N for a [Repeat(N)] array property.</param>
/// <param name="MembersPerInstance">Layer members per instance (LayerPaths.Count / max(1, Repeat)).</param>
internal sealed record ModuleUseSpec(string PropertyName, string TypeFullName, EquatableArray<string> LayerPaths, int Repeat, int MembersPerInstance);

/// <summary>A layer member declared in a model or module type, for emitting its eager implementation.</summary>
/// <param name="Name">Method name.</param>
/// <param name="Accessibility">C# accessibility keywords as declared.</param>
/// <param name="ParameterName">The tensor parameter's name.</param>
/// <param name="Kind">The layer kind.</param>
/// <param name="Activation">Activation kind.</param>
/// <param name="Parameter">SquarePlus b.</param>
/// <param name="Index">Position among the type's layer members (its slot in a module binding).</param>
/// <param name="SecondParameterName">A MeanPool's ids parameter; empty for one-parameter layers.</param>
internal sealed record LayerMemberSpec(string Name, string Accessibility, string ParameterName, LayerKind Kind, ActivationKind Activation, double Parameter, int Index,
    string SecondParameterName = "");

/// <summary>Where a partial type sits: namespace and containing types, for emitting its other part.</summary>
/// <param name="Namespace">Namespace, empty for global.</param>
/// <param name="Name">Type name.</param>
/// <param name="FullName">Fully qualified with global::.</param>
/// <param name="Accessibility">Accessibility keywords.</param>
/// <param name="ContainingTypes">Containing type declarations, outermost first (e.g. "partial class Outer").</param>
internal sealed record TypeSpec(string Namespace, string Name, string FullName, string Accessibility, EquatableArray<string> ContainingTypes);

/// <summary>The whole model, after parsing and shape inference.</summary>
/// <param name="Type">Where the type lives.</param>
/// <param name="MaxBatch">Largest batch.</param>
/// <param name="InputWidth">Features per input row (1 for a token model: one id per row).</param>
/// <param name="Sequence">Rows per example (1 without a sequence axis).</param>
/// <param name="TokenInput">The input holds token ids (the forward starts with an Embedding).</param>
/// <param name="InitStd">Normal-init standard deviation (0 = default initialisation).</param>
/// <param name="Layers">Layer instances, parameters in this order.</param>
/// <param name="Nodes">The forward graph (and loss).</param>
/// <param name="Widths">Inferred feature width of each node's value (index = node id).</param>
/// <param name="OutputNode">The forward's result (what Predict returns).</param>
/// <param name="LossNode">The loss node, or −1.</param>
/// <param name="Targets">What the loss takes as targets.</param>
/// <param name="LossMethod">Name of the user's loss method, or empty.</param>
/// <param name="Members">Layer members declared directly on the model, for their eager bodies.</param>
/// <param name="Modules">Module properties.</param>
/// <param name="HasUserConstructor">The user declared an instance constructor.</param>
/// <param name="IsValid">No errors were found: emit the full implementation; otherwise compile-safe stubs.</param>
/// <param name="Adversarial">FGM adversarial training on an embedding table, or null.</param>
/// <param name="Loss">The loss's kind and hyper-parameters (null without a loss).</param>
internal sealed record ModelSpec(
    TypeSpec Type,
    int MaxBatch,
    int InputWidth,
    int Sequence,
    bool TokenInput,
    double InitStd,
    EquatableArray<LayerSpec> Layers,
    EquatableArray<NodeSpec> Nodes,
    EquatableArray<int> Widths,
    int OutputNode,
    int LossNode,
    TargetKind Targets,
    string LossMethod,
    EquatableArray<LayerMemberSpec> Members,
    EquatableArray<ModuleUseSpec> Modules,
    bool HasUserConstructor,
    bool IsValid,
    AdversarialSpec? Adversarial = null,
    LossSpec? Loss = null)
{
    /// <summary>The forward has a MeanPool: from it on, one row per example instead of Sequence.</summary>
    public bool Pooled => Nodes.Any(n => n.Kind == NodeKind.MeanPool);

    /// <summary>Ops.MultiTask's tasks and weighting, or null for a single loss. A multi-task model's
    /// <see cref="LossNode"/> and <see cref="Loss"/> are its first task's.</summary>
    public MultiTaskSpec? MultiTask { get; init; }

    /// <summary>The [Loss] method's target parameters (empty without a loss).</summary>
    public EquatableArray<TargetParameter> TargetParameters { get; init; } = EquatableArray<TargetParameter>.Empty;

    /// <summary>Every loss node with its spec: the tasks of a multi-task loss, else the one loss.</summary>
    public IEnumerable<(int Node, LossSpec Loss)> LossNodes =>
        MultiTask is { } multi ? multi.Tasks.Select(t => (t.LossNode, t.Loss))
        : LossNode >= 0 && Loss is { } loss ? new[] { (LossNode, loss) }
        : Enumerable.Empty<(int, LossSpec)>();
}

/// <summary>A module type, for emitting its members' eager bodies.</summary>
/// <param name="Type">Where the type lives.</param>
/// <param name="Members">Its layer members in declaration order.</param>
internal sealed record ModuleSpec(TypeSpec Type, EquatableArray<LayerMemberSpec> Members);
