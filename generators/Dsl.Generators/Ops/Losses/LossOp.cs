using System.Collections.Generic;
using Dsl.Generators.Diagnostics;
using Dsl.Generators.Emit;
using Dsl.Generators.Emit.Cuda;
using Dsl.Generators.Model;
using Dsl.Generators.Parsing;
using Dsl.Generators.Planning;
using Dsl.Generators.Rules;
using Dsl.Generators.Shapes;
using static Dsl.Generators.Emit.Literals;

namespace Dsl.Generators.Ops;

/// <summary>
/// A loss: an Ops method of the prediction and one of the loss method's target parameters, fused with its gradient
/// ∂loss/∂prediction. A subclass reads its call (its hyper-parameters), states its rules, the loss at a uniform
/// initial output (for the flooding rule), its CPU kernel call and formula, and its CUDA kernel. The model-level code
/// (TrainingPass, Loss, multi-task weighting) calls these.
/// </summary>
internal abstract class LossOp : Op
{
    /// <summary>The Ops method ("FocalLoss").</summary>
    public abstract string Method { get; }

    public override IReadOnlyList<string> Methods => new[] { Method };

    /// <summary>What the loss's target parameter holds.</summary>
    public virtual TargetKind Targets => TargetKind.Labels;

    /// <summary>The loss compares sentence pairs (the targets are one score per pair).</summary>
    public virtual bool ComparesPairs => false;

    /// <summary>A regression loss (a squared error), not a classification one (NNS023's mix of scales).</summary>
    public virtual bool IsRegression => false;

    public override bool Shares => false;

    public override bool IsLoss => true;

    public override bool Recomputable => false;

    /// <summary>Whether the generated code is the original cross-entropy/MSE path (kept byte-for-byte): this op unflooded.</summary>
    public virtual bool IsPlain(LossOptions options) => false;

    /// <summary>Why a model with this loss cannot be trained data-parallel with one process's result (its value is not a
    /// mean of per-row terms), or null.</summary>
    public virtual string? DataParallelIssue => null;

    /// <summary>The loss's parameter name in its target argument's error.</summary>
    private string TargetWord => Targets switch { TargetKind.Scores => "Scores", TargetKind.Tensor => "Tensor", _ => "Labels" };

    /// <summary>Reads the hyper-parameters (the declared defaults when omitted) into the loss's options, reporting a
    /// non-constant one; null after an error.</summary>
    protected abstract LossOptions? ReadOptions(CallReader call, string target);

    public override int ReadCall(CallReader call)
    {
        if (!call.Bound) return -1;
        string? target = call.ParameterCount > 1 ? call.Target(call.ParameterName(1), Targets) : null;
        if (target is null)
        {
            call.Report(DiagnosticCatalog.LossForm, "Loss", $"the second argument of Ops.{Method} must be the loss method's {TargetWord} parameter");
            return -1;
        }

        var options = ReadOptions(call, target);
        if (options is null) return -1;
        int prediction = call.NodeOf(call.ParameterName(0));
        if (prediction < 0) return -1;
        int node = call.AddNode(Name, new[] { prediction }, options);
        call.RecordCall(node);
        return node;
    }

    /// <summary>The loss's rules (hyper-parameters out of range: DSL313; others per loss).</summary>
    public virtual void CheckLoss(RuleContext rules, int node, LossOptions options)
    {
    }

    /// <summary>Reports a hyper-parameter out of range (DSL313) at its argument, with the sourced value as the fix.</summary>
    protected void Invalid(RuleContext rules, int node, string parameter, int position, string name, double value, string range, string why, string? fix) =>
        rules.Report(DiagnosticCatalog.LossArgument, Site.CallArgument(node, parameter, position), $"Ops.{Method}", name, RuleValues.Show(value), range, why, fix, parameter);

    /// <summary>The loss at a uniform initial output (all logits equal) for <paramref name="k"/> classes, with the formula
    /// that gives it, or null where there is no such estimate (regression and pair losses).</summary>
    public virtual (double Loss, string How)? InitialLoss(int k, LossOptions options) => null;

    public override void PlanValues(PlanBuilder plan, NodeSpec node)
    {
    }

    public override void PlanGradient(PlanBuilder plan, NodeSpec node)
    {
    }

    public override PlanStep? Forward(PlanBuilder plan, NodeSpec node) =>
        new LossStep(node.Id, node.Layer, plan.InputWidth(node), plan.InputValue(node), plan.Grad[node.Inputs[0]]);

    // ---- CPU: the kernel call and the members it needs ---------------------------------------------------

    /// <summary>The loss's formula, for comments.</summary>
    public abstract string Formula(LossOptions options);

    /// <summary>The fused call of the loss on <paramref name="step"/>'s prediction: its value, and with <paramref name="gradient"/>
    /// its unweighted gradient ∂loss/∂prediction written to the step's DX. Reads <c>rows</c> (and <c>batch</c> for pair
    /// losses) and the target span named <paramref name="target"/>.</summary>
    public abstract string Kernel(CpuWriter w, LossOptions options, LossStep step, string target, bool gradient);

    /// <summary>The engine members the kernel call reads (a scratch buffer, the priors' offsets).</summary>
    public virtual void CpuMembers(CpuWriter w, LossOptions options, LossStep step)
    {
    }

    /// <summary>The prediction span (in Forward's local arena when <paramref name="gradient"/>, else the field).</summary>
    protected static string Prediction(CpuWriter w, LossStep step, bool gradient) =>
        gradient ? w.Span(step.X, $"rows * {Int(step.In)}") : w.SpanA(step.X, $"rows * {Int(step.In)}");

    /// <summary>The gradient span.</summary>
    protected static string Gradient(CpuWriter w, LossStep step) => w.Span(step.DX, $"rows * {Int(step.In)}");

    /// <summary>", ∂, 1/rows)" for a gradient call, ")" for a value call.</summary>
    protected static string Tail(CpuWriter w, LossStep step, bool gradient) => gradient ? $", {Gradient(w, step)}, T.One / T.CreateTruncating(rows))" : ")";

    // ---- CUDA -----------------------------------------------------------------------------------------

    /// <summary>The fused value-and-gradient kernel; returns the per-row divisor of the host's mean (1, the width for MSE).</summary>
    public abstract int CudaKernel(CudaWriter w, LossStep step, LossOptions options);
}

/// <summary>A loss on a prediction X of <paramref name="In"/> columns, fused with ∂loss/∂X → DX; the model-level code prints
/// it (through its op), so it prints nothing as a step of the forward schedule.</summary>
internal sealed record LossStep(int Node, string Layer, int In, int X, int DX) : PlanStep(Node, Layer)
{
    public override void Cpu(CpuWriter w)
    {
    }

    public override void Cuda(CudaWriter w)
    {
    }
}
