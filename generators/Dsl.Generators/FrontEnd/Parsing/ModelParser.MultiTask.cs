using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using Dsl.Generators.Diagnostics;
using Dsl.Generators.Model;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace Dsl.Generators.Parsing;

// Ops.MultiTask(weighting, loss₁, loss₂, …): several loss ops, each on its own head and target
// parameter, combined by a declared weighting (SEEDS §1.4 "Multi-task loss weighting").
internal sealed partial class ModelParser
{
    private const string TaskWeightingName = "Dsl.TaskWeighting";

    /// <summary>Loss node id → the loss method's target parameter it reads.</summary>
    private readonly Dictionary<int, string> _lossTargets = new();

    /// <summary>The parsed Ops.MultiTask, or null; its value is its first task's loss node.</summary>
    private MultiTaskSpec? _multiTask;

    private int MultiTaskOp(InvocationExpressionSyntax call, Scope scope, SemanticModel model)
    {
        var location = call.GetLocation();
        if (model.GetSymbolInfo(call, _ct).Symbol is not IMethodSymbol method || method.Parameters.Length != 2) return -1;
        var args = call.ArgumentList.Arguments;
        if (_multiTask is not null)
        {
            Report(DiagnosticCatalog.LossForm, location, "Loss", "a model has one Ops.MultiTask, the value its [Loss] method returns");
            return -1;
        }

        if (args.Count < 3 || args.Skip(1).Any(a => a.NameColon is not null) || args[0].NameColon is { } named && named.Name.Identifier.ValueText != method.Parameters[0].Name)
        {
            Report(DiagnosticCatalog.LossForm, location, "Loss", "Ops.MultiTask takes the weighting (or the weights), then two or more loss ops as separate arguments");
            return -1;
        }

        // The weighting: a TaskWeighting member, or constant weights (one per loss, the fixed form Σ α_i L_i).
        var kind = TaskWeightingKind.Fixed;
        double[]? weights = null;
        var first = args[0].Expression;
        if (IsType(method.Parameters[0].Type, TaskWeightingName))
        {
            if (model.GetSymbolInfo(first, _ct).Symbol is not IFieldSymbol { ContainingType: { } enumType } field || enumType.ToDisplayString() != TaskWeightingName)
            {
                Report(DiagnosticCatalog.UnsupportedConstruct, first.GetLocation(), $"the weighting '{Describe(args[0])}' (write a TaskWeighting member, e.g. TaskWeighting.LogSum)");
                return -1;
            }

            kind = field.Name switch
            {
                "InitialLoss" => TaskWeightingKind.InitialLoss,
                "LogSum" => TaskWeightingKind.LogSum,
                "Uncertainty" => TaskWeightingKind.Uncertainty,
                _ => TaskWeightingKind.Fixed,
            };
        }
        else
        {
            weights = ConstantArray(first, model);
            if (weights is null)
            {
                Report(DiagnosticCatalog.UnsupportedConstruct, first.GetLocation(), $"the task weights '{Describe(args[0])}' (write constant numbers, e.g. [1.0, 0.5], one per loss)");
                return -1;
            }

            if (weights.Length != args.Count - 1)
            {
                Report(DiagnosticCatalog.LossForm, first.GetLocation(), "Loss",
                    $"Ops.MultiTask has {(args.Count - 1).ToString(CultureInfo.InvariantCulture)} losses but {weights.Length.ToString(CultureInfo.InvariantCulture)} weights; give one weight per loss");
                return -1;
            }
        }

        var tasks = new List<TaskSpec>();
        var predictions = new HashSet<int>();
        for (int i = 1; i < args.Count; i++)
        {
            int node = Expression(args[i].Expression, scope, model);
            if (node < 0) return -1;
            if (!_lossSpecs.TryGetValue(node, out var spec) || !_lossTargets.TryGetValue(node, out var target))
            {
                Report(DiagnosticCatalog.LossForm, args[i].GetLocation(), "Loss", $"argument {(i + 1).ToString(CultureInfo.InvariantCulture)} of Ops.MultiTask, '{Describe(args[i])}', is not a loss op");
                return -1;
            }

            if (spec.IsPairLoss)
            {
                Report(DiagnosticCatalog.LossForm, args[i].GetLocation(), "Loss", "a pair loss (Ops.CoSent, Ops.CosineMse) cannot be a task of Ops.MultiTask yet: the tasks are per-row losses");
                return -1;
            }

            if (!predictions.Add(_nodes[node].Inputs[0]))
            {
                Report(DiagnosticCatalog.LossForm, args[i].GetLocation(), "Loss", "two tasks of Ops.MultiTask read the same prediction; give each task its own head (each writes its own gradient)");
                return -1;
            }

            tasks.Add(new TaskSpec(node, spec, target, scope.Targets[target], weights?[i - 1] ?? 1));
            _locations.RecordCall(node, "MultiTask", call);
        }

        if (tasks.Count(t => t.Loss.Kind == LossKind.LogitAdjusted) > 1)
        {
            Report(DiagnosticCatalog.LossForm, location, "Loss", "Ops.MultiTask has more than one Ops.LogitAdjustedCrossEntropy task (SetClassPriors sets one set of priors)");
            return -1;
        }

        _multiTask = new MultiTaskSpec(kind, tasks.ToEquatableArray());
        return tasks[0].LossNode;
    }

    /// <summary>The [Loss] method's target parameters, or null after reporting a bad signature.</summary>
    private List<TargetParameter>? TargetParameters(IMethodSymbol loss)
    {
        var parameters = loss.Parameters;
        var result = new List<TargetParameter>();
        if (parameters.Length >= 2 && IsType(parameters[0].Type, TensorName))
        {
            foreach (var p in parameters.Skip(1))
            {
                var kind = IsType(p.Type, LabelsName) ? TargetKind.Labels : IsType(p.Type, ScoresName) ? TargetKind.Scores : IsType(p.Type, TensorName) ? TargetKind.Tensor : TargetKind.None;
                if (kind == TargetKind.None) return Bad();
                result.Add(new TargetParameter(p.Name, kind));
            }

            return result;
        }

        return Bad();

        List<TargetParameter>? Bad()
        {
            Report(DiagnosticCatalog.LossForm, loss.Locations.FirstOrDefault(), loss.Name,
                "it must take (Tensor inputs, Labels labels), (Tensor inputs, Tensor targets) or (Tensor pairs, Scores scores); with Ops.MultiTask, the inputs then one Labels or Tensor parameter per target");
            return null;
        }
    }
}
