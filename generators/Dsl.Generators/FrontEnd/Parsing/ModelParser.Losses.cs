using System;
using System.Collections.Generic;
using System.Linq;
using Dsl.Generators.Diagnostics;
using Dsl.Generators.Model;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace Dsl.Generators.Parsing;

// The losses beyond plain cross-entropy and MSE (focal, logit-adjusted, TaiLr, label smoothing,
// CoSENT, cosine-MSE, flooding) and the MeanPool layer that turns sequences into one row per example.
internal sealed partial class ModelParser
{
    private const string ScoresName = "Dsl.Scores";

    /// <summary>Loss node id → its kind and hyper-parameters.</summary>
    private readonly Dictionary<int, LossSpec> _lossSpecs = new();

    private static bool IsExtendedLoss(string name, int argumentCount) => name switch
    {
        "FocalLoss" or "LogitAdjustedCrossEntropy" or "TaiLr" or "CoSent" or "CosineMse" or "Flood" => true,
        "SoftmaxCrossEntropy" => argumentCount == 3,
        _ => false,
    };

    private int LossOp(string name, InvocationExpressionSyntax call, Scope scope, SemanticModel model)
    {
        var location = call.GetLocation();
        if (model.GetSymbolInfo(call, _ct).Symbol is not IMethodSymbol method) return -1;
        var args = ArgumentsByParameter(method, call);

        if (name == "Flood")
        {
            if (!args.TryGetValue(method.Parameters[0].Name, out var inner)) return -1;
            int lossNode = Expression(inner.Expression, scope, model);
            if (lossNode < 0) return -1;
            if (!_lossSpecs.TryGetValue(lossNode, out var innerSpec) || innerSpec.Flood >= 0 || _multiTask?.Tasks[0].LossNode == lossNode)
            {
                Report(DiagnosticCatalog.LossForm, location, "Loss", "Ops.Flood must wrap one loss op (e.g. Ops.Flood(Ops.SoftmaxCrossEntropy(Forward(x), y), 0.1)); to flood a task of Ops.MultiTask, wrap that task's loss");
                return -1;
            }

            double? level = Hyper(method, args, "level", model);
            if (level is null) return -1;
            _lossSpecs[lossNode] = innerSpec with { Flood = level.Value, Flooded = true };
            _locations.RecordCall(lossNode, "Flood", call);
            return lossNode;
        }

        bool pairs = name is "CoSent" or "CosineMse";
        var expected = pairs ? TargetKind.Scores : TargetKind.Labels;
        if (!args.TryGetValue(method.Parameters[1].Name, out var targetArgument) || targetArgument.Expression is not IdentifierNameSyntax target ||
            !scope.Targets.TryGetValue(target.Identifier.ValueText, out var kind) || kind != expected)
        {
            Report(DiagnosticCatalog.LossForm, location, "Loss", $"the second argument of Ops.{name} must be the loss method's {(pairs ? "Scores" : "Labels")} parameter");
            return -1;
        }

        double? p1 = 0, p2 = 0;
        var priors = EquatableArray<double>.Empty;
        LossKind lossKind;
        switch (name)
        {
            case "SoftmaxCrossEntropy":
                lossKind = LossKind.LabelSmoothing;
                p1 = Hyper(method, args, "smoothing", model);
                break;
            case "FocalLoss":
                lossKind = LossKind.Focal;
                p1 = Hyper(method, args, "gamma", model);
                p2 = Hyper(method, args, "alpha", model);
                break;
            case "LogitAdjustedCrossEntropy":
                lossKind = LossKind.LogitAdjusted;
                p1 = Hyper(method, args, "tau", model);
                if (args.TryGetValue("priors", out var priorArgument))
                {
                    var values = ConstantArray(priorArgument.Expression, model);
                    if (values is null)
                    {
                        Report(DiagnosticCatalog.UnsupportedConstruct, priorArgument.GetLocation(), $"the priors '{Describe(priorArgument)}' (write constant numbers, e.g. new[] {{ 0.7, 0.2, 0.1 }}, or set them at run time with Compiled.SetClassPriors)");
                        return -1;
                    }

                    priors = values.ToEquatableArray();
                }

                break;
            case "TaiLr":
                lossKind = LossKind.TaiLr;
                p1 = Hyper(method, args, "gamma", model);
                p2 = Hyper(method, args, "minWeight", model);
                break;
            case "CoSent":
                lossKind = LossKind.CoSent;
                p1 = Hyper(method, args, "lambda", model);
                break;
            default:
                lossKind = LossKind.CosineMse;
                break;
        }

        if (p1 is null || p2 is null) return -1;
        int prediction = Expression(args[method.Parameters[0].Name].Expression, scope, model);
        if (prediction < 0) return -1;
        int node = AddNode(NodeKind.Loss, new[] { prediction }, "", ActivationKind.None, 0, location);
        _locations.RecordCall(node, "", call);
        _lossTargets[node] = target.Identifier.ValueText;
        _lossSpecs[node] = new LossSpec(lossKind, p1.Value, p2.Value, priors, -1);
        return node;
    }

    /// <summary>The call's arguments keyed by the parameter they bind to (named or positional).</summary>
    private static Dictionary<string, ArgumentSyntax> ArgumentsByParameter(IMethodSymbol method, InvocationExpressionSyntax call)
    {
        var result = new Dictionary<string, ArgumentSyntax>(StringComparer.Ordinal);
        var args = call.ArgumentList.Arguments;
        for (int i = 0; i < args.Count; i++)
        {
            string? name = args[i].NameColon?.Name.Identifier.ValueText ?? (i < method.Parameters.Length ? method.Parameters[i].Name : null);
            if (name is not null) result[name] = args[i];
        }

        return result;
    }

    /// <summary>A hyper-parameter's constant value (the declared default when omitted), or null after reporting a non-constant.</summary>
    private double? Hyper(IMethodSymbol method, Dictionary<string, ArgumentSyntax> args, string parameter, SemanticModel model)
    {
        if (args.TryGetValue(parameter, out var argument))
        {
            double? value = Constant(argument.Expression, model);
            if (value is null) Report(DiagnosticCatalog.UnsupportedConstruct, argument.GetLocation(), $"the non-constant {parameter} '{Describe(argument)}'");
            return value;
        }

        var symbol = method.Parameters.FirstOrDefault(p => p.Name == parameter);
        return symbol is { HasExplicitDefaultValue: true } ? symbol.ExplicitDefaultValue switch
        {
            double d => d,
            int i => i,
            _ => 0,
        } : 0;
    }

    /// <summary>The elements of a constant array (new[] { … }, new double[] { … } or [ … ]), or null.</summary>
    private double[]? ConstantArray(ExpressionSyntax expression, SemanticModel model)
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

    /// <summary>Pool(x, ids): the second argument must be the model's input ids.</summary>
    private int MeanPoolCall(string path, LayerSpec layer, InvocationExpressionSyntax call, Scope scope, SemanticModel model)
    {
        var args = call.ArgumentList.Arguments;
        if (args.Count != 2) return -1;
        int input = Expression(args[0].Expression, scope, model);
        int ids = Expression(args[1].Expression, scope, model);
        if (input < 0 || ids < 0) return -1;
        if (_nodes[ids].Kind != NodeKind.Input)
        {
            Report(DiagnosticCatalog.UnsupportedConstruct, args[1].GetLocation(), $"the MeanPool ids '{Describe(args[1])}' (pass the model's input token ids)");
            return -1;
        }

        return AddNode(NodeKind.MeanPool, new[] { input, ids }, path, ActivationKind.None, layer.Parameter, call.GetLocation());
    }

    /// <summary>A MeanPool turns batch × Sequence rows into batch rows: one per model, on token ids, and
    /// nothing after it may read a value from before it. Pair losses need one row per sentence.</summary>
    private void CheckPooling(bool tokens)
    {
        var pools = _nodes.Where(n => n.Kind == NodeKind.MeanPool).ToList();
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

        if (pools.Count > 0 && _lossSpecs.Count > 0 && !_lossSpecs.Values.Any(l => l.IsPairLoss))
            Report(DiagnosticCatalog.LossForm, _locations.Node(_lossSpecs.Keys.First()), "Loss",
                "a model with a [MeanPool] trains with a pair loss (Ops.CoSent or Ops.CosineMse) over one pooled row per sentence");

        bool pairLoss = _lossSpecs.Values.Any(l => l.IsPairLoss);
        if (pairLoss && _sequence > 1 && pools.Count == 0)
            Report(DiagnosticCatalog.LossForm, _locations.Node(_lossSpecs.First(kv => kv.Value.IsPairLoss).Key), "Loss",
                "a pair loss needs one embedding row per sentence: pool the sequence first with a [MeanPool] layer");
    }
}
