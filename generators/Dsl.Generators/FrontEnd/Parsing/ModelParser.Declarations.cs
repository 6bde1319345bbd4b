using System.Collections.Generic;
using System.Linq;
using Dsl.Generators.Diagnostics;
using Dsl.Generators.Model;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace Dsl.Generators.Parsing;

// Declaration checks of [Model] and [Module] types and of the partial members the DSL implements,
// and the declared signatures (MemberDeclaration) the generator mirrors in its implementations.
//
// A command-line build stops at the compiler's declaration errors before it runs analyzers: a partial
// member without an implementation part (CS8795, CS9248), a partial member in a type that is not
// partial (CS0751). So every partial member the DSL owns gets an implementation with exactly its
// declared signature, valid or not (a throwing stub when the model or member is invalid), and the
// analyzers then report the mistake; where the compiler's error cannot be avoided, the diagnostic is
// marked ReportedByGenerator and the generator reports it itself.
internal sealed partial class ModelParser
{
    private static readonly SymbolDisplayFormat s_typeFormat = SymbolDisplayFormat.FullyQualifiedFormat
        .AddMiscellaneousOptions(SymbolDisplayMiscellaneousOptions.IncludeNullableReferenceTypeModifier);

    private bool _usesUnbuildableModule;

    /// <summary>Whether the generator can add its part to <paramref name="type"/> (see <see cref="CheckTypeDeclaration"/>).
    /// A model using a module it cannot complete (no binding constructor) is invalid: the module's own
    /// diagnostic says why, and the model gets stubs.</summary>
    private bool CanComplete(INamedTypeSymbol type) => IsPartial(type) && type.TypeParameters.Length == 0 && !type.IsStatic;

    private bool IsPartial(INamedTypeSymbol type) =>
        type.DeclaringSyntaxReferences.Any(r => r.GetSyntax(_ct) is TypeDeclarationSyntax t && t.Modifiers.Any(SyntaxKind.PartialKeyword));

    /// <summary>Checks the type itself: partial (DSL101), a non-generic, non-static class (DSL110). False when
    /// the generator cannot add to it at all.</summary>
    private bool CheckTypeDeclaration(INamedTypeSymbol type, string attribute)
    {
        bool isPartial = IsPartial(type);
        // Partial members in a type the generator cannot complete are compiler declaration errors (CS0751, CS8795).
        bool compilerErrs = HasPartialMembers(type);
        if (!isPartial)
        {
            ReportDeclaration(DiagnosticCatalog.ModelNotPartial, type.Locations.FirstOrDefault(), compilerErrs, type.Name, attribute);
            return false;
        }

        string? problem = type.TypeParameters.Length > 0 ? "it is generic; declare it as a non-generic partial class"
            : type.IsStatic ? "it is static; the model's parameters live in each instance"
            : null;
        if (problem is null) return true;
        ReportDeclaration(DiagnosticCatalog.UnsupportedDeclaration, type.Locations.FirstOrDefault(), compilerErrs, $"[{attribute}] type '{type.Name}'", problem);
        return false;
    }

    /// <summary>Reports a declaration mistake; <paramref name="byGenerator"/>: the compiler also has a declaration
    /// error there (see <see cref="DiagnosticInfo.ReportedByGenerator"/>).</summary>
    private void ReportDeclaration(DiagnosticDescriptor descriptor, Location? location, bool byGenerator, params object?[] args) =>
        _diagnostics.Add(new DiagnosticInfo(descriptor, location, args) { ReportedByGenerator = byGenerator });

    private static bool HasPartialMembers(INamedTypeSymbol type) => type.GetMembers().Any(m => m switch
    {
        IMethodSymbol method => method.IsPartialDefinition || method.PartialDefinitionPart is not null,
        IPropertySymbol property => property.IsPartialDefinition || property.PartialDefinitionPart is not null,
        _ => false,
    });

    /// <summary>Whether a layer member's problem is also a compiler declaration error: a partial method that
    /// returns a value without an accessibility modifier (CS8794), or a body-less method that is not partial (CS0501).</summary>
    private bool LayerProblemIsCompilerError(IMethodSymbol method)
    {
        if (method.IsPartialDefinition) return !method.ReturnsVoid && !HasAccessibilityModifier(method);
        return method.PartialDefinitionPart is null && !method.IsAbstract && !method.IsExtern &&
            method.DeclaringSyntaxReferences.Select(r => r.GetSyntax(_ct)).OfType<MethodDeclarationSyntax>().Any(m => m.Body is null && m.ExpressionBody is null);
    }

    private bool HasAccessibilityModifier(ISymbol member) => member.DeclaringSyntaxReferences.Select(r => r.GetSyntax(_ct)).OfType<MemberDeclarationSyntax>()
        .Any(m => m.Modifiers.Any(t => t.Kind() is SyntaxKind.PublicKeyword or SyntaxKind.PrivateKeyword or SyntaxKind.ProtectedKeyword or SyntaxKind.InternalKeyword));

    /// <summary>Why a module property cannot be implemented as declared (DSL110), or null. The generator
    /// implements it as a get-only instance property returning the module instance(s).</summary>
    private static string? ModulePropertyProblem(IPropertySymbol property)
    {
        if (HasUserImplementation(property.PartialImplementationPart)) return "it already has an implementation; the generator writes it";
        if (!property.IsPartialDefinition) return $"it is not declared partial (declare it as 'public partial {property.Type.ToDisplayString(SymbolDisplayFormat.MinimallyQualifiedFormat)} {property.Name} {{ get; }}')";
        if (property.IsStatic) return "it is static; each model instance has its own blocks";
        if (property.IsIndexer) return "it is an indexer";
        if (property.ReturnsByRef || property.ReturnsByRefReadonly) return "it returns by reference";
        if (property.SetMethod is { } setter) return $"it has {(setter.IsInitOnly ? "an init" : "a set")} accessor; the generator supplies the blocks, so it has only 'get'";
        if (property.IsVirtual || property.IsOverride || property.IsAbstract) return "it is virtual, abstract or an override; the generated engine would not see an override";
        return null;
    }

    /// <summary>The partial members the DSL implements in <paramref name="type"/> (layer methods, module
    /// properties), as declared: the signatures its implementations mirror. Members the compiler rejects
    /// whatever they are implemented with (no accessibility on a non-void partial method, error types)
    /// have none.</summary>
    private List<MemberDeclaration> OwnedDeclarations(INamedTypeSymbol type)
    {
        var result = new List<MemberDeclaration>();
        foreach (var member in type.GetMembers())
        {
            _ct.ThrowIfCancellationRequested();
            switch (member)
            {
                case IMethodSymbol method when LayerAttributeOf(method) is not null && method.IsPartialDefinition && !HasUserImplementation(method.PartialImplementationPart) &&
                    HasAccessibilityModifier(method) && !HasErrorType(method):
                    result.Add(new MemberDeclaration(method.Name, Modifiers(method), ReturnType(method), false, TypeParameters(method),
                        method.Parameters.Select(Parameter).ToEquatableArray(), method.TypeParameters.Select(Constraint).Where(c => c.Length > 0).ToEquatableArray(),
                        EquatableArray<string>.Empty));
                    break;
                case IPropertySymbol property when IsModuleProperty(property) && property.IsPartialDefinition && !HasUserImplementation(property.PartialImplementationPart) &&
                    !property.IsIndexer && !HasErrorType(property.Type):
                    result.Add(new MemberDeclaration(property.Name, Modifiers(property), (property.ReturnsByRefReadonly ? "ref readonly " : property.ReturnsByRef ? "ref " : "") +
                        property.Type.ToDisplayString(s_typeFormat), true, "", EquatableArray<string>.Empty, EquatableArray<string>.Empty, Accessors(property)));
                    break;
            }
        }

        return result;
    }

    /// <summary>Whether a partial member's implementation part is the user's own (the analyzers see the
    /// generator's output in the compilation; that one does not count).</summary>
    private static bool HasUserImplementation(ISymbol? implementation) =>
        implementation is not null && implementation.DeclaringSyntaxReferences.Any(r => !IsGeneratedByUs(r.SyntaxTree));

    /// <summary>A file this generator added ("…/Dsl.Generators.ModelGenerator/&lt;hint&gt;.g.cs").</summary>
    internal static bool IsGeneratedByUs(SyntaxTree tree) =>
        tree.FilePath.Replace('\\', '/').Contains("Dsl.Generators.ModelGenerator/");

    /// <summary>A module property: of a [Module] type, or an array of one.</summary>
    internal static bool IsModuleProperty(IPropertySymbol property) =>
        IsModuleType(property.Type) || property.Type is IArrayTypeSymbol { Rank: 1, ElementType: var element } && IsModuleType(element);

    private string Modifiers(ISymbol member)
    {
        var syntax = member.DeclaringSyntaxReferences.Select(r => r.GetSyntax(_ct)).OfType<MemberDeclarationSyntax>().FirstOrDefault();
        return syntax is null ? "" : string.Join(" ", syntax.Modifiers.Where(t => !t.IsKind(SyntaxKind.PartialKeyword)).Select(t => t.ValueText));
    }

    private IEnumerable<string> AccessorTexts(IPropertySymbol property) =>
        property.DeclaringSyntaxReferences.Select(r => r.GetSyntax(_ct)).OfType<PropertyDeclarationSyntax>().FirstOrDefault()?.AccessorList?.Accessors
            .Select(a => string.Join(" ", a.Modifiers.Select(t => t.ValueText).Append(a.Keyword.ValueText)))
        ?? Enumerable.Empty<string>();

    private EquatableArray<string> Accessors(IPropertySymbol property)
    {
        var accessors = AccessorTexts(property).ToList();
        return (accessors.Count > 0 ? accessors : new List<string> { "get" }).ToEquatableArray();
    }

    private static string ReturnType(IMethodSymbol method) =>
        (method.ReturnsByRefReadonly ? "ref readonly " : method.ReturnsByRef ? "ref " : "") + method.ReturnType.ToDisplayString(s_typeFormat);

    private static string TypeParameters(IMethodSymbol method) =>
        method.TypeParameters.Length == 0 ? "" : "<" + string.Join(", ", method.TypeParameters.Select(t => Identifier(t.Name))) + ">";

    private static string Parameter(IParameterSymbol p)
    {
        string modifiers = (p.ScopedKind == ScopedKind.ScopedRef ? "scoped " : "") + p.RefKind switch
        {
            RefKind.Ref => "ref ",
            RefKind.Out => "out ",
            RefKind.In => "in ",
            RefKind.RefReadOnlyParameter => "ref readonly ",
            _ => "",
        } + (p.IsParams ? "params " : "");
        return modifiers + p.Type.ToDisplayString(s_typeFormat) + " " + Identifier(p.Name);
    }

    private static string Constraint(ITypeParameterSymbol t)
    {
        var parts = new List<string>();
        if (t.HasUnmanagedTypeConstraint) parts.Add("unmanaged");
        else if (t.HasValueTypeConstraint) parts.Add("struct");
        else if (t.HasReferenceTypeConstraint) parts.Add(t.ReferenceTypeConstraintNullableAnnotation == NullableAnnotation.Annotated ? "class?" : "class");
        else if (t.HasNotNullConstraint) parts.Add("notnull");
        parts.AddRange(t.ConstraintTypes.Select(c => c.ToDisplayString(s_typeFormat)));
        if (t.HasConstructorConstraint) parts.Add("new()");
        if (t.AllowsRefLikeType) parts.Add("allows ref struct");
        return parts.Count == 0 ? "" : $"where {Identifier(t.Name)} : {string.Join(", ", parts)}";
    }

    private static string Identifier(string name) => SyntaxFacts.GetKeywordKind(name) != SyntaxKind.None ? "@" + name : name;

    private static bool HasErrorType(IMethodSymbol method) =>
        HasErrorType(method.ReturnType) || method.Parameters.Any(p => HasErrorType(p.Type)) ||
        method.TypeParameters.Any(t => t.ConstraintTypes.Any(HasErrorType));

    private static bool HasErrorType(ITypeSymbol type) => type switch
    {
        IErrorTypeSymbol => true,
        IArrayTypeSymbol array => HasErrorType(array.ElementType),
        IPointerTypeSymbol pointer => HasErrorType(pointer.PointedAtType),
        INamedTypeSymbol named => named.TypeArguments.Any(HasErrorType),
        _ => false,
    };
}
