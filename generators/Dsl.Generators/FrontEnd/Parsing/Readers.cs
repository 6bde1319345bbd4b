using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using Dsl.Generators.Diagnostics;
using Dsl.Generators.Model;
using Dsl.Generators.Ops;
using Dsl.Generators.Rules;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace Dsl.Generators.Parsing;

/// <summary>
/// A layer attribute as an op reads it (<see cref="Op.ReadLayer"/>): its arguments by name, with their defaults,
/// and a way to report an argument out of range at that argument (or at the attribute when it is absent).
/// The op sees no Roslyn object.
/// </summary>
internal sealed class LayerReader
{
    private readonly ModelParser _parser;
    private readonly AttributeData _attribute;
    private readonly Location? _location;
    private readonly Func<string, string?> _sibling;
    private readonly bool _report;

    internal LayerReader(ModelParser parser, AttributeData attribute, string path, string prefix, int depth, int sequence, Func<string, string?> sibling, bool report)
    {
        _report = report;
        _parser = parser;
        _attribute = attribute;
        _location = attribute.ApplicationSyntaxReference?.GetSyntax(parser.CancellationToken).GetLocation();
        _sibling = sibling;
        Path = path;
        Prefix = prefix;
        Depth = depth;
        Sequence = sequence;
    }

    /// <summary>The attribute's class name ("DenseAttribute").</summary>
    public string ClassName => _attribute.AttributeClass?.Name ?? "";

    /// <summary>The layer's path ("Blocks.0.Norm").</summary>
    public string Path { get; }

    /// <summary>The path prefix of the layer's type ("Blocks.0.", "" for the model's own).</summary>
    public string Prefix { get; }

    /// <summary>The Repeat count of the layer's block (1 when not repeated).</summary>
    public int Depth { get; }

    /// <summary>The model's Sequence (1 without a sequence axis).</summary>
    public int Sequence { get; }

    /// <summary>The named int argument, or <paramref name="fallback"/>.</summary>
    public int Int(string name, int fallback = 0) => ModelParser.NamedInt(_attribute, name, fallback);

    /// <summary>The named bool argument, or <paramref name="fallback"/>.</summary>
    public bool Bool(string name, bool fallback) => ModelParser.NamedBool(_attribute, name, fallback);

    /// <summary>The named double (or int) argument, or <paramref name="fallback"/>.</summary>
    public double Double(string name, double fallback) => ModelParser.NamedDouble(_attribute, name, fallback);

    /// <summary>The named string argument, or null.</summary>
    public string? String(string name) => _attribute.NamedArguments.FirstOrDefault(kv => kv.Key == name).Value.Value as string;

    /// <summary>The only constructor argument as a double ([Dropout(0.1)]), or <paramref name="fallback"/>.</summary>
    public double ConstructorDouble(double fallback) =>
        _attribute.ConstructorArguments.Length == 1 && _attribute.ConstructorArguments[0].Value is double value ? value : fallback;

    /// <summary>The op name of the layer member <paramref name="name"/> of the same type, or null.</summary>
    public string? Sibling(string name) => _sibling(name);

    /// <summary>A named int argument that must be &gt; 0 (DSL106 otherwise) and within its limit (DSL210).</summary>
    public int Positive(string name)
    {
        int value = Int(name);
        if (value <= 0) Report(DiagnosticCatalog.LayerArgument, name, Path, name, "> 0", value);
        return Bounded(name, value);
    }

    /// <summary>A named int argument that must be ≥ 0, 0 meaning "infer it" (DSL106 otherwise), and within its limit (DSL210).</summary>
    public int NonNegative(string name)
    {
        int value = Int(name);
        if (value < 0) Report(DiagnosticCatalog.LayerArgument, name, Path, name, ">= 0 (0 infers it)", value);
        return Bounded(name, value);
    }

    /// <summary>A size argument against its upper bound (<see cref="Limits.ForLayerArgument"/>): DSL210 above it.</summary>
    private int Bounded(string name, int value)
    {
        var (limit, why) = Limits.ForLayerArgument(name);
        if (value > limit) Report(DiagnosticCatalog.SizeLimit, name, $"Layer '{Path}'", name, value.ToString(CultureInfo.InvariantCulture), Limits.Format(limit), why);
        return value;
    }

    /// <summary>A product of size arguments against <paramref name="limit"/> (DSL210 at the attribute above it), computed without overflow.</summary>
    public void WithinLimit(string what, long value, long limit, string why)
    {
        if (value > limit) Report(DiagnosticCatalog.SizeLimit, "", $"Layer '{Path}'", what, value.ToString(CultureInfo.InvariantCulture), Limits.Format(limit), why);
    }

    /// <summary>Reports at the named argument <paramref name="argument"/>, or at the attribute when it is absent ("" : the attribute).</summary>
    public void Report(DiagnosticDescriptor descriptor, string argument, params object?[] arguments)
    {
        if (_report) _parser.Report(descriptor, (argument.Length > 0 ? _parser.NamedArgumentLocation(_attribute, argument) : null) ?? _location, arguments);
    }

    /// <summary>A value for a message: round-trip, invariant culture.</summary>
    public static string Format(double value) => value.ToString("R", CultureInfo.InvariantCulture);
}

/// <summary>A call of a layer member in a forward body, as the layer's op reads it (<see cref="Op.CallLayer"/>).</summary>
internal sealed class LayerCall
{
    private readonly ModelParser _parser;
    private readonly InvocationExpressionSyntax _call;
    private readonly ModelParser.Scope _scope;
    private readonly SemanticModel _model;

    internal LayerCall(ModelParser parser, LayerSpec layer, InvocationExpressionSyntax call, ModelParser.Scope scope, SemanticModel model)
    {
        _parser = parser;
        Layer = layer;
        _call = call;
        _scope = scope;
        _model = model;
    }

    /// <summary>The layer called.</summary>
    public LayerSpec Layer { get; }

    /// <summary>Number of arguments.</summary>
    public int Count => _call.ArgumentList.Arguments.Count;

    /// <summary>The node argument <paramref name="position"/> evaluates to (−1 after an error).</summary>
    public int Node(int position) => _parser.Expression(_call.ArgumentList.Arguments[position].Expression, _scope, _model);

    /// <summary>The node of id <paramref name="id"/>.</summary>
    public NodeSpec NodeAt(int id) => _parser.NodeAt(id);

    /// <summary>The usual call: one tensor argument, a node of <paramref name="op"/> on it with <paramref name="options"/>.</summary>
    public int OneInput(string op, OpOptions? options)
    {
        if (Count != 1) return -1;
        int input = Node(0);
        return input < 0 ? -1 : AddNode(op, new[] { input }, options);
    }

    /// <summary>Adds (or finds) a node of the layer at the call.</summary>
    public int AddNode(string op, int[] inputs, OpOptions? options) => _parser.AddNode(op, inputs, Layer.Path, options, _call.GetLocation());

    /// <summary>Reports at argument <paramref name="position"/>.</summary>
    public void ReportArgument(int position, DiagnosticDescriptor descriptor, params object?[] arguments) =>
        _parser.Report(descriptor, _call.ArgumentList.Arguments[position].GetLocation(), arguments);

    /// <summary>Argument <paramref name="position"/>'s text, shortened, for a message.</summary>
    public string Describe(int position) => ModelParser.Describe(_call.ArgumentList.Arguments[position]);
}

/// <summary>
/// A call of an Ops method in a forward or loss body, as the op it names reads it (<see cref="Op.ReadCall"/>):
/// arguments by position or by the parameter they bind to, their nodes and constants, the loss method's target
/// parameters, and the loss state a loss combinator (Flood, MultiTask) needs. The op sees no Roslyn object.
/// </summary>
internal sealed class CallReader
{
    private readonly ModelParser _parser;
    private readonly InvocationExpressionSyntax _call;
    private readonly IMethodSymbol? _method;
    private readonly ModelParser.Scope _scope;
    private readonly SemanticModel _model;
    private Dictionary<string, ArgumentSyntax>? _byParameter;

    internal CallReader(ModelParser parser, string name, InvocationExpressionSyntax call, ModelParser.Scope scope, SemanticModel model)
    {
        _parser = parser;
        Name = name;
        _call = call;
        _scope = scope;
        _model = model;
        var info = model.GetSymbolInfo(call, parser.CancellationToken);
        _method = info.Symbol as IMethodSymbol ?? ModelParser.OpsCandidate(info, call);
    }

    private SeparatedSyntaxList<ArgumentSyntax> Arguments => _call.ArgumentList.Arguments;

    /// <summary>The Ops method's name.</summary>
    public string Name { get; }

    /// <summary>Whether the call binds to an Ops method (so parameters are known).</summary>
    public bool Bound => _method is not null;

    /// <summary>Number of arguments.</summary>
    public int Count => Arguments.Count;

    /// <summary>Number of the method's parameters (0 when unbound).</summary>
    public int ParameterCount => _method?.Parameters.Length ?? 0;

    /// <summary>The method's parameter <paramref name="index"/>'s name.</summary>
    public string ParameterName(int index) => _method!.Parameters[index].Name;

    /// <summary>The method's parameter <paramref name="index"/>'s type, as "Dsl.TaskWeighting".</summary>
    public string ParameterType(int index) => _method!.Parameters[index].Type.ToDisplayString();

    /// <summary>The name argument <paramref name="position"/> is passed by, or null when positional.</summary>
    public string? ArgumentName(int position) => Arguments[position].NameColon?.Name.Identifier.ValueText;

    /// <summary>Whether an argument binds to <paramref name="parameter"/>.</summary>
    public bool Has(string parameter) => ByParameter.ContainsKey(parameter);

    /// <summary>The node argument <paramref name="position"/> evaluates to (−1 after an error).</summary>
    public int Node(int position) => _parser.Expression(Arguments[position].Expression, _scope, _model);

    /// <summary>The node the argument bound to <paramref name="parameter"/> evaluates to (−1 when absent or after an error).</summary>
    public int NodeOf(string parameter) => ByParameter.TryGetValue(parameter, out var argument) ? _parser.Expression(argument.Expression, _scope, _model) : -1;

    /// <summary>Argument <paramref name="position"/> as a constant, or null.</summary>
    public double? Constant(int position) => _parser.Constant(Arguments[position].Expression, _model);

    /// <summary>A hyper-parameter's constant value (the declared default when omitted), or null after reporting a non-constant.</summary>
    public double? Hyper(string parameter)
    {
        if (ByParameter.TryGetValue(parameter, out var argument))
        {
            double? value = _parser.Constant(argument.Expression, _model);
            if (value is null) _parser.Report(DiagnosticCatalog.UnsupportedConstruct, argument.GetLocation(), $"the non-constant {parameter} '{ModelParser.Describe(argument)}'");
            return value;
        }

        var symbol = _method?.Parameters.FirstOrDefault(p => p.Name == parameter);
        return symbol is { HasExplicitDefaultValue: true } ? symbol.ExplicitDefaultValue switch
        {
            double d => d,
            int i => i,
            _ => 0,
        } : 0;
    }

    /// <summary>The elements of the constant array bound to <paramref name="parameter"/> (new[] { … }, [ … ]), or null.</summary>
    public double[]? ConstantArray(string parameter) => ByParameter.TryGetValue(parameter, out var argument) ? _parser.ConstantArray(argument.Expression, _model) : null;

    /// <summary>The elements of the constant array at <paramref name="position"/>, or null.</summary>
    public double[]? ConstantArrayAt(int position) => _parser.ConstantArray(Arguments[position].Expression, _model);

    /// <summary>The member name when argument <paramref name="position"/> is a member of the enum <paramref name="enumType"/>
    /// ("TaskWeighting.LogSum" → "LogSum"), else null.</summary>
    public string? EnumMember(int position, string enumType) =>
        _model.GetSymbolInfo(Arguments[position].Expression, _parser.CancellationToken).Symbol is IFieldSymbol { ContainingType: { } type } field && type.ToDisplayString() == enumType
            ? field.Name : null;

    /// <summary>The loss method's target parameter the argument bound to <paramref name="parameter"/> names, when it holds
    /// <paramref name="expected"/>; else null.</summary>
    public string? Target(string parameter, TargetKind expected) =>
        ByParameter.TryGetValue(parameter, out var argument) ? TargetOf(argument, expected) : null;

    /// <summary>As <see cref="Target"/> for the argument at <paramref name="position"/>.</summary>
    public string? TargetAt(int position, TargetKind expected) => position < Count ? TargetOf(Arguments[position], expected) : null;

    /// <summary>What the loss method's target parameter <paramref name="name"/> holds.</summary>
    public TargetKind TargetKindOf(string name) => _scope.Targets[name];

    /// <summary>The node of id <paramref name="id"/>.</summary>
    public NodeSpec NodeAt(int id) => _parser.NodeAt(id);

    /// <summary>Adds (or finds) a node of <paramref name="op"/> at the call.</summary>
    public int AddNode(string op, int[] inputs, OpOptions? options) => _parser.AddNode(op, inputs, "", options, _call.GetLocation());

    /// <summary>Replaces node <paramref name="node"/>'s options (a combinator such as Ops.Flood setting the loss's level).</summary>
    public void SetOptions(int node, OpOptions options) => _parser.SetOptions(node, options);

    /// <summary>Records this call as the one that made <paramref name="node"/> (<paramref name="around"/> "") or wraps it, for Sites.</summary>
    public void RecordCall(int node, string around = "") => _parser.Locations.RecordCall(node, around, _call);

    /// <summary>The parse's Ops.MultiTask, once read.</summary>
    public MultiTaskSpec? MultiTask
    {
        get => _parser.MultiTask;
        set => _parser.MultiTask = value;
    }

    /// <summary>Reports at the call.</summary>
    public void Report(DiagnosticDescriptor descriptor, params object?[] arguments) => _parser.Report(descriptor, _call.GetLocation(), arguments);

    /// <summary>Reports at argument <paramref name="position"/>.</summary>
    public void ReportArgument(int position, DiagnosticDescriptor descriptor, params object?[] arguments) =>
        _parser.Report(descriptor, Arguments[position].GetLocation(), arguments);

    /// <summary>Reports at argument <paramref name="position"/>'s expression.</summary>
    public void ReportExpression(int position, DiagnosticDescriptor descriptor, params object?[] arguments) =>
        _parser.Report(descriptor, Arguments[position].Expression.GetLocation(), arguments);

    /// <summary>Reports at the argument bound to <paramref name="parameter"/> (at the call when absent).</summary>
    public void ReportParameter(string parameter, DiagnosticDescriptor descriptor, params object?[] arguments) =>
        _parser.Report(descriptor, ByParameter.TryGetValue(parameter, out var argument) ? argument.GetLocation() : _call.GetLocation(), arguments);

    /// <summary>Argument <paramref name="position"/>'s text, shortened, for a message.</summary>
    public string Describe(int position) => ModelParser.Describe(Arguments[position]);

    /// <summary>Argument <paramref name="position"/>'s full text.</summary>
    public string Text(int position) => Arguments[position].ToString();

    /// <summary>The text of the argument bound to <paramref name="parameter"/>, shortened.</summary>
    public string DescribeParameter(string parameter) => ByParameter.TryGetValue(parameter, out var argument) ? ModelParser.Describe(argument) : "";

    private string? TargetOf(ArgumentSyntax argument, TargetKind expected) =>
        argument.Expression is IdentifierNameSyntax target && _scope.Targets.TryGetValue(target.Identifier.ValueText, out var kind) && kind == expected
            ? target.Identifier.ValueText : null;

    /// <summary>The call's arguments keyed by the parameter they bind to (named or positional).</summary>
    private Dictionary<string, ArgumentSyntax> ByParameter
    {
        get
        {
            if (_byParameter is not null) return _byParameter;
            _byParameter = new Dictionary<string, ArgumentSyntax>(StringComparer.Ordinal);
            if (_method is null) return _byParameter;
            for (int i = 0; i < Arguments.Count; i++)
            {
                string? name = Arguments[i].NameColon?.Name.Identifier.ValueText ?? (i < _method.Parameters.Length ? _method.Parameters[i].Name : null);
                if (name is not null) _byParameter[name] = Arguments[i];
            }

            return _byParameter;
        }
    }
}
