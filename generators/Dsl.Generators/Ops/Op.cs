using System;
using System.Collections.Generic;
using Dsl.Generators.Emit;
using Dsl.Generators.Model;
using Dsl.Generators.Parsing;
using Dsl.Generators.Planning;
using Dsl.Generators.Rules;
using Dsl.Generators.Shapes;

namespace Dsl.Generators.Ops;

/// <summary>
/// One operation of the DSL (a layer, an activation, a norm, an attention variant, a loss, a pooling, a
/// structural op such as a residual add), with everything the generator knows about it side by side, as JAX
/// registers a primitive's rules or PyTorch's derivatives.yaml lists a function's: how it is recognised (a layer
/// attribute or an Ops call, read into a node with the op's options), its shape rule, its rule hooks, its plan
/// (parameters, buffers, forward and backward steps) and, through its plan steps, its CPU and CUDA forward and
/// backward emission. The passes loop over the ops (<see cref="OpRegistry"/>); every hook has a neutral default.
/// An op is a stateless singleton.
/// </summary>
internal abstract class Op
{
    /// <summary>The op's name: the key of <see cref="NodeSpec.Op"/> and <see cref="LayerSpec.Op"/>, and how buffers
    /// and comments of nodes without a layer name it.</summary>
    public abstract string Name { get; }

    // ---- recognition ------------------------------------------------------------------------------

    /// <summary>The layer attribute's class name ("DenseAttribute"), or null when the op is not a layer.</summary>
    public virtual string? Attribute => null;

    /// <summary>Whether this op takes the attribute (ops sharing an attribute, [Gelu(Exact = …)], choose by its arguments).</summary>
    public virtual bool Claims(LayerReader attribute) => true;

    /// <summary>The tensor parameters of the layer member (a [MeanPool] takes the ids too).</summary>
    public virtual int LayerParameters => 1;

    /// <summary>Reads the layer attribute into the layer's sizes and options, reporting arguments out of range.</summary>
    public virtual (int In, int Out, OpOptions? Options) ReadLayer(LayerReader attribute) => (0, 0, null);

    /// <summary>The layer needs a sequence axis (Sequence &gt; 1).</summary>
    public virtual bool NeedsSequence => false;

    /// <summary>A DeepNorm block initialises this layer with its β (Dense, the attention projections).</summary>
    public virtual bool TakesBlockInitGain => false;

    /// <summary>β this layer's attribute sets for its block (DeepNorm), or 0.</summary>
    public virtual double BlockInitGain(LayerReader attribute, int depth) => 0;

    /// <summary>A call of the layer member: reads the arguments into a node (default: one tensor, node op <see cref="Name"/>
    /// with the layer's options). Returns the node id, or −1 after reporting.</summary>
    public virtual int CallLayer(LayerCall call) => call.OneInput(Name, call.Layer.Options);

    /// <summary>The Ops methods this op is written as (Ops.Tanh), or none.</summary>
    public virtual IReadOnlyList<string> Methods => Array.Empty<string>();

    /// <summary>Whether this op takes a call of <paramref name="method"/> with <paramref name="arguments"/> arguments
    /// (ops sharing an Ops method choose by the arguments).</summary>
    public virtual bool ClaimsCall(string method, int arguments) => true;

    /// <summary>Reads an Ops call into a node. Returns the node id, or −1 after reporting.</summary>
    public virtual int ReadCall(CallReader call) => -1;

    /// <summary>Whether two nodes of this op with the same inputs and options compute the same value (the parser then
    /// keeps one); the input and the losses are never shared.</summary>
    public virtual bool Shares => true;

    /// <summary>Whether a [Recompute] segment may run the op's forward step again before its backward (the default: a
    /// step computes its outputs from its inputs alone; dropout's masks are a hash, so they replay). Not an op whose
    /// step changes the pass itself (a MeanPool switches it to one row per example).</summary>
    public virtual bool Recomputable => true;

    /// <summary>Whether the op ends a loss method's graph (a loss).</summary>
    public virtual bool IsLoss => false;

    /// <summary>From this op on a pass has one row per example (mean pooling over the sequence).</summary>
    public virtual bool PoolsRows => false;

    // ---- shapes and rules -------------------------------------------------------------------------

    /// <summary>The width of the node's value; may fill in the layer's sizes or report a shape error. Default: the input's.</summary>
    public virtual int InferShape(ShapeContext shapes, NodeSpec node, LayerSpec? layer) => shapes.In(node, 0);

    /// <summary>The op's scaling rules on one of its layers.</summary>
    public virtual void CheckLayer(RuleContext rules, LayerSpec layer)
    {
    }

    /// <summary>The op normalises rows (a norm after a residual sum makes it Post-LN; a stack with one needs no 1/√N).</summary>
    public virtual bool Normalizes => false;

    /// <summary>The op rescales the residual stream (a norm, a DeepNorm skip): the 1/√N rule does not apply.</summary>
    public virtual bool ScalesResidualStream => Normalizes;

    // ---- plan ---------------------------------------------------------------------------------------

    /// <summary>Whether the layer owns trained parameters (so its value, and everything downstream, needs a gradient).</summary>
    public virtual bool HasParameters(LayerSpec? layer) => false;

    /// <summary>A projection whose output may feed a residual add (GPT-2's scaled init counts them).</summary>
    public virtual bool IsResidualBranch => false;

    /// <summary>The op's forward is a product whose epilogue can compute an activation that reads it alone (Dense).</summary>
    public virtual bool OffersEpilogue => false;

    /// <summary>The op is a residual add x₁ + x₂ (a projection feeding one is a residual branch; a norm may compute it).</summary>
    public virtual bool IsResidualAdd => false;

    /// <summary>The op computes a residual add that it is the first reader of in its own pass (LayerNorm).</summary>
    public virtual bool AbsorbsResidualAdd => false;

    /// <summary>Parameters the model holds beside its layers' (a multi-task loss's learned log-variances), after theirs.</summary>
    public virtual void PlanModelParameters(PlanBuilder plan)
    {
    }

    /// <summary>Buffers the model needs after the activations and gradients, before the layers' extras (FGM's backups).</summary>
    public virtual void PlanModelExtras(PlanBuilder plan)
    {
    }

    /// <summary>1 for a layer whose parameters point at another layer's (a tied Dense): planned after the others.</summary>
    public virtual int ParameterOrder(LayerSpec layer) => 0;

    /// <summary>Lays out the layer's parameters (and its eager binding).</summary>
    public virtual void PlanParameters(PlanBuilder plan, LayerSpec layer)
    {
    }

    /// <summary>Allocates the node's value (and what its backward keeps). Default: one [rows, width] buffer.</summary>
    public virtual void PlanValues(PlanBuilder plan, NodeSpec node) => plan.Value[node.Id] = plan.Allocate(Label(node), plan.Rows, plan.Model.Widths[node.Id]);

    /// <summary>Allocates the node's gradient buffers (called for nodes that need one). Default: one buffer like the value.</summary>
    public virtual void PlanGradient(PlanBuilder plan, NodeSpec node) =>
        plan.Grad[node.Id] = plan.Allocate("∂loss/∂" + Label(node), plan.Rows, plan.Model.Widths[node.Id]);

    /// <summary>Buffers the layer needs after the activations and gradients (spectral normalisation's u, v, σ, W/σ).</summary>
    public virtual void PlanExtras(PlanBuilder plan, LayerSpec layer)
    {
    }

    /// <summary>The node's forward step, or null (nothing to run, or fused into another step).</summary>
    public virtual PlanStep? Forward(PlanBuilder plan, NodeSpec node) => null;

    /// <summary>The node's backward step, or null; called in reverse order for nodes that need a gradient.</summary>
    public virtual PlanStep? Backward(PlanBuilder plan, NodeSpec node) => null;

    // ---- emission -----------------------------------------------------------------------------------

    /// <summary>A short name for a node's value, used in buffer names.</summary>
    public virtual string Label(NodeSpec node) => node.Layer.Length > 0 ? $"{node.Layer}#{Literals.Int(node.Id)}" : $"{Name}#{Literals.Int(node.Id)}";

    /// <summary>The layer in the model's description comment ("Dense 20 → 16 + bias").</summary>
    public virtual string Describe(LayerSpec layer, ModelSpec model) => Name;

    /// <summary>The body of a layer member: the eager, double-precision reference. <paramref name="binding"/> is the
    /// "arena, binding" argument text, null when the layer is unused (the body then throws, for ops that need one).</summary>
    public virtual string EagerBody(LayerMemberSpec member, string? binding) =>
        binding is null ? Eager.Unused(member) : $"global::Dsl.Runtime.Eager.{Name}({Eager.Arguments(member)}, {binding})";

    /// <summary>The member body of a module's layer: the eager reference reading its slot of the module's binding.</summary>
    public virtual string ModuleEagerBody(LayerMemberSpec member, string slot) =>
        $"global::Dsl.Runtime.Eager.{Name}({Eager.Arguments(member)}, _binding.Arena, {slot} ?? throw new global::System.InvalidOperationException({Literals.String(Eager.UnusedMessage(member))}))";

    /// <summary>Whether a module's member of this op is printed as <see cref="EagerBody"/> with no binding (activations, dropout).</summary>
    public virtual bool EagerWithoutBinding => false;

    public override string ToString() => Name;
}

/// <summary>The text pieces of eager member bodies.</summary>
internal static class Eager
{
    /// <summary>"x" or "x, ids".</summary>
    public static string Arguments(LayerMemberSpec member) =>
        member.SecondParameterName.Length > 0 ? $"{member.ParameterName}, {member.SecondParameterName}" : member.ParameterName;

    /// <summary>Why an unused layer's body throws.</summary>
    public static string UnusedMessage(LayerMemberSpec member) => $"layer '{member.Name}' is not used by the forward pass, so its shape is unknown";

    /// <summary>A body that throws because the layer is unused.</summary>
    public static string Unused(LayerMemberSpec member) => $"throw new global::System.InvalidOperationException({Literals.String(UnusedMessage(member))})";
}
