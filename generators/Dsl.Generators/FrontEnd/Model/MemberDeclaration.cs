namespace Dsl.Generators.Model;

/// <summary>
/// A partial member the DSL implements (a layer method or a module property), as the user declared
/// it: enough to print an implementing declaration with exactly the same signature. An invalid model
/// or module gets throwing implementations of these, so that the only errors a build reports are the
/// DSL's diagnostics (a missing implementation part is a declaration error, which stops a
/// command-line build before it runs the analyzers).
/// </summary>
/// <param name="Name">The member's name.</param>
/// <param name="Modifiers">Its modifiers as written, without <c>partial</c> (e.g. "public", "internal static").</param>
/// <param name="Type">The return or property type, fully qualified, with "ref "/"ref readonly " for a by-reference return.</param>
/// <param name="IsProperty">A property (else a method).</param>
/// <param name="TypeParameters">A generic method's "&lt;T, U&gt;", else empty.</param>
/// <param name="Parameters">Each parameter as "ref global::Dsl.Tensor x" (modifiers, type, name; no defaults).</param>
/// <param name="Constraints">"where T : struct" clauses of a generic method.</param>
/// <param name="Accessors">A property's accessors ("get", "set", "init"), in order.</param>
internal sealed record MemberDeclaration(string Name, string Modifiers, string Type, bool IsProperty, string TypeParameters,
    EquatableArray<string> Parameters, EquatableArray<string> Constraints, EquatableArray<string> Accessors);
