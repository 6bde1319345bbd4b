using Microsoft.CodeAnalysis;

namespace Dsl.Generators.Diagnostics;

/// <summary>A user mistake found by the front end, as a value. Only analyzers turn these into
/// diagnostics; the generator only asks whether there were any.</summary>
internal sealed record DiagnosticInfo(DiagnosticDescriptor Descriptor, Location? Location, object?[] Arguments)
{
    public Diagnostic ToDiagnostic() => Diagnostic.Create(Descriptor, Location, Arguments);
}
