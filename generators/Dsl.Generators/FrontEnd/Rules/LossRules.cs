using System.Collections.Generic;
using Dsl.Generators.Diagnostics;
using Dsl.Generators.Model;
using Dsl.Generators.Ops;

namespace Dsl.Generators.Rules;

/// <summary>
/// The loss rules of SEEDS.md §2 ("Losses", "Regularizers"), run on the parsed losses: each loss op's own
/// (<see cref="LossOp.CheckLoss"/>: NNS017 to NNS021, one per loss), then flooding's (NNS022, <see cref="Flood.Check"/>) on every loss, then the multi-task weighting's
/// (NNS023, <see cref="MultiTask.Check"/>). A hyper-parameter that makes the loss mathematically invalid is
/// <see cref="DiagnosticCatalog.LossArgument"/> (an Error, which blocks generation); a departure from the sourced
/// recommendation is a Warning, a heuristic an Info. Each finding points at the loss call's argument that holds the
/// value (a <see cref="Site.CallArgument"/> of the loss node), which resolves to the call when the value is the op's
/// default. Never throws on user values.
/// </summary>
internal static class LossRules
{
    /// <summary>Runs the loss rules on every loss of <paramref name="model"/>, adding what they find to <paramref name="sink"/>.</summary>
    public static void Check(ModelSpec model, List<Finding> sink)
    {
        var rules = new RuleContext(model, sink);
        foreach (var (node, loss) in model.LossNodes)
        {
            OpRegistry.Get<LossOp>(model.Nodes[node].Op)?.CheckLoss(rules, node, loss);
            Flood.Check(rules, node, loss);
        }

        MultiTask.Check(rules);
    }
}
