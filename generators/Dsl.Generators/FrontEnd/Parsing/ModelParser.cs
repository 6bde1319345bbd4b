using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Threading;
using Dsl.Generators.Diagnostics;
using Dsl.Generators.Model;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace Dsl.Generators.Parsing;

/// <summary>What parsing a model produced: the symbol-free spec (shapes not yet inferred), the user mistakes
/// found on the way (with locations), where everything was declared (for the later stages' findings) and the
/// facts only the checks need.</summary>
internal sealed class ParsedModel
{
    public ParsedModel(ModelSpec? spec, IReadOnlyList<DiagnosticInfo> diagnostics, LocationMap locations, ModelFacts facts)
    {
        Spec = spec;
        Diagnostics = diagnostics;
        Locations = locations;
        Facts = facts;
    }

    /// <summary>The model, or null when it could not be understood at all (e.g. not partial).</summary>
    public ModelSpec? Spec { get; }
    public IReadOnlyList<DiagnosticInfo> Diagnostics { get; }
    public LocationMap Locations { get; }
    public ModelFacts Facts { get; }
}

/// <summary>
/// Reads a [Model] class (and the [Module] classes it uses) into a <see cref="ModelSpec"/>:
/// attributes become <see cref="LayerSpec"/>s, the forward pass and the loss become a graph of
/// <see cref="NodeSpec"/>s (user methods and module forwards are inlined). It only reads: shapes and rules
/// come after it (<see cref="ModelFrontEnd"/>). Never throws on user code: mistakes become
/// <see cref="DiagnosticInfo"/> values.
/// </summary>
internal sealed partial class ModelParser
{
    public const string ModelAttributeName = "Dsl.ModelAttribute";
    public const string ModuleAttributeName = "Dsl.ModuleAttribute";
    private const string LayerAttributeBase = "Dsl.LayerAttribute";
    private const string LossAttributeName = "Dsl.LossAttribute";
    private const string TensorName = "Dsl.Tensor";
    private const string LabelsName = "Dsl.Labels";
    private const string OpsName = "Dsl.Ops";
    private const string RepeatAttributeName = "Dsl.RepeatAttribute";

    private readonly Compilation _compilation;
    private readonly CancellationToken _ct;
    private readonly List<DiagnosticInfo> _diagnostics = new();
    private readonly List<NodeSpec> _nodes = new();
    private readonly LocationMap _locations = new();
    private readonly List<LayerSpec> _layers = new();
    private readonly Dictionary<string, LayerSpec> _layersByPath = new(StringComparer.Ordinal);
    private readonly HashSet<IMethodSymbol> _inlining = new(SymbolEqualityComparer.Default);
    private readonly Dictionary<string, (INamedTypeSymbol Type, int Count)> _repeats = new(StringComparer.Ordinal);
    private readonly List<RepeatBoundary> _repeatBoundaries = new();
    private readonly Dictionary<string, Site> _targetSites = new(StringComparer.Ordinal);
    private int _outputNode = -1;
    private readonly Dictionary<string, int> _nodeKeys = new(StringComparer.Ordinal);
    private List<TargetParameter> _targetParameters = new();
    private int _sequence = 1;

    private ModelParser(Compilation compilation, CancellationToken ct)
    {
        _compilation = compilation;
        _ct = ct;
    }

    /// <summary>Variables in scope while reading a method body: name → node id.</summary>
    private sealed class Scope
    {
        public Scope(string layerPrefix, INamedTypeSymbol type, Dictionary<string, int> values, Dictionary<string, TargetKind> targets)
        {
            LayerPrefix = layerPrefix;
            Type = type;
            Values = values;
            Targets = targets;
        }

        public string LayerPrefix { get; }
        public INamedTypeSymbol Type { get; }
        public Dictionary<string, int> Values { get; }
        public Dictionary<string, TargetKind> Targets { get; }
        /// <summary>Loop variables of a foreach over a [Repeat] property: name → the instance's layer prefix.</summary>
        public Dictionary<string, string> Instances { get; } = new(StringComparer.Ordinal);
    }

    /// <summary>Parses the model declared by <paramref name="type"/> (the first stage of <see cref="ModelFrontEnd.Model"/>).</summary>
    public static ParsedModel ParseModel(INamedTypeSymbol type, Compilation compilation, CancellationToken ct)
    {
        var parser = new ModelParser(compilation, ct);
        var spec = parser.Model(type);
        return new ParsedModel(spec, parser._diagnostics, parser._locations, new ModelFacts(parser._repeatBoundaries, parser._targetSites));
    }

    /// <summary>Reads a [Module] type's own declaration (for its eager member bodies and the
    /// declaration diagnostics that do not depend on where it is used).</summary>
    public static (ModuleSpec? Spec, IReadOnlyList<DiagnosticInfo> Diagnostics) ParseModule(INamedTypeSymbol type, Compilation compilation, CancellationToken ct)
    {
        var parser = new ModelParser(compilation, ct);
        if (!parser.CheckPartial(type, "Module")) return (null, parser._diagnostics);
        var members = parser.LayerMembers(type);
        foreach (var property in type.GetMembers().OfType<IPropertySymbol>())
            if (IsModuleType(property.Type))
                parser.Report(DiagnosticCatalog.NestedModule, property.Locations.FirstOrDefault(), property.Name, type.Name);
        if (FindMethod(type, "Forward") is null)
            parser.Report(DiagnosticCatalog.MissingForward, type.Locations.FirstOrDefault(), type.Name);
        parser.ReportAdversarialInModule(type);
        return (new ModuleSpec(TypeSpecOf(type), members.ToEquatableArray()), parser._diagnostics);
    }

    private ModelSpec? Model(INamedTypeSymbol type)
    {
        if (!CheckPartial(type, "Model")) return null;

        var attribute = type.GetAttributes().First(a => a.AttributeClass?.ToDisplayString() == ModelAttributeName);
        int batch = NamedInt(attribute, "Batch", 0);
        int input = NamedInt(attribute, "Input", 0);
        int sequence = NamedInt(attribute, "Sequence", 0);
        double initStd = NamedDouble(attribute, "InitStd", 0);
        var attributeLocation = attribute.ApplicationSyntaxReference?.GetSyntax(_ct).GetLocation();
        if (batch <= 0) Report(DiagnosticCatalog.ModelShapeArguments, NamedArgumentLocation(attribute, "Batch") ?? attributeLocation, type.Name, "Batch", "> 0", batch);
        if (sequence < 0) Report(DiagnosticCatalog.ModelShapeArguments, NamedArgumentLocation(attribute, "Sequence") ?? attributeLocation, type.Name, "Sequence", ">= 0", sequence);
        if (!(initStd >= 0) || double.IsInfinity(initStd))
            Report(DiagnosticCatalog.ModelShapeArguments, NamedArgumentLocation(attribute, "InitStd") ?? attributeLocation, type.Name, "InitStd", ">= 0 and finite", Format(initStd));
        _sequence = Math.Max(1, sequence);

        var members = LayerMembers(type);
        RegisterLayers(type, "", "", 1);

        var modules = new List<ModuleUseSpec>();
        foreach (var property in type.GetMembers().OfType<IPropertySymbol>())
        {
            if (IsModuleType(property.Type))
            {
                var moduleType = (INamedTypeSymbol)property.Type;
                string prefix = property.Name + ".";
                var paths = RegisterLayers(moduleType, prefix, property.Name, 1);
                modules.Add(new ModuleUseSpec(property.Name, FullName(moduleType), paths.ToEquatableArray(), 0, paths.Count));
            }
            else if (property.Type is IArrayTypeSymbol { Rank: 1, ElementType: var element } && IsModuleType(element))
            {
                var repeat = property.GetAttributes().FirstOrDefault(a => a.AttributeClass?.ToDisplayString() == RepeatAttributeName);
                int count = repeat is not null && repeat.ConstructorArguments.Length == 1 && repeat.ConstructorArguments[0].Value is int c ? c : 0;
                if (repeat is null || count < 1)
                {
                    Report(DiagnosticCatalog.LayerArgument, property.Locations.FirstOrDefault(), property.Name, "the [Repeat(N)] count of a module array", ">= 1", repeat is null ? "missing" : count.ToString(CultureInfo.InvariantCulture));
                    continue;
                }

                var moduleType = (INamedTypeSymbol)element;
                var paths = new List<string>();
                for (int i = 0; i < count; i++)
                {
                    string block = property.Name + "." + i.ToString(CultureInfo.InvariantCulture);
                    paths.AddRange(RegisterLayers(moduleType, block + ".", block, count));
                }

                _repeats[property.Name] = (moduleType, count);
                modules.Add(new ModuleUseSpec(property.Name, FullName(moduleType), paths.ToEquatableArray(), count, paths.Count / count));
            }
        }

        // The graph: from the loss if there is one (it calls Forward), else from Forward.
        var forward = FindMethod(type, "Forward");
        var loss = type.GetMembers().OfType<IMethodSymbol>().FirstOrDefault(m => HasAttribute(m, LossAttributeName));
        int inputNode = AddNode(NodeKind.Input, Array.Empty<int>(), "", ActivationKind.None, 0, type.Locations.FirstOrDefault());
        int lossNode = -1;
        var targets = TargetKind.None;

        if (forward is null)
        {
            Report(DiagnosticCatalog.MissingForward, type.Locations.FirstOrDefault(), type.Name);
        }
        else if (loss is not null)
        {
            (lossNode, targets) = ParseLoss(type, loss, inputNode);
        }
        else
        {
            _outputNode = Inline(forward, new[] { inputNode }, "", type, forward.DeclaringSyntaxReferences.FirstOrDefault()?.GetSyntax(_ct).GetLocation());
        }

        // A token model: the input feeds Embedding layers only, and declares no Input width.
        var inputUses = _nodes.Where(n => n.Inputs.Contains(inputNode)).ToList();
        bool tokens = inputUses.Count > 0 && inputUses.Any(n => n.Kind == NodeKind.Embedding);
        if (tokens)
        {
            foreach (var use in inputUses.Where(n => n.Kind is not (NodeKind.Embedding or NodeKind.MeanPool)))
                Report(DiagnosticCatalog.UnsupportedConstruct, _locations.Node(use.Id), "using the token ids other than through an Embedding layer");
            if (input > 0) Report(DiagnosticCatalog.ModelShapeArguments, NamedArgumentLocation(attribute, "Input") ?? attributeLocation, type.Name, "Input", "absent (0) for a model whose input is token ids", input);
            input = 1;
        }
        else if (input <= 0)
        {
            Report(DiagnosticCatalog.ModelShapeArguments, NamedArgumentLocation(attribute, "Input") ?? attributeLocation, type.Name, "Input", "> 0", input);
        }

        foreach (var node in _nodes.Where(n => n.Kind == NodeKind.Embedding && !(n.Inputs.Count == 1 && n.Inputs[0] == inputNode)))
            Report(DiagnosticCatalog.UnsupportedConstruct, _locations.Node(node.Id), $"the Embedding '{node.Layer}' applied to something other than the model's input ids");

        CheckPooling(tokens);
        var adversarial = ParseAdversarial(type);
        bool hasUserConstructor = type.InstanceConstructors.Any(c => !c.IsImplicitlyDeclared);
        var arguments = new Dictionary<string, Location>(StringComparer.Ordinal);
        foreach (var named in attribute.NamedArguments)
            if (NamedArgumentLocation(attribute, named.Key) is { } at) arguments[named.Key] = at;
        _locations.SetModel(attributeLocation, arguments);
        if (loss is not null)
            foreach (var target in _targetParameters)
                _targetSites[target.Name] = Site.Recorded(_locations.Record(loss.Parameters.First(p => p.Name == target.Name).Locations.FirstOrDefault()));

        // Shapes are not known yet: shape inference fills in the layers' widths and each node's (ModelFrontEnd).
        return new ModelSpec(
            TypeSpecOf(type), batch, input, _sequence, tokens, initStd,
            _layers.ToEquatableArray(), _nodes.ToEquatableArray(), EquatableArray<int>.Empty,
            _outputNode, lossNode, targets, loss?.Name ?? "",
            members.ToEquatableArray(), modules.ToEquatableArray(), hasUserConstructor, IsValid: false,
            Loss: lossNode >= 0 && _lossSpecs.TryGetValue(lossNode, out var lossSpec) ? lossSpec : null)
        {
            Adversarial = adversarial,
            MultiTask = lossNode >= 0 ? _multiTask : null,
            TargetParameters = _targetParameters.ToEquatableArray(),
        };
    }

    private (int LossNode, TargetKind Targets) ParseLoss(INamedTypeSymbol type, IMethodSymbol loss, int inputNode)
    {
        var location = loss.Locations.FirstOrDefault();
        var targets = TargetParameters(loss);
        if (targets is null) return (-1, TargetKind.None);
        _targetParameters = targets;
        var scope = new Scope("", type,
            new Dictionary<string, int>(StringComparer.Ordinal) { [loss.Parameters[0].Name] = inputNode },
            targets.ToDictionary(t => t.Name, t => t.Kind, StringComparer.Ordinal));
        int node = ParseBody(loss, scope);
        if (node >= 0 && _nodes[node].Kind is not (NodeKind.SoftmaxCrossEntropy or NodeKind.MeanSquaredError or NodeKind.Loss))
        {
            Report(DiagnosticCatalog.LossForm, location, loss.Name, "its result is not a loss op");
            return (-1, TargetKind.None);
        }

        if (node >= 0 && _multiTask is null && targets.Count > 1)
        {
            Report(DiagnosticCatalog.LossForm, location, loss.Name,
                $"it takes {targets.Count.ToString(CultureInfo.InvariantCulture)} target parameters but returns one loss; combine one loss per target with Ops.MultiTask(TaskWeighting…, loss₁, loss₂, …)");
            return (-1, TargetKind.None);
        }

        if (node >= 0 && _outputNode < 0)
            Report(DiagnosticCatalog.LossForm, location, loss.Name, "it must compute its prediction by calling Forward");
        return (node, targets[0].Kind);
    }

    // ---- layers -------------------------------------------------------------------------------

    private List<LayerMemberSpec> LayerMembers(INamedTypeSymbol type)
    {
        var members = new List<LayerMemberSpec>();
        foreach (var method in type.GetMembers().OfType<IMethodSymbol>())
        {
            var layerAttribute = LayerAttributeOf(method);
            if (layerAttribute is null) continue;
            if (!CheckLayerSignature(method)) continue;
            var (kind, activation, parameter) = Classify(layerAttribute);
            members.Add(new LayerMemberSpec(method.Name, Accessibility(method.DeclaredAccessibility), method.Parameters[0].Name, kind, activation, parameter, members.Count,
                kind == LayerKind.MeanPool ? method.Parameters[1].Name : ""));
        }

        return members;
    }

    private bool CheckLayerSignature(IMethodSymbol method)
    {
        string? problem = LayerSignatureProblem(method);
        if (problem is null) return true;
        Report(DiagnosticCatalog.LayerSignature, method.Locations.FirstOrDefault(), method.Name, problem);
        return false;
    }

    /// <summary>Why a layer member's signature is wrong, or null when it is right (one rule, used by
    /// the reporting pass and by the layer registration that silently skips bad members).</summary>
    private static string? LayerSignatureProblem(IMethodSymbol method)
    {
        if (!method.IsPartialDefinition && method.PartialDefinitionPart is null) return "it is not declared partial";
        if (method.IsStatic) return "it is static";
        if (LayerAttributeOf(method)?.AttributeClass?.Name == "MeanPoolAttribute")
        {
            if (method.Parameters.Length != 2 || !method.Parameters.All(p => IsType(p.Type, TensorName))) return "a [MeanPool] layer must take (Tensor x, Tensor ids)";
        }
        else if (method.Parameters.Length != 1 || !IsType(method.Parameters[0].Type, TensorName))
        {
            return "it must have exactly one Tensor parameter";
        }

        if (!IsType(method.ReturnType, TensorName)) return "it must return Tensor";
        if (method.IsGenericMethod) return "it must not be generic";
        return null;
    }

    /// <summary>Registers the layers of <paramref name="type"/> under <paramref name="prefix"/>, as part of
    /// <paramref name="block"/> (a module instance, "" for the model) stacked <paramref name="depth"/> deep.</summary>
    private List<string> RegisterLayers(INamedTypeSymbol type, string prefix, string block, int depth)
    {
        var paths = new List<string>();
        var methods = type.GetMembers().OfType<IMethodSymbol>().Where(m => LayerAttributeOf(m) is not null && LayerSignatureProblem(m) is null).ToList();

        // DeepNorm: α and β from the depth unless given; β initialises the block's Dense layers and
        // its attention's value and output projections.
        double beta = 0;
        var deepNorm = methods.Select(LayerAttributeOf).FirstOrDefault(a => a?.AttributeClass?.Name == "DeepNormAttribute");
        if (deepNorm is not null)
        {
            beta = NamedDouble(deepNorm, "Beta", 0);
            if (beta == 0) beta = Math.Pow(8.0 * depth, -0.25);
        }

        foreach (var method in methods)
        {
            _ct.ThrowIfCancellationRequested();
            var attribute = LayerAttributeOf(method)!;
            var (kind, activation, parameter) = Classify(attribute);
            string path = prefix + method.Name;
            var attributeLocation = attribute.ApplicationSyntaxReference?.GetSyntax(_ct).GetLocation();
            Location? Argument(string name) => NamedArgumentLocation(attribute, name) ?? attributeLocation;
            int Positive(string name)
            {
                int value = NamedInt(attribute, name, 0);
                if (value <= 0) Report(DiagnosticCatalog.LayerArgument, Argument(name), path, name, "> 0", value);
                return value;
            }

            int NonNegative(string name)
            {
                int value = NamedInt(attribute, name, 0);
                if (value < 0) Report(DiagnosticCatalog.LayerArgument, Argument(name), path, name, ">= 0 (0 infers it)", value);
                return value;
            }

            int outFeatures = 0, inFeatures = 0;
            bool bias = false, gain = true, spectralNorm = false;
            string tied = "";
            AttentionSpec? attention = null;
            switch (kind)
            {
                case LayerKind.Dense:
                    outFeatures = Positive("Out");
                    inFeatures = NonNegative("In");
                    bias = NamedBool(attribute, "Bias", true);
                    if (attribute.NamedArguments.FirstOrDefault(kv => kv.Key == "Tied").Value.Value is string tiedName && tiedName.Length > 0)
                    {
                        var target = methods.FirstOrDefault(m => m.Name == tiedName);
                        if (target is null || LayerAttributeOf(target)?.AttributeClass?.Name != "EmbeddingAttribute")
                            Report(DiagnosticCatalog.LayerArgument, Argument("Tied"), path, "Tied", "the name of an [Embedding] layer of the same type", $"'{tiedName}'");
                        else
                            tied = prefix + tiedName;
                    }

                    spectralNorm = SpectralNormOption(attribute, path, tied, Argument("SpectralNorm"));
                    break;
                case LayerKind.Embedding:
                    inFeatures = Positive("Vocabulary");
                    outFeatures = Positive("Dim");
                    break;
                case LayerKind.LayerNorm:
                    bias = NamedBool(attribute, "Bias", true);
                    if (!(parameter > 0)) Report(DiagnosticCatalog.LayerArgument, Argument("Epsilon"), path, "Epsilon", "> 0", Format(parameter));
                    break;
                case LayerKind.RmsNorm:
                    gain = NamedBool(attribute, "Gain", true);
                    if (!(parameter >= 0)) Report(DiagnosticCatalog.LayerArgument, Argument("Epsilon"), path, "Epsilon", ">= 0", Format(parameter));
                    break;
                case LayerKind.Attention:
                case LayerKind.LinearAttention:
                {
                    bool linear = kind == LayerKind.LinearAttention;
                    int heads = Positive("Heads");
                    int keySize = NonNegative("KeySize"), valueSize = NonNegative("ValueSize");
                    outFeatures = NonNegative("Out");
                    bias = NamedBool(attribute, "Bias", true);
                    int window = linear ? 0 : NonNegative("Window");
                    int rotary = linear ? 0 : NonNegative("RotaryDim");
                    double scale = linear ? 0 : NamedDouble(attribute, "Scale", 0);
                    double ropeBase = linear ? 10000 : NamedDouble(attribute, "RopeBase", 10000);
                    bool entropy = !linear && NamedBool(attribute, "EntropyInvariant", false);
                    bool rope = !linear && NamedBool(attribute, "Rope", false);
                    if (!(scale >= 0) || double.IsInfinity(scale)) Report(DiagnosticCatalog.LayerArgument, Argument("Scale"), path, "Scale", ">= 0 and finite (0 is 1/√KeySize)", Format(scale));
                    if (entropy && scale != 0) Report(DiagnosticCatalog.LayerArgument, Argument("Scale"), path, "Scale", "0 when EntropyInvariant is set (the scale is then ln n / (ln 512 √d))", Format(scale));
                    if (!(ropeBase > 1)) Report(DiagnosticCatalog.LayerArgument, Argument("RopeBase"), path, "RopeBase", "> 1", Format(ropeBase));
                    attention = new AttentionSpec(heads, keySize, valueSize, NamedBool(attribute, "Causal", false), window, entropy, scale,
                        rope, rotary, ropeBase, !linear && NamedBool(attribute, "TalkingHeads", false), linear);
                    break;
                }
                case LayerKind.DeepNorm:
                {
                    double alpha = NamedDouble(attribute, "Alpha", 0), declaredBeta = NamedDouble(attribute, "Beta", 0);
                    if (!(alpha >= 0)) Report(DiagnosticCatalog.LayerArgument, Argument("Alpha"), path, "Alpha", ">= 0 (0 derives (2N)^1/4)", Format(alpha));
                    if (!(declaredBeta >= 0)) Report(DiagnosticCatalog.LayerArgument, Argument("Beta"), path, "Beta", ">= 0 (0 derives (8N)^-1/4)", Format(declaredBeta));
                    parameter = alpha > 0 ? alpha : Math.Pow(2.0 * depth, 0.25);
                    break;
                }
            }

            if (kind == LayerKind.Dropout && !(parameter >= 0 && parameter < 1))
                Report(DiagnosticCatalog.LayerArgument, attributeLocation, path, "the rate", "in [0, 1)", Format(parameter));
            if (activation == ActivationKind.SquarePlus && !(parameter > 0))
                Report(DiagnosticCatalog.SquarePlusB, NamedArgumentLocation(attribute, "B") ?? attributeLocation, path, Format(parameter));
            if ((kind is LayerKind.Attention or LayerKind.PositionEmbedding) && _sequence <= 1)
                Report(DiagnosticCatalog.LayerArgument, attributeLocation, path, "the model's Sequence", "> 1 for a sequence layer", _sequence);

            var spec = new LayerSpec(path, kind, outFeatures, inFeatures, bias, activation, parameter, attention, tied, gain, block, depth,
                kind is LayerKind.Dense or LayerKind.Attention or LayerKind.LinearAttention ? beta : 0)
            {
                SpectralNorm = spectralNorm,
            };
            _layers.Add(spec);
            var argumentLocations = new Dictionary<string, Location>(StringComparer.Ordinal);
            foreach (var named in attribute.NamedArguments)
                if (NamedArgumentLocation(attribute, named.Key) is { } at) argumentLocations[named.Key] = at;
            _layersByPath[path] = spec;
            _locations.AddLayer(path, attributeLocation, argumentLocations);
            paths.Add(path);
        }

        return paths;
    }

    private static (LayerKind Kind, ActivationKind Activation, double Parameter) Classify(AttributeData attribute)
    {
        switch (attribute.AttributeClass?.Name)
        {
            case "DenseAttribute": return (LayerKind.Dense, ActivationKind.None, 0);
            case "ReluAttribute": return (LayerKind.Activation, ActivationKind.Relu, 0);
            case "GeluAttribute": return (LayerKind.Activation, NamedBool(attribute, "Exact", false) ? ActivationKind.GeluErf : ActivationKind.GeluTanh, 0);
            case "SiluAttribute": return (LayerKind.Activation, ActivationKind.Silu, 0);
            case "SoftplusAttribute": return (LayerKind.Activation, ActivationKind.Softplus, 0);
            case "SquarePlusAttribute": return (LayerKind.Activation, ActivationKind.SquarePlus, NamedDouble(attribute, "B", 4));
            case "TanhAttribute": return (LayerKind.Activation, ActivationKind.Tanh, 0);
            case "SigmoidAttribute": return (LayerKind.Activation, ActivationKind.Sigmoid, 0);
            case "EmbeddingAttribute": return (LayerKind.Embedding, ActivationKind.None, 0);
            case "PositionEmbeddingAttribute": return (LayerKind.PositionEmbedding, ActivationKind.None, 0);
            case "LayerNormAttribute": return (LayerKind.LayerNorm, ActivationKind.None, NamedDouble(attribute, "Epsilon", 1e-5));
            case "RmsNormAttribute": return (LayerKind.RmsNorm, ActivationKind.None, NamedDouble(attribute, "Epsilon", 1e-6));
            case "AttentionAttribute": return (LayerKind.Attention, ActivationKind.None, 0);
            case "LinearAttentionAttribute": return (LayerKind.LinearAttention, ActivationKind.None, 0);
            case "DeepNormAttribute": return (LayerKind.DeepNorm, ActivationKind.None, 0);
            case "MeanPoolAttribute": return (LayerKind.MeanPool, ActivationKind.None, NamedInt(attribute, "Pad", 0));
            case "DropoutAttribute":
                double rate = attribute.ConstructorArguments.Length == 1 && attribute.ConstructorArguments[0].Value is double r ? r : 0;
                return (LayerKind.Dropout, ActivationKind.None, rate);
            default: return (LayerKind.Activation, ActivationKind.None, 0);
        }
    }

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

    private int Expression(ExpressionSyntax expression, Scope scope, SemanticModel model)
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
                return left < 0 || right < 0 ? -1 : AddNode(NodeKind.Add, new[] { left, right }, "", ActivationKind.None, 0, b.GetLocation());
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
                return input < 0 ? -1 : AddNode(NodeKind.Scale, new[] { input }, "", ActivationKind.None, factor.Value, b.GetLocation());
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
        if (model.GetSymbolInfo(call, _ct).Symbol is not IMethodSymbol method)
        {
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
            if (layer.Kind == LayerKind.MeanPool) return MeanPoolCall(path, layer, call, scope, model);
            if (args.Count != 1) return -1;
            int input = Expression(args[0].Expression, scope, model);
            if (input < 0) return -1;
            var spec = layer;
            var kind = spec.Kind switch
            {
                LayerKind.Dense => NodeKind.Dense,
                LayerKind.Dropout => NodeKind.Dropout,
                LayerKind.Embedding => NodeKind.Embedding,
                LayerKind.PositionEmbedding => NodeKind.PositionEmbedding,
                LayerKind.LayerNorm => NodeKind.LayerNorm,
                LayerKind.RmsNorm => NodeKind.RmsNorm,
                LayerKind.Attention => NodeKind.Attention,
                LayerKind.LinearAttention => NodeKind.LinearAttention,
                LayerKind.DeepNorm => NodeKind.Scale,
                _ => NodeKind.Activation,
            };
            return AddNode(kind, new[] { input }, path, spec.Activation, spec.Parameter, location);
        }

        // block.Forward(x) on the loop variable of a foreach over a [Repeat] property.
        if (call.Expression is MemberAccessExpressionSyntax { Expression: IdentifierNameSyntax instance } &&
            scope.Instances.TryGetValue(instance.Identifier.ValueText, out string? instancePrefix) && method.Name == "Forward" && method.ContainingType is { } blockType)
        {
            var inputs = args.Select(a => Expression(a.Expression, scope, model)).ToArray();
            if (inputs.Any(i => i < 0)) return -1;
            return Inline(method, inputs, instancePrefix, blockType, location);
        }

        // Module.Forward(x) on a module property of the model.
        if (call.Expression is MemberAccessExpressionSyntax access && model.GetSymbolInfo(access.Expression, _ct).Symbol is IPropertySymbol property &&
            IsModuleType(property.Type) && method.Name == "Forward" && scope.LayerPrefix.Length == 0)
        {
            var moduleType = (INamedTypeSymbol)property.Type;
            var inputs = args.Select(a => Expression(a.Expression, scope, model)).ToArray();
            if (inputs.Any(i => i < 0)) return -1;
            return Inline(method, inputs, property.Name + ".", moduleType, location);
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

    private int Op(string name, InvocationExpressionSyntax call, Scope scope, SemanticModel model)
    {
        var args = call.ArgumentList.Arguments;
        var location = call.GetLocation();
        ActivationKind activation = name switch
        {
            "Relu" => ActivationKind.Relu,
            "Gelu" => ActivationKind.GeluTanh,
            "GeluExact" => ActivationKind.GeluErf,
            "Silu" => ActivationKind.Silu,
            "Softplus" => ActivationKind.Softplus,
            "SquarePlus" => ActivationKind.SquarePlus,
            "Tanh" => ActivationKind.Tanh,
            "Sigmoid" => ActivationKind.Sigmoid,
            _ => ActivationKind.None,
        };

        if (activation != ActivationKind.None)
        {
            double parameter = 0;
            if (activation == ActivationKind.SquarePlus)
            {
                parameter = 4;
                if (args.Count > 1)
                {
                    double? b = Constant(args[1].Expression, model);
                    if (b is null)
                    {
                        Report(DiagnosticCatalog.UnsupportedConstruct, args[1].GetLocation(), $"the non-constant SquarePlus b '{args[1]}'");
                        return -1;
                    }

                    parameter = b.Value;
                    if (!(parameter > 0)) Report(DiagnosticCatalog.SquarePlusB, args[1].GetLocation(), "Ops.SquarePlus", Format(parameter));
                }
            }

            int input = Expression(args[0].Expression, scope, model);
            return input < 0 ? -1 : AddNode(NodeKind.Activation, new[] { input }, "", activation, parameter, location);
        }

        if (IsExtendedLoss(name, args.Count))
            return LossOp(name, call, scope, model);

        if (name == "MultiTask")
            return MultiTaskOp(call, scope, model);

        if (name is "SoftmaxCrossEntropy" or "MeanSquaredError")
        {
            var expected = name == "SoftmaxCrossEntropy" ? TargetKind.Labels : TargetKind.Tensor;
            if (args.Count != 2 || args[1].Expression is not IdentifierNameSyntax target ||
                !scope.Targets.TryGetValue(target.Identifier.ValueText, out var kind) || kind != expected)
            {
                Report(DiagnosticCatalog.LossForm, location, "Loss",
                    $"the second argument of Ops.{name} must be the loss method's {(expected == TargetKind.Labels ? "Labels" : "Tensor")} parameter");
                return -1;
            }

            int prediction = Expression(args[0].Expression, scope, model);
            var nodeKind = name == "SoftmaxCrossEntropy" ? NodeKind.SoftmaxCrossEntropy : NodeKind.MeanSquaredError;
            if (prediction < 0) return -1;
            int lossNode = AddNode(nodeKind, new[] { prediction }, "", ActivationKind.None, 0, location);
            _locations.RecordCall(lossNode, "", call);
            _lossTargets[lossNode] = target.Identifier.ValueText;
            _lossSpecs[lossNode] = new LossSpec(name == "SoftmaxCrossEntropy" ? LossKind.SoftmaxCrossEntropy : LossKind.MeanSquaredError, 0, 0, EquatableArray<double>.Empty, -1);
            return lossNode;
        }

        Report(DiagnosticCatalog.UnsupportedConstruct, location, $"'Ops.{name}'");
        return -1;
    }

    // ---- helpers ------------------------------------------------------------------------------

    /// <summary>
    /// Adds a node, or returns the existing node that computes the same value: the same layer (or op) with the
    /// same constant on the same inputs. So a loss that calls Forward(x) and also Head(Features(x)) computes
    /// Features(x) once; a Dropout applied twice to one value reuses its mask, as two nodes of one Dropout layer
    /// already would in a step. The input and the losses are never shared.
    /// </summary>
    private int AddNode(NodeKind kind, int[] inputs, string layer, ActivationKind activation, double scalar, Location? location)
    {
        string? key = kind is NodeKind.Input or NodeKind.Loss or NodeKind.SoftmaxCrossEntropy or NodeKind.MeanSquaredError ? null
            : string.Join("|", ((int)kind).ToString(CultureInfo.InvariantCulture), string.Join(",", inputs.Select(i => i.ToString(CultureInfo.InvariantCulture))),
                layer, ((int)activation).ToString(CultureInfo.InvariantCulture), scalar.ToString("R", CultureInfo.InvariantCulture));
        if (key is not null && _nodeKeys.TryGetValue(key, out int existing)) return existing;
        int id = _nodes.Count;
        if (key is not null) _nodeKeys[key] = id;
        _nodes.Add(new NodeSpec(id, kind, inputs.ToEquatableArray(), layer, activation, scalar));
        _locations.AddNode(location);
        return id;
    }

    private bool CheckPartial(INamedTypeSymbol type, string attribute)
    {
        bool isPartial = type.DeclaringSyntaxReferences.Any(r => r.GetSyntax(_ct) is TypeDeclarationSyntax t && t.Modifiers.Any(SyntaxKind.PartialKeyword));
        if (!isPartial) Report(DiagnosticCatalog.ModelNotPartial, type.Locations.FirstOrDefault(), type.Name, attribute);
        return isPartial;
    }

    private void Report(DiagnosticDescriptor descriptor, Location? location, params object?[] args) =>
        _diagnostics.Add(new DiagnosticInfo(descriptor, location, args));

    private double? Constant(ExpressionSyntax expression, SemanticModel model)
    {
        var value = model.GetConstantValue(expression, _ct);
        if (!value.HasValue) return null;
        return value.Value switch
        {
            double d => d,
            float f => f,
            int i => i,
            long l => l,
            decimal m => (double)m,
            _ => null,
        };
    }

    internal static bool IsModuleType(ITypeSymbol type) => type is INamedTypeSymbol named && HasAttribute(named, ModuleAttributeName);

    private static IMethodSymbol? FindMethod(INamedTypeSymbol type, string name) =>
        type.GetMembers(name).OfType<IMethodSymbol>().FirstOrDefault(m => !m.IsStatic);

    private static AttributeData? LayerAttributeOf(IMethodSymbol method)
    {
        foreach (var attribute in method.GetAttributes())
            for (var t = attribute.AttributeClass?.BaseType; t is not null; t = t.BaseType)
                if (t.ToDisplayString() == LayerAttributeBase) return attribute;
        return null;
    }

    private static bool HasAttribute(ISymbol symbol, string fullName) =>
        symbol.GetAttributes().Any(a => a.AttributeClass?.ToDisplayString() == fullName);

    private static bool IsType(ITypeSymbol type, string fullName) => type.ToDisplayString() == fullName;

    /// <summary>The attribute's named int argument, or <paramref name="fallback"/> (shared with the analyzers).</summary>
    internal static int NamedInt(AttributeData a, string name, int fallback) =>
        a.NamedArguments.FirstOrDefault(kv => kv.Key == name).Value.Value is int i ? i : fallback;

    private static bool NamedBool(AttributeData a, string name, bool fallback) =>
        a.NamedArguments.FirstOrDefault(kv => kv.Key == name).Value.Value is bool b ? b : fallback;

    private static double NamedDouble(AttributeData a, string name, double fallback) =>
        a.NamedArguments.FirstOrDefault(kv => kv.Key == name).Value.Value switch
        {
            double d => d,
            int i => i,
            _ => fallback,
        };

    private Location? NamedArgumentLocation(AttributeData attribute, string name)
    {
        if (attribute.ApplicationSyntaxReference?.GetSyntax(_ct) is not AttributeSyntax syntax || syntax.ArgumentList is null) return null;
        foreach (var argument in syntax.ArgumentList.Arguments)
            if (argument.NameEquals?.Name.Identifier.ValueText == name) return argument.GetLocation();
        return null;
    }

    internal static TypeSpec TypeSpecOf(INamedTypeSymbol type)
    {
        string ns = type.ContainingNamespace is { IsGlobalNamespace: false } n ? n.ToDisplayString() : "";
        var containing = new List<string>();
        for (var t = type.ContainingType; t is not null; t = t.ContainingType)
            containing.Insert(0, $"partial {(t.IsRecord ? "record " : "")}{(t.TypeKind == TypeKind.Struct ? "struct" : "class")} {t.Name}");
        return new TypeSpec(ns, type.Name, FullName(type), Accessibility(type.DeclaredAccessibility), containing.ToEquatableArray());
    }

    private static string FullName(INamedTypeSymbol type) => type.ToDisplayString(SymbolDisplayFormat.FullyQualifiedFormat);

    private static string Accessibility(Microsoft.CodeAnalysis.Accessibility accessibility) => accessibility switch
    {
        Microsoft.CodeAnalysis.Accessibility.Public => "public",
        Microsoft.CodeAnalysis.Accessibility.Internal => "internal",
        Microsoft.CodeAnalysis.Accessibility.Protected => "protected",
        Microsoft.CodeAnalysis.Accessibility.ProtectedOrInternal => "protected internal",
        Microsoft.CodeAnalysis.Accessibility.ProtectedAndInternal => "private protected",
        _ => "private",
    };

    private static string Describe(SyntaxNode node)
    {
        string text = node.ToString().Replace('\n', ' ').Replace('\r', ' ');
        return text.Length > 60 ? text.Substring(0, 57) + "..." : text;
    }

    private static string Format(double value) => value.ToString("R", CultureInfo.InvariantCulture);
}
