using Microsoft.CodeAnalysis;

namespace Dsl.Generators.Diagnostics;

/// <summary>A user mistake found by the front end, as a value. The analyzers turn these into
/// diagnostics; the generator asks whether there were any, and reports the few the analyzers cannot
/// (<see cref="ReportedByGenerator"/>).</summary>
internal sealed record DiagnosticInfo(DiagnosticDescriptor Descriptor, Location? Location, object?[] Arguments)
{
    /// <summary>
    /// The compiler also reports a declaration error for this mistake (a partial member in a type that is
    /// not partial, a partial method returning a value without an accessibility modifier, a body-less
    /// method that is not partial). A command-line build stops at declaration errors before it runs
    /// analyzers, so the generator reports these itself; everything else the generator makes compile
    /// (throwing stubs with the declared signatures), so that the analyzers run and report it.
    /// </summary>
    public bool ReportedByGenerator { get; init; }

    public Diagnostic ToDiagnostic() => Diagnostic.Create(Descriptor, Location, Arguments);
}
