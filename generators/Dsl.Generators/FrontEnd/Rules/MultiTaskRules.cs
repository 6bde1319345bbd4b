using System;
using System.Collections.Generic;
using System.Linq;
using Dsl.Generators.Diagnostics;
using Dsl.Generators.Model;
using Microsoft.CodeAnalysis;

namespace Dsl.Generators.Rules;

/// <summary>
/// SEEDS.md §2 NNS023 (multi-task weighting), run on the parsed <see cref="ModelSpec.MultiTask"/>: a negative
/// or non-finite fixed weight is <see cref="DiagnosticCatalog.TaskWeight"/> (an Error); classification and
/// regression losses summed with equal weights get <see cref="DiagnosticCatalog.UnscaledTasks"/> (an Info).
/// NNS023's other error, L_i / L_i without a stop-gradient, cannot be written here: the DSL has no division
/// of losses, and TaskWeighting.LogSum is that weighting with the stop-gradient built in. Never throws.
/// </summary>
internal static class MultiTaskRules
{
    /// <summary>Runs the multi-task rules on <paramref name="model"/>, adding what they find to <paramref name="sink"/>.</summary>
    public static void Check(ModelSpec model, List<Finding> sink)
    {
        if (model.MultiTask is not { Tasks.Count: > 0 } multi) return;
        void Report(DiagnosticDescriptor descriptor, Site site, object?[] arguments) => sink.Add(new Finding(descriptor, site, arguments));
        // The weighting or the weights: Ops.MultiTask's first argument, whatever its name; a weight, one element of it.
        int first = multi.Tasks[0].LossNode;
        Site Weights(int element = -1) => Site.CallArgument(first, null, 0, element, around: "MultiTask");

        if (multi.Weighting == TaskWeightingKind.Fixed)
        {
            for (int i = 0; i < multi.Tasks.Count; i++)
            {
                double w = multi.Tasks[i].Weight;
                if (w >= 0 && !double.IsInfinity(w)) continue;
                Report(DiagnosticCatalog.TaskWeight, Weights(i), new object?[] { i, RuleValues.Show(w), Describe(multi.Tasks[i]) });
            }

            // Equal weights on a mix of classification and regression losses (NNS023's Info).
            var weights = multi.Tasks.Select(t => t.Weight).Distinct().ToList();
            var classification = multi.Tasks.Where(t => t.Loss.Kind != LossKind.MeanSquaredError).ToList();
            var regression = multi.Tasks.Where(t => t.Loss.Kind == LossKind.MeanSquaredError).ToList();
            if (weights.Count == 1 && weights[0] > 0 && !double.IsInfinity(weights[0]) && classification.Count > 0 && regression.Count > 0)
            {
                int k = RuleValues.Classes(model, classification[0].LossNode);
                Report(DiagnosticCatalog.UnscaledTasks, Weights(), new object?[]
                {
                    string.Join(", ", classification.Select(Describe)),
                    string.Join(", ", regression.Select(Describe)),
                    k >= 2 ? $"ln {k} = {RuleValues.Show(Math.Log(k))}" : "ln K",
                });
            }
        }
    }

    private static string Describe(TaskSpec task) => $"{Op(task.Loss.Kind)}(…, {task.Target})";

    private static string Op(LossKind kind) => kind switch
    {
        LossKind.SoftmaxCrossEntropy or LossKind.LabelSmoothing => "SoftmaxCrossEntropy",
        LossKind.MeanSquaredError => "MeanSquaredError",
        LossKind.Focal => "FocalLoss",
        LossKind.LogitAdjusted => "LogitAdjustedCrossEntropy",
        _ => kind.ToString(),
    };
}
