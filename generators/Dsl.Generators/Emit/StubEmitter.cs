using System.Linq;
using Dsl.Generators.Model;
using static Dsl.Generators.Emit.Literals;

namespace Dsl.Generators.Emit;

/// <summary>
/// Prints throwing implementations of partial members with exactly their declared signatures
/// (<see cref="MemberDeclaration"/>): an invalid model's layers and module properties, and a module's
/// members that are not valid layers. The declaration then compiles, so the build's only errors are
/// the DSL's diagnostics, and the message says what to fix if the stub is called anyway.
/// </summary>
internal static class StubEmitter
{
    public static void Emit(CodeWriter w, MemberDeclaration member, string message)
    {
        string modifiers = member.Modifiers.Length > 0 ? member.Modifiers + " " : "";
        string fail = $"throw new global::System.InvalidOperationException({String(message)});";
        if (member.IsProperty)
        {
            w.Line($"{modifiers}partial {member.Type} {member.Name}");
            w.Line("{");
            foreach (string accessor in member.Accessors) w.Line($"    {accessor} {{ {fail} }}");
            w.Line("}");
        }
        else
        {
            w.Line($"{modifiers}partial {member.Type} {member.Name}{member.TypeParameters}({string.Join(", ", member.Parameters)})");
            foreach (string constraint in member.Constraints) w.Line("    " + constraint);
            w.Line("{");
            w.Line("    " + fail);
            w.Line("}");
        }

        w.Line();
    }

    /// <summary>The stubs of <paramref name="declarations"/> whose names are not in <paramref name="implemented"/>.</summary>
    public static void EmitMissing(CodeWriter w, EquatableArray<MemberDeclaration> declarations, System.Collections.Generic.IEnumerable<string> implemented, string message)
    {
        var done = new System.Collections.Generic.HashSet<string>(implemented, System.StringComparer.Ordinal);
        foreach (var member in declarations.Where(d => !done.Contains(d.Name))) Emit(w, member, message);
    }
}
