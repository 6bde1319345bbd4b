using System.Collections.Generic;
using System.Linq;
using Dsl.Generators.Diagnostics;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace Dsl.Generators.Parsing;

/// <summary>
/// The source locations a parse saw, by the names the symbol-free stages use: layer attributes and their
/// named arguments, the [Model] attribute's arguments, each graph node's expression, and anything else the
/// parser recorded. Shape inference and the rules report <see cref="Site"/>s; this turns them into
/// locations for the analyzers. Only the parser writes it.
/// </summary>
internal sealed class LocationMap
{
    private readonly Dictionary<string, (Location? Attribute, Dictionary<string, Location> Arguments)> _layers = new(System.StringComparer.Ordinal);
    private readonly Dictionary<string, Location> _modelArguments = new(System.StringComparer.Ordinal);
    private readonly List<Location?> _nodes = new();
    private readonly List<Location?> _recorded = new();
    private readonly Dictionary<(int Node, string Around), InvocationExpressionSyntax> _calls = new();
    private Location? _model;

    /// <summary>Records the [Model] attribute and its named arguments.</summary>
    public void SetModel(Location? attribute, Dictionary<string, Location> arguments)
    {
        _model = attribute;
        foreach (var entry in arguments) _modelArguments[entry.Key] = entry.Value;
    }

    /// <summary>Records a layer's attribute and its named arguments.</summary>
    public void AddLayer(string path, Location? attribute, Dictionary<string, Location> arguments) => _layers[path] = (attribute, arguments);

    /// <summary>Records node <c>id = count so far</c>'s expression.</summary>
    public void AddNode(Location? location) => _nodes.Add(location);

    /// <summary>Node <paramref name="node"/>'s expression, or null.</summary>
    public Location? Node(int node) => node >= 0 && node < _nodes.Count ? _nodes[node] : null;

    /// <summary>Records the call that made <paramref name="node"/> (<paramref name="around"/> "") or one that wraps it
    /// ("Flood", "MultiTask"), for <see cref="Site.CallArgument"/>.</summary>
    public void RecordCall(int node, string around, InvocationExpressionSyntax call) => _calls[(node, around)] = call;

    /// <summary>Records a location; <see cref="Site.Recorded"/> of the result names it.</summary>
    public int Record(Location? location)
    {
        _recorded.Add(location);
        return _recorded.Count - 1;
    }

    /// <summary>The location <paramref name="site"/> names, or null.</summary>
    public Location? Resolve(Site site) => site.Kind switch
    {
        SiteKind.LayerArgument => !_layers.TryGetValue(site.Name, out var layer) ? null
            : site.Argument is { Length: > 0 } argument && layer.Arguments.TryGetValue(argument, out var at) ? at
            : layer.Attribute,
        SiteKind.ModelArgument => site.Argument is { } name && _modelArguments.TryGetValue(name, out var argumentAt) ? argumentAt : _model,
        SiteKind.Node => Node(site.Index),
        SiteKind.CallArgument => CallArgument(site),
        SiteKind.Recorded => site.Index >= 0 && site.Index < _recorded.Count ? _recorded[site.Index] : null,
        _ => null,
    };

    /// <summary>The findings as diagnostics; with <paramref name="once"/>, one per id and location (layers of a
    /// [Repeat] stack share their declaration).</summary>
    public IEnumerable<DiagnosticInfo> Resolve(IEnumerable<Finding> findings, bool once)
    {
        var reported = new HashSet<(string Id, Location? Location)>();
        foreach (var finding in findings)
        {
            var location = Resolve(finding.Site);
            if (once && !reported.Add((finding.Descriptor.Id, location))) continue;
            yield return new DiagnosticInfo(finding.Descriptor, location, finding.Arguments);
        }
    }

    /// <summary>Element, else argument, else call, else the node's expression.</summary>
    private Location? CallArgument(Site site)
    {
        var node = Node(site.Index);
        // The recorded call, else (for a node's own call) the innermost call at the node's expression.
        var call = _calls.TryGetValue((site.Index, site.Name), out var recorded) ? recorded : site.Name.Length == 0 ? Invocation(node) : null;
        var argument = Argument(call, site.Argument, site.Position);
        return (site.Element >= 0 ? Element(argument, site.Element) : null) ?? argument?.GetLocation() ?? call?.GetLocation() ?? node;
    }

    /// <summary>The innermost call at <paramref name="location"/>.</summary>
    private static InvocationExpressionSyntax? Invocation(Location? location)
    {
        if (location?.SourceTree is not { } tree || !location.IsInSource) return null;
        var root = tree.GetRoot();
        if (!root.FullSpan.Contains(location.SourceSpan)) return null;
        return root.FindNode(location.SourceSpan, getInnermostNodeForTie: true).AncestorsAndSelf().OfType<InvocationExpressionSyntax>().FirstOrDefault();
    }

    /// <summary>The argument of <paramref name="call"/> bound to <paramref name="parameter"/>: by name, else at
    /// <paramref name="position"/> when not named; a null <paramref name="parameter"/> takes whatever is at the position.</summary>
    private static ArgumentSyntax? Argument(InvocationExpressionSyntax? call, string? parameter, int position)
    {
        if (call is null || position < 0) return null;
        var arguments = call.ArgumentList.Arguments;
        if (parameter is null) return position < arguments.Count ? arguments[position] : null;
        var named = arguments.FirstOrDefault(a => a.NameColon?.Name.Identifier.ValueText == parameter);
        if (named is not null) return named;
        return position < arguments.Count && arguments[position].NameColon is null ? arguments[position] : null;
    }

    /// <summary>Element <paramref name="index"/> of a constant array argument, or null.</summary>
    private static Location? Element(ArgumentSyntax? argument, int index)
    {
        IReadOnlyList<SyntaxNode>? items = argument?.Expression switch
        {
            ImplicitArrayCreationExpressionSyntax a => a.Initializer.Expressions.Cast<SyntaxNode>().ToList(),
            ArrayCreationExpressionSyntax { Initializer: { } init } => init.Expressions.Cast<SyntaxNode>().ToList(),
            CollectionExpressionSyntax c => c.Elements.Cast<SyntaxNode>().ToList(),
            _ => null,
        };
        return items is not null && index < items.Count ? items[index].GetLocation() : null;
    }
}
