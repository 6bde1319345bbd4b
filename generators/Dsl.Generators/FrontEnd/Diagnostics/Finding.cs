using Microsoft.CodeAnalysis;

namespace Dsl.Generators.Diagnostics;

/// <summary>What a <see cref="Site"/> names.</summary>
internal enum SiteKind
{
    /// <summary>Nowhere in particular (the diagnostic has no location).</summary>
    None,
    /// <summary>A named argument of a layer's attribute, or the attribute itself.</summary>
    LayerArgument,
    /// <summary>A named argument of the [Model] attribute, or the attribute itself.</summary>
    ModelArgument,
    /// <summary>The forward-pass expression of a graph node.</summary>
    Node,
    /// <summary>An argument of the call that made a graph node (or of the call around it), or an element of a
    /// constant array given there.</summary>
    CallArgument,
    /// <summary>A location the parser recorded and handed out by number.</summary>
    Recorded,
}

/// <summary>
/// Where a finding points, without Roslyn: a layer's attribute argument, a graph node, an argument of the
/// call that made a node. The parser's <c>LocationMap</c> turns it into a source location, so shape
/// inference and the rules see only the symbol-free model.
/// </summary>
/// <param name="Kind">What it names.</param>
/// <param name="Name">The layer path (<see cref="SiteKind.LayerArgument"/>) or the call around the node's call
/// (<see cref="SiteKind.CallArgument"/>: "" the node's own call, "Flood" or "MultiTask" the one that wraps it).</param>
/// <param name="Argument">The attribute argument, or the call's parameter ("" or absent: the attribute or call itself;
/// for a call, null text matches by position only).</param>
/// <param name="Index">The node id, or the recorded location's number.</param>
/// <param name="Position">The call argument's position when it is not passed by name.</param>
/// <param name="Element">An element of a constant array argument, or −1.</param>
internal readonly record struct Site(SiteKind Kind, string Name, string? Argument, int Index, int Position, int Element)
{
    /// <summary>No location.</summary>
    public static Site Nowhere => new(SiteKind.None, "", "", -1, -1, -1);

    /// <summary>The named argument <paramref name="argument"/> of layer <paramref name="path"/>'s attribute, or the
    /// attribute when it is absent (or <paramref name="argument"/> is empty).</summary>
    public static Site Layer(string path, string argument = "") => new(SiteKind.LayerArgument, path, argument, -1, -1, -1);

    /// <summary>The named argument <paramref name="argument"/> of the [Model] attribute, or the attribute.</summary>
    public static Site Model(string argument) => new(SiteKind.ModelArgument, "", argument, -1, -1, -1);

    /// <summary>The forward-pass expression of node <paramref name="node"/>.</summary>
    public static Site Node(int node) => new(SiteKind.Node, "", "", node, -1, -1);

    /// <summary>The argument bound to <paramref name="parameter"/> (by name, else at <paramref name="position"/>) of the
    /// call that made <paramref name="node"/>, or of the <paramref name="around"/> call that wraps it; element
    /// <paramref name="element"/> of its constant array when ≥ 0. Falls back to the call, then to the node.</summary>
    public static Site CallArgument(int node, string? parameter, int position, int element = -1, string around = "") =>
        new(SiteKind.CallArgument, around, parameter, node, position, element);

    /// <summary>A location the parser recorded (<c>LocationMap.Record</c>).</summary>
    public static Site Recorded(int handle) => new(SiteKind.Recorded, "", "", handle, -1, -1);
}

/// <summary>A user mistake or advice found by shape inference or a rule, as a value: the diagnostic, where it
/// points and its message arguments (a fix's value may ride as a trailing argument the message does not print).</summary>
internal sealed record Finding(DiagnosticDescriptor Descriptor, Site Site, object?[] Arguments);
