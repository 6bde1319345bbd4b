using System.Collections.Generic;
using Dsl.Generators.Diagnostics;
using Dsl.Generators.Emit;
using Dsl.Generators.Emit.Cuda;
using Dsl.Generators.Model;
using Dsl.Generators.Parsing;
using Dsl.Generators.Rules;
using static Dsl.Generators.Emit.CudaLiterals;

namespace Dsl.Generators.Ops;

/// <summary>
/// Flooding (Ishida et al. 2020): Ops.Flood(loss, b) trains on |L − b| + b, so below the level b the gradient is
/// ascent (sign(L − b)·∇L, 0 at b). A hook on its loss node (the loss's <see cref="LossOptions.Flood"/>): it wraps one
/// loss op (a task's, in Ops.MultiTask). NNS022: b ≥ 0 (DSL313), and b below the loss at a uniform initial output (DSL314).
/// </summary>
internal sealed class Flood : Op
{
    public override string Name => "Flood";

    public override IReadOnlyList<string> Methods => new[] { "Flood" };

    /// <summary>Why a flooded model cannot be sharded across ranks.</summary>
    public const string DataParallelIssue = "Ops.Flood turns the gradient's sign on the whole batch's loss, which is not a mean of per-row terms";

    public override int ReadCall(CallReader call)
    {
        if (!call.Bound || !call.Has(call.ParameterName(0))) return -1;
        int lossNode = call.NodeOf(call.ParameterName(0));
        if (lossNode < 0) return -1;
        if (call.NodeAt(lossNode).Options is not LossOptions inner || inner.Flood >= 0 || call.MultiTask?.Tasks[0].LossNode == lossNode)
        {
            call.Report(DiagnosticCatalog.LossForm, "Loss", "Ops.Flood must wrap one loss op (e.g. Ops.Flood(Ops.SoftmaxCrossEntropy(Forward(x), y), 0.1)); to flood a task of Ops.MultiTask, wrap that task's loss");
            return -1;
        }

        double? level = call.Hyper("level");
        if (level is null) return -1;
        call.SetOptions(lossNode, inner with { Flood = level.Value, Flooded = true });
        call.RecordCall(lossNode, "Flood");
        return lossNode;
    }

    // ---- NNS022: flooding ([K-7643]; initial loss per [K-8870]) -----------------------------------------

    /// <summary>The flooding rules on a loss node (nothing when it is not flooded).</summary>
    public static void Check(RuleContext rules, int lossNode, LossOptions loss)
    {
        // The options' "no flood" is −1, which a user may also write: whether Ops.Flood wraps the loss decides.
        if (!loss.Flooded) return;
        double b = loss.Flood;
        var location = Site.CallArgument(lossNode, "level", 1, around: "Flood");
        if (!(b >= 0) || double.IsInfinity(b))
        {
            rules.Report(DiagnosticCatalog.LossArgument, location, "Ops.Flood", "b", RuleValues.Show(b), "finite and ≥ 0",
                "|L − b| + b with b < 0 equals L for every loss L ≥ 0, so the flood never acts; the level is meant to be a small positive loss value chosen on validation data", null, "level");
            return;
        }

        int k = RuleValues.Classes(rules.Model, lossNode);
        if (b == 0 || k < 2 || OpRegistry.Get<LossOp>(rules.Model.Nodes[lossNode].Op)?.InitialLoss(k, loss) is not (double initial, string how)) return;
        if (b < initial) return;
        rules.Report(DiagnosticCatalog.FloodAboveInitialLoss, location, RuleValues.Show(b), how, RuleValues.Show(initial), k);
    }

    // ---- emission ------------------------------------------------------------------------------------

    /// <summary>The CPU comment before the flooded value.</summary>
    public static string Comment(double level) =>
        $"// flooding: loss ← |loss − b| + b with b = {Literals.Double(level)}; the gradient is multiplied by sign(loss − b) (ascent below b, 0 at b)";

    /// <summary>The CPU call that floods <paramref name="loss"/> and flips the step's gradient below b.</summary>
    public static string Apply(CpuWriter w, string loss, double level, LossStep step) =>
        $"{CpuWriter.Kernels}.Flooding.Apply<T>({loss}, {Literals.Double(level)}, {w.Span(step.DX, $"rows * {Int(step.In)}")})";

    /// <summary>The CPU flooded value of <paramref name="value"/>.</summary>
    public static string Value(string value, double level) => $"{CpuWriter.Kernels}.Flooding.Value({value}, {Literals.Double(level)})";

    /// <summary>Flooding after the loss kernel, one block: L = Σ slots/(rows·divisor); below b every gradient
    /// element flips sign (ascent) and every slot l becomes 2b·divisor − l, so the host's mean is |L − b| + b; at b
    /// the gradient is zero.</summary>
    public static void Cuda(CudaWriter c, LossStep s, double level, int divisor)
    {
        var w = c.W;
        string name = c.KernelPrefix + "loss_flood";
        w.Line($"/* flooding, b = {Literals.Double(level)}: loss ← |loss − b| + b, ∂ ← sign(loss − b)·∂ over ∂z at {Int(s.DX)}. One block. */");
        using (w.Block($"DSL_KERNEL({name})"))
        {
            w.Line($"__shared__ double reduce[{Int(CudaWriter.ReduceBlock)}];");
            w.Line("double total = 0.0;");
            w.Line($"for (int r = DSL_TID; r < args.rows; r += DSL_BDIM) total += arena[{Int(c.Slot)} + r];");
            c.BlockReduce("reduce", "total", "{0} + {1}");
            w.Line($"const double loss = total / ((double)args.rows * {Int(divisor)}.0);");
            w.Line($"const double level = {Double(level)};");
            w.Line("if (!(loss <= level)) return; /* above b (or NaN): unchanged */");
            w.Line("const float factor = loss < level ? -1.0f : 0.0f;");
            w.Line($"for (int i = DSL_TID; i < args.rows * {Int(s.In)}; i += DSL_BDIM) arena[{Int(s.DX)} + i] *= factor;");
            w.Line($"for (int r = DSL_TID; r < args.rows; r += DSL_BDIM) arena[{Int(c.Slot)} + r] = (float)(2.0 * level * {Int(divisor)}.0) - arena[{Int(c.Slot)} + r];");
        }

        w.Line();
        c.Cooperative(name);
        c.Launch(new CudaLaunchSpec(name, "flooding of the loss and its gradient", "Single", s.In, CudaWriter.ReduceBlock));
    }
}
