using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using Dsl.Generators.Model;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;

namespace Dsl.Generators.Diagnostics;

/// <summary>Where a diagnostic points, as a value (a pipeline value holds no Roslyn <see cref="Location"/>).</summary>
internal sealed record LocationValue(string Path, int Start, int Length, int StartLine, int StartCharacter, int EndLine, int EndCharacter)
{
    public static LocationValue? From(Location? location)
    {
        if (location is null || !location.IsInSource) return null;
        var span = location.GetLineSpan();
        return new LocationValue(span.Path, location.SourceSpan.Start, location.SourceSpan.Length,
            span.StartLinePosition.Line, span.StartLinePosition.Character, span.EndLinePosition.Line, span.EndLinePosition.Character);
    }

    /// <summary>In the syntax tree of <paramref name="compilation"/> at <see cref="Path"/> when it has one
    /// (fixes and #pragma then see it in source), else a file location with the same span.</summary>
    public Location ToLocation(Compilation? compilation)
    {
        var span = new TextSpan(Start, Length);
        var tree = compilation?.SyntaxTrees.FirstOrDefault(t => t.FilePath == Path);
        return tree is not null && span.End <= tree.Length ? Location.Create(tree, span)
            : Location.Create(Path, span, new LinePositionSpan(new LinePosition(StartLine, StartCharacter), new LinePosition(EndLine, EndCharacter)));
    }
}

/// <summary>A diagnostic the generator reports (<see cref="DiagnosticInfo.ReportedByGenerator"/>), as an
/// equatable value carried through the incremental pipeline: the id, the location and the formatted arguments.</summary>
internal sealed record DiagnosticValue(string Id, LocationValue? Location, EquatableArray<string> Arguments)
{
    private static readonly Dictionary<string, DiagnosticDescriptor> s_descriptors =
        DiagnosticCatalog.AnalyzerDescriptors.Append(DiagnosticCatalog.InternalError).ToDictionary(d => d.Id, StringComparer.Ordinal);

    public static DiagnosticValue From(DiagnosticInfo info) => new(info.Descriptor.Id, LocationValue.From(info.Location),
        info.Arguments.Select(a => Convert.ToString(a, CultureInfo.InvariantCulture) ?? "").ToEquatableArray());

    /// <summary>The generator-reported diagnostics among <paramref name="found"/>, in the order found.</summary>
    public static EquatableArray<DiagnosticValue> ForGenerator(IEnumerable<DiagnosticInfo> found) =>
        found.Where(d => d.ReportedByGenerator).Select(From).ToEquatableArray();

    public Diagnostic ToDiagnostic(Compilation? compilation) => Diagnostic.Create(s_descriptors[Id], Location?.ToLocation(compilation), Arguments.Cast<object?>().ToArray());
}
