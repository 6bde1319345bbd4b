using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Threading;
using Dsl.Generators.Diagnostics;
using Dsl.Generators.Model;
using Dsl.Generators.Ops;
using Dsl.Generators.Rules;
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
    private const string RecomputeAttributeName = "Dsl.RecomputeAttribute";

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
    private readonly Dictionary<string, Site> _recompute = new(StringComparer.Ordinal);
    private readonly List<SegmentSpec> _segments = new();
    private Site? _recomputeOnModel;
    private readonly Dictionary<string, Site> _targetSites = new(StringComparer.Ordinal);
    private int _outputNode = -1;
    private readonly Dictionary<NodeKey, int> _nodeKeys = new();
    private List<TargetParameter> _targetParameters = new();
    private int _sequence = 1;

    private ModelParser(Compilation compilation, CancellationToken ct)
    {
        _compilation = compilation;
        _ct = ct;
    }

    internal CancellationToken CancellationToken => _ct;

    /// <summary>Where everything the parse read was declared.</summary>
    internal LocationMap Locations => _locations;

    /// <summary>The parsed Ops.MultiTask, or null; its value is its first task's loss node.</summary>
    internal MultiTaskSpec? MultiTask { get; set; }

    /// <summary>The node of id <paramref name="id"/>.</summary>
    internal NodeSpec NodeAt(int id) => _nodes[id];

    /// <summary>Replaces a node's options (Ops.Flood sets its loss's level).</summary>
    internal void SetOptions(int id, OpOptions options) => _nodes[id] = _nodes[id] with { Options = options };

    /// <summary>Variables in scope while reading a method body: name → node id.</summary>
    internal sealed class Scope
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
        return new ParsedModel(spec, parser._diagnostics, parser._locations, new ModelFacts(parser._repeatBoundaries, parser._targetSites)
        {
            UsesIncompleteModule = parser._usesUnbuildableModule,
            RecomputeSites = parser._recompute,
            RecomputeOnModel = parser._recomputeOnModel,
        });
    }

    /// <summary>Reads a [Module] type's own declaration (for its eager member bodies and the
    /// declaration diagnostics that do not depend on where it is used).</summary>
    public static (ModuleSpec? Spec, IReadOnlyList<DiagnosticInfo> Diagnostics) ParseModule(INamedTypeSymbol type, Compilation compilation, CancellationToken ct)
    {
        var parser = new ModelParser(compilation, ct);
        if (!parser.CheckTypeDeclaration(type, "Module")) return (null, parser._diagnostics);
        var members = parser.LayerMembers(type);
        foreach (var property in type.GetMembers().OfType<IPropertySymbol>())
            if (IsModuleProperty(property))
                parser.Report(DiagnosticCatalog.NestedModule, property.Locations.FirstOrDefault(), property.Name, type.Name);
        if (FindMethod(type, "Forward") is null)
            parser.Report(DiagnosticCatalog.MissingForward, type.Locations.FirstOrDefault(), type.Name);
        parser.ReportAdversarialInModule(type);
        return (new ModuleSpec(TypeSpecOf(type), members.ToEquatableArray()) { Declarations = parser.OwnedDeclarations(type).ToEquatableArray() }, parser._diagnostics);
    }

    private ModelSpec? Model(INamedTypeSymbol type)
    {
        if (!CheckTypeDeclaration(type, "Model")) return null;

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
        string subject = $"[Model] on '{type.Name}'";
        bool rowsWithin = WithinLimit(batch, Limits.MaxRows, NamedArgumentLocation(attribute, "Batch") ?? attributeLocation, subject, "Batch", "the examples of a step are rows of int-indexed buffers")
            & WithinLimit(sequence, Limits.MaxSequence, NamedArgumentLocation(attribute, "Sequence") ?? attributeLocation, subject, "Sequence", "positions are rows of int-indexed buffers");
        if (rowsWithin && batch > 0)
            WithinLimit(Limits.Product(batch, Math.Max(1, sequence)), Limits.MaxRows, attributeLocation, subject, "Batch × Sequence (the rows of a step)", "every activation is rows × width values");
        WithinLimit(input, Limits.MaxWidth, NamedArgumentLocation(attribute, "Input") ?? attributeLocation, subject, "Input", "every row width must fit the generated code's int offsets");
        _sequence = Math.Max(1, sequence);

        var members = LayerMembers(type);
        RegisterLayers(type, "", "", 1);

        if (RecomputeAttributeOf(type) is { } onModel) _recomputeOnModel = Site.Recorded(_locations.Record(onModel.ApplicationSyntaxReference?.GetSyntax(_ct).GetLocation()));
        var modules = new List<ModuleUseSpec>();
        foreach (var property in type.GetMembers().OfType<IPropertySymbol>())
        {
            if (IsModuleProperty(property) && ModulePropertyProblem(property) is { } problem)
                Report(DiagnosticCatalog.UnsupportedDeclaration, property.Locations.FirstOrDefault(), $"Module property '{property.Name}'", problem);
            if ((property.Type as INamedTypeSymbol ?? (property.Type as IArrayTypeSymbol)?.ElementType as INamedTypeSymbol) is { } used && IsModuleType(used) && !CanComplete(used))
                _usesUnbuildableModule = true;
            // [Recompute] on the property, or on the module type (every use).
            var moduleOf = property.Type is IArrayTypeSymbol { ElementType: INamedTypeSymbol e } ? e : property.Type as INamedTypeSymbol;
            if (moduleOf is not null && IsModuleType(moduleOf) && (RecomputeAttributeOf(property) ?? RecomputeAttributeOf(moduleOf)) is { } recompute)
                _recompute[property.Name] = Site.Recorded(_locations.Record(recompute.ApplicationSyntaxReference?.GetSyntax(_ct).GetLocation()));
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
                var moduleType = (INamedTypeSymbol)element;
                if (repeat is null || count < 1)
                {
                    Report(DiagnosticCatalog.LayerArgument, property.Locations.FirstOrDefault(), property.Name, "the [Repeat(N)] count of a module array", ">= 1", repeat is null ? "missing" : count.ToString(CultureInfo.InvariantCulture));
                    _repeats[property.Name] = (moduleType, 0); // a foreach over it is still understood (no blocks): no cascade
                    continue;
                }

                var repeatLocation = repeat.ApplicationSyntaxReference?.GetSyntax(_ct).GetLocation() ?? property.Locations.FirstOrDefault();
                if (!WithinLimit(count, Limits.MaxRepeat, repeatLocation, $"[Repeat] on '{property.Name}'", "the block count", "each block is unrolled into the generated code") ||
                    !WithinLimit(Limits.Product(count, moduleType.GetMembers().OfType<IMethodSymbol>().Count(m => LayerAttributeOf(m) is not null)), Limits.MaxOperations, repeatLocation,
                        $"[Repeat] on '{property.Name}'", $"the layers of {count.ToString(CultureInfo.InvariantCulture)} '{moduleType.Name}' blocks", "each layer is fused code in the generated file"))
                {
                    _repeats[property.Name] = (moduleType, 0);
                    continue;
                }

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
        int inputNode = AddNode(Input.Key, Array.Empty<int>(), "", null, type.Locations.FirstOrDefault());
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
        bool tokens = inputUses.Count > 0 && inputUses.Any(n => n.Op == Embedding.Key);
        if (tokens)
        {
            foreach (var use in inputUses.Where(n => n.Op != Embedding.Key && !OpRegistry.Get(n.Op).PoolsRows))
                Report(DiagnosticCatalog.UnsupportedConstruct, _locations.Node(use.Id), "using the token ids other than through an Embedding layer");
            if (input > 0) Report(DiagnosticCatalog.ModelShapeArguments, NamedArgumentLocation(attribute, "Input") ?? attributeLocation, type.Name, "Input", "absent (0) for a model whose input is token ids", input);
            input = 1;
        }
        else if (input <= 0)
        {
            Report(DiagnosticCatalog.ModelShapeArguments, NamedArgumentLocation(attribute, "Input") ?? attributeLocation, type.Name, "Input", "> 0", input);
        }

        foreach (var node in _nodes.Where(n => n.Op == Embedding.Key && !(n.Inputs.Count == 1 && n.Inputs[0] == inputNode)))
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
        // A loss method gives an objective even when it has errors: the stubs keep its target parameters' shape.
        var objective = loss is null ? null : new ObjectiveSpec(loss.Name, lossNode, targets, _targetParameters.ToEquatableArray(), lossNode >= 0 ? MultiTask : null);
        return new ModelSpec(TypeSpecOf(type), new ModelShape(batch, input, _sequence, tokens, initStd), _layers.ToEquatableArray(), _nodes.ToEquatableArray(), _outputNode, objective)
        {
            Adversarial = adversarial,
            Members = members.ToEquatableArray(),
            Modules = modules.ToEquatableArray(),
            HasUserConstructor = hasUserConstructor,
            Declarations = OwnedDeclarations(type).ToEquatableArray(),
            Segments = _segments.ToEquatableArray(),
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
        if (node >= 0 && !OpRegistry.Get(_nodes[node].Op).IsLoss)
        {
            Report(DiagnosticCatalog.LossForm, location, loss.Name, "its result is not a loss op");
            return (-1, TargetKind.None);
        }

        if (node >= 0 && MultiTask is null && targets.Count > 1)
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
            var (op, _, _, options) = ReadLayer(layerAttribute, method.Name, "", 1, report: false, sibling: _ => null);
            members.Add(new LayerMemberSpec(method.Name, Modifiers(method), method.Parameters[0].Name, op.Name, options, members.Count,
                op.LayerParameters == 2 ? method.Parameters[1].Name : ""));
        }

        return members;
    }

    private bool CheckLayerSignature(IMethodSymbol method)
    {
        string? problem = LayerSignatureProblem(method);
        if (problem is null) return true;
        ReportDeclaration(DiagnosticCatalog.LayerSignature, method.Locations.FirstOrDefault(), LayerProblemIsCompilerError(method), method.Name, problem);
        return false;
    }

    /// <summary>Why a layer member's signature is wrong, or null when it is right (one rule, used by
    /// the reporting pass and by the layer registration that silently skips bad members).</summary>
    private string? LayerSignatureProblem(IMethodSymbol method)
    {
        if (!method.IsPartialDefinition && method.PartialDefinitionPart is null) return "it is not declared partial";
        if (HasUserImplementation(method.PartialImplementationPart)) return "it already has a body; the generator writes it";
        if (!HasAccessibilityModifier(method)) return "it has no accessibility modifier (a partial method that returns a value needs one, e.g. public)";
        if (method.IsStatic) return "it is static";
        if (method.IsVirtual || method.IsOverride || method.IsAbstract || method.IsSealed) return "it is virtual, abstract, sealed or an override (the generated engine would not call an override)";
        string? attribute = LayerAttributeOf(method)?.AttributeClass?.Name;
        if (attribute is not null && LayerParameters(attribute) == 2)
        {
            if (method.Parameters.Length != 2 || !method.Parameters.All(p => IsType(p.Type, TensorName)))
                return $"a [{attribute.Substring(0, attribute.Length - "Attribute".Length)}] layer must take (Tensor x, Tensor ids)";
        }
        else if (method.Parameters.Length != 1 || !IsType(method.Parameters[0].Type, TensorName))
        {
            return $"it must have exactly one Tensor parameter (it has {(method.Parameters.Length == 0 ? "none" : string.Join(", ", method.Parameters.Select(p => p.Type.ToDisplayString(SymbolDisplayFormat.MinimallyQualifiedFormat))))})";
        }

        if (method.Parameters.Any(p => p.RefKind != RefKind.None || p.IsParams)) return "its parameters must be plain Tensor values (no ref, out, in or params)";
        if (!IsType(method.ReturnType, TensorName) || method.ReturnsByRef || method.ReturnsByRefReadonly) return "it must return Tensor";
        if (method.IsGenericMethod) return "it must not be generic";
        return null;
    }

    /// <summary>Tensor parameters of a layer member with the attribute (the op's; 1 for an attribute no op takes).</summary>
    private static int LayerParameters(string attribute) =>
        OpRegistry.All.FirstOrDefault(o => o.Attribute == attribute)?.LayerParameters ?? 1;

    /// <summary>The op of a layer attribute and what it reads: an attribute no op takes is the identity activation, as
    /// a layer whose kind is unknown always was. With <paramref name="report"/> false (a module's own declaration read
    /// for its eager bodies) nothing is reported.</summary>
    private (Op Op, int In, int Out, OpOptions? Options) ReadLayer(AttributeData attribute, string path, string prefix, int depth, bool report, Func<string, string?> sibling)
    {
        var reader = new LayerReader(this, attribute, path, prefix, depth, _sequence, sibling, report);
        var op = OpRegistry.ForAttribute(reader) ?? OpRegistry.Get(Identity.Key);
        var (inFeatures, outFeatures, options) = op.ReadLayer(reader);
        return (op, inFeatures, outFeatures, options);
    }

    /// <summary>Registers the layers of <paramref name="type"/> under <paramref name="prefix"/>, as part of
    /// <paramref name="block"/> (a module instance, "" for the model) stacked <paramref name="depth"/> deep.</summary>
    private List<string> RegisterLayers(INamedTypeSymbol type, string prefix, string block, int depth)
    {
        var paths = new List<string>();
        var methods = type.GetMembers().OfType<IMethodSymbol>().Where(m => LayerAttributeOf(m) is not null && LayerSignatureProblem(m) is null).ToList();
        string? Sibling(string name)
        {
            var member = methods.FirstOrDefault(m => m.Name == name);
            return member is null ? null : OpRegistry.ForAttribute(new LayerReader(this, LayerAttributeOf(member)!, "", "", 1, 1, _ => null, report: false))?.Name;
        }

        // A block's init gain (DeepNorm's β, from the depth unless given) initialises the layers that take one.
        double beta = 0;
        foreach (var method in methods)
        {
            var reader = new LayerReader(this, LayerAttributeOf(method)!, "", "", depth, _sequence, _ => null, report: false);
            double gain = OpRegistry.ForAttribute(reader)?.BlockInitGain(reader, depth) ?? 0;
            if (gain != 0)
            {
                beta = gain;
                break;
            }
        }

        foreach (var method in methods)
        {
            _ct.ThrowIfCancellationRequested();
            var attribute = LayerAttributeOf(method)!;
            string path = prefix + method.Name;
            var attributeLocation = attribute.ApplicationSyntaxReference?.GetSyntax(_ct).GetLocation();
            var (op, inFeatures, outFeatures, options) = ReadLayer(attribute, path, prefix, depth, report: true, Sibling);
            if (op.NeedsSequence && _sequence <= 1)
                Report(DiagnosticCatalog.LayerArgument, attributeLocation, path, "the model's Sequence", "> 1 for a sequence layer", _sequence);

            var spec = new LayerSpec(path, op.Name, inFeatures, outFeatures, options) { Block = block, Depth = depth, InitGain = op.TakesBlockInitGain ? beta : 0 };
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

    // ---- helpers ------------------------------------------------------------------------------

    /// <summary>
    /// Adds a node, or returns the existing node that computes the same value: the same layer (or op) with the
    /// same options on the same inputs. So a loss that calls Forward(x) and also Head(Features(x)) computes
    /// Features(x) once; a Dropout applied twice to one value reuses its mask, as two nodes of one Dropout layer
    /// already would in a step. The input and the losses are never shared (<see cref="Op.Shares"/>).
    /// </summary>
    internal int AddNode(string op, int[] inputs, string layer, OpOptions? options, Location? location)
    {
        NodeKey? key = OpRegistry.Get(op).Shares ? new NodeKey(op, string.Join(",", inputs.Select(i => i.ToString(CultureInfo.InvariantCulture))), layer, options) : null;
        if (key is not null && _nodeKeys.TryGetValue(key, out int existing)) return existing;
        if (!RoomForOperation(location)) return -1;
        int id = _nodes.Count;
        if (key is not null) _nodeKeys[key] = id;
        _nodes.Add(new NodeSpec(id, op, inputs.ToEquatableArray(), layer, options));
        _locations.AddNode(location);
        return id;
    }

    /// <summary>What makes two nodes compute the same value.</summary>
    private sealed record NodeKey(string Op, string Inputs, string Layer, OpOptions? Options);

    internal void Report(DiagnosticDescriptor descriptor, Location? location, params object?[] args) =>
        _diagnostics.Add(new DiagnosticInfo(descriptor, location, args));

    internal double? Constant(ExpressionSyntax expression, SemanticModel model)
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

    private static AttributeData? RecomputeAttributeOf(ISymbol symbol) =>
        symbol.GetAttributes().FirstOrDefault(a => a.AttributeClass?.ToDisplayString() == RecomputeAttributeName);

    private static bool HasAttribute(ISymbol symbol, string fullName) =>
        symbol.GetAttributes().Any(a => a.AttributeClass?.ToDisplayString() == fullName);

    private static bool IsType(ITypeSymbol type, string fullName) => type.ToDisplayString() == fullName;

    /// <summary>The attribute's named int argument, or <paramref name="fallback"/> (shared with the analyzers).</summary>
    internal static int NamedInt(AttributeData a, string name, int fallback) =>
        a.NamedArguments.FirstOrDefault(kv => kv.Key == name).Value.Value is int i ? i : fallback;

    internal static bool NamedBool(AttributeData a, string name, bool fallback) =>
        a.NamedArguments.FirstOrDefault(kv => kv.Key == name).Value.Value is bool b ? b : fallback;

    internal static double NamedDouble(AttributeData a, string name, double fallback) =>
        a.NamedArguments.FirstOrDefault(kv => kv.Key == name).Value.Value switch
        {
            double d => d,
            int i => i,
            _ => fallback,
        };

    internal Location? NamedArgumentLocation(AttributeData attribute, string name)
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

    internal static string Describe(SyntaxNode node)
    {
        string text = node.ToString().Replace('\n', ' ').Replace('\r', ' ');
        return text.Length > 60 ? text.Substring(0, 57) + "..." : text;
    }

    private static string Format(double value) => value.ToString("R", CultureInfo.InvariantCulture);
}
