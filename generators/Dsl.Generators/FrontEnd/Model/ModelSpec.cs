using System.Collections.Generic;
using System.Linq;

namespace Dsl.Generators.Model;

// The symbol-free description of a model: everything the later stages need, nothing from Roslyn
// (no ISymbol, SyntaxNode, Location), so the incremental pipeline can compare it by value.
// A test walks these types by reflection and fails if one holds a Roslyn object. What is particular
// to one op (a norm's ε, an attention's heads, a loss's γ) is that op's options record, declared
// next to the op in Ops/; this core only says which op, on what, with which options.

/// <summary>The options of one op as declared (an attribute's arguments, an Ops call's constants): each op
/// declares its own record deriving from this one, in its file under Ops/.</summary>
internal abstract record OpOptions;

/// <summary>What the loss consumes as targets.</summary>
internal enum TargetKind { None, Labels, Tensor, Scores }

/// <summary>One layer instance. <see cref="Path"/> is unique in the model ("Hidden", "Block1.Up").</summary>
/// <param name="Path">Member path from the model.</param>
/// <param name="Op">The op's name (<c>Ops/</c>: "Dense", "LayerNorm", "Tanh", …).</param>
/// <param name="In">Input features (a Dense's declared In until shape inference fills it; an embedding's vocabulary).</param>
/// <param name="Out">Output features (an embedding's dimension); 0 until inferred where the op infers it.</param>
/// <param name="Options">The op's options, or null for an op without any.</param>
internal sealed record LayerSpec(string Path, string Op, int In, int Out, OpOptions? Options)
{
    /// <summary>Path of the module instance the layer belongs to ("" for the model's own).</summary>
    public string Block { get; init; } = "";

    /// <summary>Number of stacked instances of that block (the Repeat count), 1 otherwise.</summary>
    public int Depth { get; init; } = 1;

    /// <summary>DeepNorm β for this layer's block (0 = not a DeepNorm block; resolved by the parser).</summary>
    public double InitGain { get; init; }

    /// <summary>The options as <typeparamref name="T"/>, or null.</summary>
    public T? OptionsAs<T>() where T : OpOptions => Options as T;
}

/// <summary>One node of the forward graph; inputs are node ids, ids are topologically ordered.</summary>
/// <param name="Id">Position in <see cref="ModelSpec.Nodes"/>.</param>
/// <param name="Op">The op's name.</param>
/// <param name="Inputs">Input node ids.</param>
/// <param name="Layer">Layer path for layer nodes, else empty.</param>
/// <param name="Options">The op's options as applied here (a layer node carries its layer's), or null.</param>
internal sealed record NodeSpec(int Id, string Op, EquatableArray<int> Inputs, string Layer, OpOptions? Options)
{
    /// <summary>The options as <typeparamref name="T"/>, or null.</summary>
    public T? OptionsAs<T>() where T : OpOptions => Options as T;
}

/// <summary>A module property of the model: which module type, which layer paths belong to it.</summary>
/// <param name="PropertyName">The model's property.</param>
/// <param name="TypeFullName">The module type, fully qualified with global::.</param>
/// <param name="LayerPaths">The module's layers (every instance's, instance by instance), in its declaration order.</param>
/// <param name="Repeat">0 for a single module property; N for a [Repeat(N)] array property.</param>
/// <param name="MembersPerInstance">Layer members per instance (LayerPaths.Count / max(1, Repeat)).</param>
internal sealed record ModuleUseSpec(string PropertyName, string TypeFullName, EquatableArray<string> LayerPaths, int Repeat, int MembersPerInstance);

/// <summary>A [Recompute] segment: one application of a module (a module property's Forward, or one block of a
/// [Repeat] stack), as the contiguous range of graph nodes its inlined forward created. The planner keeps what
/// the segment reads and what is read after it, and runs the rest again before the segment's backward.</summary>
/// <param name="Block">The module instance's path ("Encoder", "Blocks.2").</param>
/// <param name="First">The first node the segment's forward created.</param>
/// <param name="Last">The last one (its result, usually).</param>
internal sealed record SegmentSpec(string Block, int First, int Last)
{
    /// <summary>Whether node <paramref name="id"/> lies in the segment.</summary>
    public bool Contains(int id) => id >= First && id <= Last;
}

/// <summary>A layer member declared in a model or module type, for emitting its eager implementation.</summary>
/// <param name="Name">Method name.</param>
/// <param name="Accessibility">The member's modifiers as declared, without <c>partial</c> (its accessibility, and e.g. <c>new</c>).</param>
/// <param name="ParameterName">The tensor parameter's name.</param>
/// <param name="Op">The op's name.</param>
/// <param name="Options">The op's options.</param>
/// <param name="Index">Position among the type's layer members (its slot in a module binding).</param>
/// <param name="SecondParameterName">A MeanPool's ids parameter; empty for one-parameter layers.</param>
internal sealed record LayerMemberSpec(string Name, string Accessibility, string ParameterName, string Op, OpOptions? Options, int Index,
    string SecondParameterName = "");

/// <summary>Where a partial type sits: namespace and containing types, for emitting its other part.</summary>
/// <param name="Namespace">Namespace, empty for global.</param>
/// <param name="Name">Type name.</param>
/// <param name="FullName">Fully qualified with global::.</param>
/// <param name="Accessibility">Accessibility keywords.</param>
/// <param name="ContainingTypes">Containing type declarations, outermost first (e.g. "partial class Outer").</param>
internal sealed record TypeSpec(string Namespace, string Name, string FullName, string Accessibility, EquatableArray<string> ContainingTypes);

/// <summary>The [Model] attribute's shape facts.</summary>
/// <param name="MaxBatch">Largest batch.</param>
/// <param name="InputWidth">Features per input row (1 for a token model: one id per row).</param>
/// <param name="Sequence">Rows per example (1 without a sequence axis).</param>
/// <param name="TokenInput">The input holds token ids (the forward starts with an Embedding).</param>
/// <param name="InitStd">Normal-init standard deviation (0 = default initialisation).</param>
internal sealed record ModelShape(int MaxBatch, int InputWidth, int Sequence, bool TokenInput, double InitStd);

/// <summary>The training objective: the [Loss] method, its target parameters and its loss node(s).</summary>
/// <param name="Method">Name of the user's loss method.</param>
/// <param name="Node">The loss node (a multi-task loss: its first task's).</param>
/// <param name="Targets">What the first target parameter holds.</param>
/// <param name="Parameters">The loss method's target parameters, in declaration order.</param>
/// <param name="MultiTask">Ops.MultiTask's tasks and weighting, or null for a single loss.</param>
internal sealed record ObjectiveSpec(string Method, int Node, TargetKind Targets, EquatableArray<TargetParameter> Parameters, MultiTaskSpec? MultiTask);

/// <summary>The whole model, after parsing and shape inference.</summary>
/// <param name="Type">Where the type lives.</param>
/// <param name="Shape">Batch, input width, sequence, initialisation.</param>
/// <param name="Layers">Layer instances, parameters in this order.</param>
/// <param name="Nodes">The forward graph (and loss).</param>
/// <param name="OutputNode">The forward's result (what Predict returns).</param>
/// <param name="Objective">The loss, or null without a [Loss] method.</param>
internal sealed record ModelSpec(TypeSpec Type, ModelShape Shape, EquatableArray<LayerSpec> Layers, EquatableArray<NodeSpec> Nodes, int OutputNode, ObjectiveSpec? Objective)
{
    /// <summary>Inferred feature width of each node's value (index = node id); empty before shape inference.</summary>
    public EquatableArray<int> Widths { get; init; } = EquatableArray<int>.Empty;

    /// <summary>No errors were found: emit the full implementation; otherwise compile-safe stubs.</summary>
    public bool IsValid { get; init; }

    /// <summary>FGM adversarial training on an embedding table, or null.</summary>
    public AdversarialSpec? Adversarial { get; init; }

    /// <summary>Layer members declared directly on the model, for their eager bodies.</summary>
    public EquatableArray<LayerMemberSpec> Members { get; init; } = EquatableArray<LayerMemberSpec>.Empty;

    /// <summary>Module properties.</summary>
    public EquatableArray<ModuleUseSpec> Modules { get; init; } = EquatableArray<ModuleUseSpec>.Empty;

    /// <summary>The user declared an instance constructor.</summary>
    public bool HasUserConstructor { get; init; }

    /// <summary>The partial members the DSL implements, as declared (an invalid model's stubs mirror them).</summary>
    public EquatableArray<MemberDeclaration> Declarations { get; init; } = EquatableArray<MemberDeclaration>.Empty;

    /// <summary>The [Recompute] segments, in forward order (they never overlap).</summary>
    public EquatableArray<SegmentSpec> Segments { get; init; } = EquatableArray<SegmentSpec>.Empty;

    /// <summary>Largest batch.</summary>
    public int MaxBatch => Shape.MaxBatch;

    /// <summary>Features per input row (1 for a token model).</summary>
    public int InputWidth => Shape.InputWidth;

    /// <summary>Rows per example.</summary>
    public int Sequence => Shape.Sequence;

    /// <summary>The input holds token ids.</summary>
    public bool TokenInput => Shape.TokenInput;

    /// <summary>Normal-init standard deviation (0 = default initialisation).</summary>
    public double InitStd => Shape.InitStd;

    /// <summary>The loss node, or −1.</summary>
    public int LossNode => Objective?.Node ?? -1;

    /// <summary>What the loss takes as targets.</summary>
    public TargetKind Targets => Objective?.Targets ?? TargetKind.None;

    /// <summary>Name of the user's loss method, or empty.</summary>
    public string LossMethod => Objective?.Method ?? "";

    /// <summary>The loss's options (a multi-task loss: its first task's), or null without a loss.</summary>
    public LossOptions? Loss => LossNode >= 0 && LossNode < Nodes.Count ? Nodes[LossNode].Options as LossOptions : null;

    /// <summary>Ops.MultiTask's tasks and weighting, or null for a single loss.</summary>
    public MultiTaskSpec? MultiTask => Objective?.MultiTask;

    /// <summary>The [Loss] method's target parameters (empty without a loss).</summary>
    public EquatableArray<TargetParameter> TargetParameters => Objective?.Parameters ?? EquatableArray<TargetParameter>.Empty;

    /// <summary>The forward has a MeanPool: from it on, one row per example instead of Sequence.</summary>
    public bool Pooled => Nodes.Any(n => Ops.OpRegistry.Get(n.Op).PoolsRows);

    /// <summary>Every loss node with its options: the tasks of a multi-task loss, else the one loss.</summary>
    public IEnumerable<(int Node, LossOptions Loss)> LossNodes =>
        MultiTask is { } multi ? multi.Tasks.Select(t => (t.LossNode, t.Loss))
        : LossNode >= 0 && Loss is { } loss ? new[] { (LossNode, loss) }
        : Enumerable.Empty<(int, LossOptions)>();
}

/// <summary>A module type, for emitting its members' eager bodies.</summary>
/// <param name="Type">Where the type lives.</param>
/// <param name="Members">Its layer members in declaration order.</param>
internal sealed record ModuleSpec(TypeSpec Type, EquatableArray<LayerMemberSpec> Members)
{
    /// <summary>The partial members the DSL implements, as declared: those not among <see cref="Members"/>
    /// (a layer with a wrong signature, a module property inside a module) get throwing stubs.</summary>
    public EquatableArray<MemberDeclaration> Declarations { get; init; } = EquatableArray<MemberDeclaration>.Empty;
}
