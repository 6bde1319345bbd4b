using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using Dsl.Generators.Diagnostics;
using Dsl.Generators.Model;

namespace Dsl.Generators.Rules;

/// <summary>
/// The check stage of the front end, on the parsed and shape-inferred <see cref="ModelSpec"/>: the structural
/// errors that need the widths (a [Repeat] block that changes the width, a multi-task target read by no task or
/// at two widths) and then the rule families in turn (<see cref="ScalingRules"/>, <see cref="LossRules"/>), each a loop over
/// the ops' rule hooks, none of which calls another. Everything comes back as <see cref="Finding"/>s.
/// </summary>
internal static class ModelRules
{
    /// <summary>The structural errors (reported once per finding).</summary>
    public static List<Finding> Structure(ModelSpec model, ModelFacts facts)
    {
        var findings = new List<Finding>();
        TaskTargets(model, facts, findings);
        Limits.Check(model, findings);
        foreach (var repeat in facts.Repeats)
        {
            int a = model.Widths[repeat.Input], b = model.Widths[repeat.Output];
            if (a >= 0 && b >= 0 && a != b) findings.Add(new Finding(DiagnosticCatalog.RepeatShape, repeat.Site, new object?[] { repeat.Block, a, b }));
        }

        return findings;
    }

    /// <summary>The scaling, loss and multi-task rules (a finding per id and location once: see <c>LocationMap.Resolve</c>).</summary>
    public static List<Finding> Check(ModelSpec model)
    {
        var findings = new List<Finding>();
        ScalingRules.Check(model, findings);
        LossRules.Check(model, findings);
        return findings;
    }

    /// <summary>Every target parameter is read by a task, and a Tensor target shared by tasks has one width.</summary>
    private static void TaskTargets(ModelSpec model, ModelFacts facts, List<Finding> findings)
    {
        if (model.MultiTask is not { } multi) return;
        foreach (var target in model.TargetParameters)
        {
            var readers = multi.Tasks.Where(t => t.Target == target.Name).ToList();
            if (readers.Count == 0)
            {
                findings.Add(new Finding(DiagnosticCatalog.LossForm, facts.TargetSites.TryGetValue(target.Name, out var site) ? site : Site.Nowhere,
                    new object?[] { model.LossMethod, $"its target parameter '{target.Name}' is read by no task of Ops.MultiTask" }));
                continue;
            }

            if (target.Kind == TargetKind.Tensor)
            {
                var distinct = readers.Select(t => model.Widths[model.Nodes[t.LossNode].Inputs[0]]).Where(w => w > 0).Distinct().ToList();
                if (distinct.Count > 1)
                    findings.Add(new Finding(DiagnosticCatalog.LossForm, Site.Node(readers[1].LossNode), new object?[]
                    {
                        model.LossMethod,
                        $"the tasks that read '{target.Name}' predict {string.Join(" and ", distinct.Select(w => w.ToString(CultureInfo.InvariantCulture)))} columns; a target tensor has one width",
                    }));
            }
        }
    }
}
