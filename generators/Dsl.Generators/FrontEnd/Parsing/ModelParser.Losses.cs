using System;
using System.Collections.Generic;
using System.Linq;
using Dsl.Generators.Diagnostics;
using Dsl.Generators.Model;
using Dsl.Generators.Ops;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace Dsl.Generators.Parsing;

// The loss method's parts the ops do not read: constant arrays, the target parameters, and the checks that
// pooling and pair losses go together.
internal sealed partial class ModelParser
{
    private const string ScoresName = "Dsl.Scores";

    /// <summary>The elements of a constant array (new[] { … }, new double[] { … } or [ … ]), or null.</summary>
    internal double[]? ConstantArray(ExpressionSyntax expression, SemanticModel model)
    {
        IReadOnlyList<ExpressionSyntax>? items = expression switch
        {
            ImplicitArrayCreationExpressionSyntax a => a.Initializer.Expressions.ToList(),
            ArrayCreationExpressionSyntax { Initializer: { } init } => init.Expressions.ToList(),
            CollectionExpressionSyntax c => c.Elements.All(e => e is ExpressionElementSyntax) ? c.Elements.Select(e => ((ExpressionElementSyntax)e).Expression).ToList() : null,
            _ => null,
        };
        if (items is null) return null;
        var values = new double[items.Count];
        for (int i = 0; i < values.Length; i++)
        {
            double? v = Constant(items[i], model);
            if (v is null) return null;
            values[i] = v.Value;
        }

        return values;
    }

    /// <summary>A MeanPool turns batch × Sequence rows into batch rows: one per model, on token ids, one loss
    /// (any per-row loss on the pooled rows, or a pair loss), and nothing after it may read a value from before
    /// it. Pair losses need one row per sentence.</summary>
    private void CheckPooling(bool tokens)
    {
        var pools = _nodes.Where(n => OpRegistry.Get(n.Op).PoolsRows).ToList();
        if (pools.Count > 1)
            Report(DiagnosticCatalog.UnsupportedConstruct, _locations.Node(pools[1].Id), "a second MeanPool (one per model)");
        if (pools.Count > 0 && !tokens)
            Report(DiagnosticCatalog.UnsupportedConstruct, _locations.Node(pools[0].Id), "MeanPool in a model whose input is not token ids (it reads the pad mask from the ids)");
        if (pools.Count == 1)
        {
            int pool = pools[0].Id;
            foreach (var node in _nodes.Where(n => n.Id > pool))
                if (node.Inputs.Any(i => i < pool))
                {
                    Report(DiagnosticCatalog.UnsupportedConstruct, _locations.Node(node.Id), "reading a value from before the MeanPool after it (after pooling there is one row per example)");
                    break;
                }
        }

        var losses = _nodes.Where(n => n.Options is LossOptions).ToList();
        bool PairLoss(NodeSpec n) => OpRegistry.Get(n.Op) is LossOp { ComparesPairs: true };
        if (pools.Count > 0 && MultiTask is not null)
            Report(DiagnosticCatalog.UnsupportedConstruct, _locations.Node(pools[0].Id), "a MeanPool in a model trained with Ops.MultiTask (pooled models train with one loss)");

        bool pairLoss = losses.Any(PairLoss);
        if (pairLoss && _sequence > 1 && pools.Count == 0)
            Report(DiagnosticCatalog.LossForm, _locations.Node(losses.First(PairLoss).Id), "Loss",
                "a pair loss needs one embedding row per sentence: pool the sequence first with a [MeanPool] layer");
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
