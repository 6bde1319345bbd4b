using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Threading;
using Dsl.Generators.Diagnostics;
using Dsl.Generators.Model;
using Dsl.Generators.Ops;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace Dsl.Generators.Parsing;

// The forward and loss bodies: statements, expressions and calls in the DSL's subset, read into graph nodes (user
// methods and module forwards inlined, layer members and Ops calls handed to their ops).
internal sealed partial class ModelParser
{
    // ---- forward bodies -----------------------------------------------------------------------

    /// <summary>Inlines a user method (Forward, or a helper) with its parameters bound to nodes.</summary>
    private int Inline(IMethodSymbol method, int[] arguments, string layerPrefix, INamedTypeSymbol type, Location? callSite)
    {
        if (!_inlining.Add(method.OriginalDefinition))
        {
            Report(DiagnosticCatalog.UnsupportedConstruct, callSite, $"the recursive call of '{method.Name}'");
            return -1;
        }

        try
        {
            var values = new Dictionary<string, int>(StringComparer.Ordinal);
            for (int i = 0; i < method.Parameters.Length && i < arguments.Length; i++)
                values[method.Parameters[i].Name] = arguments[i];
            if (method.Parameters.Length != arguments.Length || method.Parameters.Any(p => !IsType(p.Type, TensorName)) || !IsType(method.ReturnType, TensorName))
            {
                Report(DiagnosticCatalog.UnsupportedConstruct, callSite, $"the call of '{method.Name}' (forward helpers take and return Tensor)");
                return -1;
            }

            return ParseBody(method, new Scope(layerPrefix, type, values, new Dictionary<string, TargetKind>(StringComparer.Ordinal)));
        }
        finally
        {
            _inlining.Remove(method.OriginalDefinition);
        }
    }

    /// <summary>Inlines a module's Forward at <paramref name="prefix"/> ("Encoder.", "Blocks.2."); under [Recompute]
    /// the nodes it creates become a segment.</summary>
    private int InlineModule(IMethodSymbol method, int[] arguments, string prefix, INamedTypeSymbol type, Location? callSite)
    {
        int first = _nodes.Count;
        int result = Inline(method, arguments, prefix, type, callSite);
        string block = prefix.TrimEnd('.');
        int dot = block.IndexOf('.');
        string property = dot < 0 ? block : block.Substring(0, dot);
        if (result >= 0 && _nodes.Count > first && _recompute.ContainsKey(property))
            _segments.Add(new SegmentSpec(block, first, _nodes.Count - 1));
        return result;
    }

    private int ParseBody(IMethodSymbol method, Scope scope)
    {
        var syntax = method.DeclaringSyntaxReferences.Select(r => r.GetSyntax(_ct)).OfType<MethodDeclarationSyntax>().FirstOrDefault(m => m.Body is not null || m.ExpressionBody is not null);
        if (syntax is null)
        {
            Report(DiagnosticCatalog.UnsupportedConstruct, method.Locations.FirstOrDefault(), $"the method '{method.Name}' without a body");
            return -1;
        }

        var model = _compilation.GetSemanticModel(syntax.SyntaxTree);
        if (syntax.ExpressionBody is not null) return Expression(syntax.ExpressionBody.Expression, scope, model);
        var (result, returned) = Statements(syntax.Body!.Statements, scope, model);
        if (returned) return result;
        Report(DiagnosticCatalog.UnsupportedConstruct, syntax.Identifier.GetLocation(), $"'{method.Name}' without a return statement");
        return result;
    }

    /// <summary>Reads a statement list; returns the returned node and whether a return was reached.</summary>
    private (int Result, bool Returned) Statements(IEnumerable<StatementSyntax> statements, Scope scope, SemanticModel model)
    {
        foreach (var statement in statements)
        {
            _ct.ThrowIfCancellationRequested();
            switch (statement)
            {
                case LocalDeclarationStatementSyntax local when local.Declaration.Variables.Count == 1 && local.Declaration.Variables[0].Initializer is { } init:
                    scope.Values[local.Declaration.Variables[0].Identifier.ValueText] = Expression(init.Value, scope, model);
                    break;
                case ExpressionStatementSyntax { Expression: AssignmentExpressionSyntax { RawKind: (int)SyntaxKind.SimpleAssignmentExpression, Left: IdentifierNameSyntax target } assignment }
                    when scope.Values.ContainsKey(target.Identifier.ValueText):
                    scope.Values[target.Identifier.ValueText] = Expression(assignment.Right, scope, model);
                    break;
                case ReturnStatementSyntax { Expression: { } value }:
                    return (Expression(value, scope, model), true);
                case ForEachStatementSyntax loop when model.GetSymbolInfo(loop.Expression, _ct).Symbol is IPropertySymbol property &&
                    scope.LayerPrefix.Length == 0 && _repeats.TryGetValue(property.Name, out var repeat):
                {
                    // foreach (var block in Blocks) x = block.Forward(x);  — the blocks in order.
                    string variable = loop.Identifier.ValueText;
                    var body = loop.Statement is BlockSyntax block ? (IEnumerable<StatementSyntax>)block.Statements : new[] { loop.Statement };
                    for (int i = 0; i < repeat.Count; i++)
                    {
                        scope.Instances[variable] = property.Name + "." + i.ToString(CultureInfo.InvariantCulture) + ".";
                        var before = new Dictionary<string, int>(scope.Values, StringComparer.Ordinal);
                        var (_, returned) = Statements(body, scope, model);
                        foreach (var entry in scope.Values)
                            if (before.TryGetValue(entry.Key, out int old) && old != entry.Value && old >= 0 && entry.Value >= 0)
                                _repeatBoundaries.Add(new RepeatBoundary(old, entry.Value, property.Name + "." + i.ToString(CultureInfo.InvariantCulture), Site.Recorded(_locations.Record(loop.Expression.GetLocation()))));
                        if (returned)
                        {
                            Report(DiagnosticCatalog.UnsupportedConstruct, loop.GetLocation(), "a return inside a foreach over blocks");
                            break;
                        }
                    }

                    scope.Instances.Remove(variable);
                    break;
                }
                default:
                    Report(DiagnosticCatalog.UnsupportedConstruct, statement.GetLocation(), $"the statement '{Describe(statement)}'");
                    break;
            }
        }

        return (-1, false);
    }

    internal int Expression(ExpressionSyntax expression, Scope scope, SemanticModel model)
    {
        _ct.ThrowIfCancellationRequested();
        switch (expression)
        {
            case ParenthesizedExpressionSyntax p:
                return Expression(p.Expression, scope, model);

            case IdentifierNameSyntax id when scope.Values.TryGetValue(id.Identifier.ValueText, out int node):
                return node;

            case BinaryExpressionSyntax b when b.IsKind(SyntaxKind.AddExpression):
            {
                int left = Expression(b.Left, scope, model), right = Expression(b.Right, scope, model);
                return left < 0 || right < 0 ? -1 : AddNode(Add.Key, new[] { left, right }, "", null, b.GetLocation());
            }

            case BinaryExpressionSyntax b when b.IsKind(SyntaxKind.MultiplyExpression):
            {
                var (tensorSide, constantSide) = Constant(b.Right, model) is not null ? (b.Left, b.Right) : (b.Right, b.Left);
                double? factor = Constant(constantSide, model);
                if (factor is null)
                {
                    Report(DiagnosticCatalog.UnsupportedConstruct, b.GetLocation(), $"'{b}' (a product must have one constant side)");
                    return -1;
                }

                int input = Expression(tensorSide, scope, model);
                return input < 0 ? -1 : AddNode(Scale.Key, new[] { input }, "", new Scale.Options(factor.Value), b.GetLocation());
            }

            case InvocationExpressionSyntax call:
                return Invocation(call, scope, model);

            default:
                Report(DiagnosticCatalog.UnsupportedConstruct, expression.GetLocation(), $"the expression '{Describe(expression)}'");
                return -1;
        }
    }

    private int Invocation(InvocationExpressionSyntax call, Scope scope, SemanticModel model)
    {
        var info = model.GetSymbolInfo(call, _ct);
        if (info.Symbol is not IMethodSymbol method)
        {
            // Ops.MeanSquaredError(Forward(x), labels) does not bind (its target is a Tensor): an Ops call that fails
            // overload resolution is read by its op, which names the wrong argument (DSL107 for a loss), rather than
            // being an unknown call.
            if (OpsCandidate(info, call) is { } candidate) return Op(candidate.Name, call, scope, model);
            Report(DiagnosticCatalog.UnsupportedConstruct, call.GetLocation(), $"the call '{Describe(call)}' (it does not bind to a method)");
            return -1;
        }

        var args = call.ArgumentList.Arguments;
        var location = call.GetLocation();

        // Ops.X(...)
        if (method.ContainingType?.ToDisplayString() == OpsName)
            return Op(method.Name, call, scope, model);

        // A layer member of the current type (model or module).
        if (SymbolEqualityComparer.Default.Equals(method.ContainingType, scope.Type) && LayerAttributeOf(method.PartialDefinitionPart ?? method) is not null)
        {
            string path = scope.LayerPrefix + method.Name;
            if (!_layersByPath.TryGetValue(path, out var layer)) return -1;
            return OpRegistry.Get(layer.Op).CallLayer(new LayerCall(this, layer, call, scope, model));
        }

        // block.Forward(x) on the loop variable of a foreach over a [Repeat] property.
        if (call.Expression is MemberAccessExpressionSyntax { Expression: IdentifierNameSyntax instance } &&
            scope.Instances.TryGetValue(instance.Identifier.ValueText, out string? instancePrefix) && method.Name == "Forward" && method.ContainingType is { } blockType)
        {
            var inputs = args.Select(a => Expression(a.Expression, scope, model)).ToArray();
            if (inputs.Any(i => i < 0)) return -1;
            return InlineModule(method, inputs, instancePrefix, blockType, location);
        }

        // Module.Forward(x) on a module property of the model.
        if (call.Expression is MemberAccessExpressionSyntax access && model.GetSymbolInfo(access.Expression, _ct).Symbol is IPropertySymbol property &&
            IsModuleType(property.Type) && method.Name == "Forward" && scope.LayerPrefix.Length == 0)
        {
            var moduleType = (INamedTypeSymbol)property.Type;
            var inputs = args.Select(a => Expression(a.Expression, scope, model)).ToArray();
            if (inputs.Any(i => i < 0)) return -1;
            return InlineModule(method, inputs, property.Name + ".", moduleType, location);
        }

        // Another method of the same type: Forward, or a helper written in the same subset.
        if (SymbolEqualityComparer.Default.Equals(method.ContainingType, scope.Type) && !method.IsStatic)
        {
            var inputs = args.Select(a => Expression(a.Expression, scope, model)).ToArray();
            if (inputs.Any(i => i < 0)) return -1;
            int result = Inline(method, inputs, scope.LayerPrefix, scope.Type, location);
            if (method.Name == "Forward" && scope.LayerPrefix.Length == 0 && _outputNode < 0) _outputNode = result;
            return result;
        }

        Report(DiagnosticCatalog.UnsupportedConstruct, location, $"the call of '{method.ContainingType?.Name}.{method.Name}'");
        return -1;
    }

    /// <summary>The one Ops method of the call's arity among the candidates of a call that does not bind, or null.</summary>
    internal static IMethodSymbol? OpsCandidate(SymbolInfo info, InvocationExpressionSyntax call)
    {
        if (info.CandidateReason != CandidateReason.OverloadResolutionFailure) return null;
        var candidates = info.CandidateSymbols.OfType<IMethodSymbol>()
            .Where(c => c.ContainingType?.ToDisplayString() == OpsName && c.Parameters.Length >= call.ArgumentList.Arguments.Count &&
                        c.Parameters.Skip(call.ArgumentList.Arguments.Count).All(p => p.HasExplicitDefaultValue))
            .ToList();
        return candidates.Count == 1 ? candidates[0] : null;
    }

    private int Op(string name, InvocationExpressionSyntax call, Scope scope, SemanticModel model)
    {
        var op = OpRegistry.ForMethod(name, call.ArgumentList.Arguments.Count);
        if (op is not null) return op.ReadCall(new CallReader(this, name, call, scope, model));
        Report(DiagnosticCatalog.UnsupportedConstruct, call.GetLocation(), $"'Ops.{name}'");
        return -1;
    }
}
