using System;
using System.Collections.Generic;
using System.Linq;
using Dsl.Generators.Diagnostics;
using Dsl.Generators.Model;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;

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
    public static void Check(ModelSpec model, IRuleLocations locations, Action<DiagnosticDescriptor, Location?, object?[]> report)
    {
        if (model.MultiTask is not { Tasks.Count: > 0 } multi) return;
        var call = MultiTaskCall(locations.Node(multi.Tasks[0].LossNode));
        Location? at = call?.GetLocation() ?? locations.Node(multi.Tasks[0].LossNode);
        var weightsArgument = call?.ArgumentList.Arguments.FirstOrDefault();

        if (multi.Weighting == TaskWeightingKind.Fixed)
        {
            for (int i = 0; i < multi.Tasks.Count; i++)
            {
                double w = multi.Tasks[i].Weight;
                if (w >= 0 && !double.IsInfinity(w)) continue;
                report(DiagnosticCatalog.TaskWeight, LossRules.PriorLocation(weightsArgument, i) ?? weightsArgument?.GetLocation() ?? at,
                    new object?[] { i, ScalingRules.Show(w), Describe(multi.Tasks[i]) });
            }

            // Equal weights on a mix of classification and regression losses (NNS023's Info).
            var weights = multi.Tasks.Select(t => t.Weight).Distinct().ToList();
            var classification = multi.Tasks.Where(t => t.Loss.Kind != LossKind.MeanSquaredError).ToList();
            var regression = multi.Tasks.Where(t => t.Loss.Kind == LossKind.MeanSquaredError).ToList();
            if (weights.Count == 1 && weights[0] > 0 && !double.IsInfinity(weights[0]) && classification.Count > 0 && regression.Count > 0)
            {
                var first = classification[0];
                int k = LossRules.Classes(model, first.LossNode);
                report(DiagnosticCatalog.UnscaledTasks, weightsArgument?.GetLocation() ?? at, new object?[]
                {
                    string.Join(", ", classification.Select(Describe)),
                    string.Join(", ", regression.Select(Describe)),
                    k >= 2 ? $"ln {k} = {ScalingRules.Show(Math.Log(k))}" : "ln K",
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

    /// <summary>The Ops.MultiTask call that holds the loss call at <paramref name="location"/>.</summary>
    private static InvocationExpressionSyntax? MultiTaskCall(Location? location) =>
        LossRules.Invocation(location)?.AncestorsAndSelf().OfType<InvocationExpressionSyntax>()
            .FirstOrDefault(i => i.Expression is MemberAccessExpressionSyntax { Name.Identifier.ValueText: "MultiTask" } or IdentifierNameSyntax { Identifier.ValueText: "MultiTask" });
}
