using System.Collections.Generic;
using System.Collections.Immutable;
using System.Globalization;
using System.Linq;
using Dsl.Generators.Diagnostics;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Text;
using static Microsoft.CodeAnalysis.CSharp.SyntaxFactory;

namespace Dsl.CodeFixes;

/// <summary>
/// Syntax edits of attribute and call arguments, driven by a diagnostic's properties (the contract at
/// the end of <see cref="DiagnosticCatalog"/>): "Argument"/"Value" (and "Argument2"/"Value2", ...)
/// set arguments, "Remove" deletes one. A fixer for a new rule needs no code of its own here.
/// </summary>
internal static class ArgumentEdits
{
    /// <summary>The (argument, value) pairs the properties ask for, in order; empty when none.</summary>
    public static IReadOnlyList<(string Argument, string Value)> Assignments(ImmutableDictionary<string, string?> properties)
    {
        var result = new List<(string, string)>();
        for (int n = 1; ; n++)
        {
            string suffix = n == 1 ? "" : n.ToString(CultureInfo.InvariantCulture);
            if (!properties.TryGetValue(DiagnosticCatalog.ArgumentProperty + suffix, out var argument) || argument is null ||
                !properties.TryGetValue(DiagnosticCatalog.ValueProperty + suffix, out var value) || value is null)
                return result;
            result.Add((argument, value));
        }
    }

    /// <summary>
    /// Sets the arguments on what the diagnostic at <paramref name="span"/> is on: a call argument or a
    /// positional attribute argument gets the (first) value as its new expression; otherwise each
    /// named argument of the enclosing attribute is replaced, or appended when absent.
    /// </summary>
    public static SyntaxNode? Set(SyntaxNode root, TextSpan span, IReadOnlyList<(string Argument, string Value)> assignments)
    {
        if (assignments.Count == 0) return null;
        var node = root.FindNode(span, getInnermostNodeForTie: true);

        if (node.AncestorsAndSelf().OfType<ArgumentSyntax>().FirstOrDefault() is { } callArgument && assignments.Count == 1)
            return root.ReplaceNode(callArgument.Expression, Expression(assignments[0].Value, callArgument.Expression));

        var attribute = node.AncestorsAndSelf().OfType<AttributeSyntax>().FirstOrDefault();
        if (attribute is null) return null;
        if (node.AncestorsAndSelf().OfType<AttributeArgumentSyntax>().FirstOrDefault() is { NameEquals: null, NameColon: null } positional &&
            assignments.Count == 1)
            return root.ReplaceNode(positional.Expression, Expression(assignments[0].Value, positional.Expression));

        var arguments = attribute.ArgumentList?.Arguments ?? default;
        foreach (var (name, value) in assignments)
        {
            int index = IndexOf(arguments, name);
            if (index >= 0)
            {
                arguments = arguments.Replace(arguments[index], arguments[index].WithExpression(Expression(value, arguments[index].Expression)));
                continue;
            }

            var added = AttributeArgument(
                NameEquals(IdentifierName(name), Token(TriviaList(Space), SyntaxKind.EqualsToken, TriviaList(Space))),
                nameColon: null, ParseExpression(value));
            arguments = arguments.Count == 0
                ? SingletonSeparatedList(added)
                : SeparatedList(arguments.Append(added), Enumerable.Repeat(Token(SyntaxKind.CommaToken).WithTrailingTrivia(Space), arguments.Count));
        }

        var list = (attribute.ArgumentList ?? AttributeArgumentList()).WithArguments(arguments);
        return root.ReplaceNode(attribute, attribute.WithArgumentList(list));
    }

    /// <summary>Deletes the named attribute argument <paramref name="name"/> of the attribute at <paramref name="span"/>.</summary>
    public static SyntaxNode? Remove(SyntaxNode root, TextSpan span, string name)
    {
        var attribute = root.FindNode(span, getInnermostNodeForTie: true).AncestorsAndSelf().OfType<AttributeSyntax>().FirstOrDefault();
        if (attribute?.ArgumentList is not { } list) return null;
        int index = IndexOf(list.Arguments, name);
        if (index < 0) return null;
        var arguments = list.Arguments.RemoveAt(index);
        return root.ReplaceNode(attribute, arguments.Count == 0
            ? attribute.WithArgumentList(null).WithTrailingTrivia(attribute.GetTrailingTrivia())
            : attribute.WithArgumentList(list.WithArguments(arguments)));
    }

    private static int IndexOf(SeparatedSyntaxList<AttributeArgumentSyntax> arguments, string name)
    {
        for (int i = 0; i < arguments.Count; i++)
            if (arguments[i].NameEquals?.Name.Identifier.ValueText == name) return i;
        return -1;
    }

    private static ExpressionSyntax Expression(string text, SyntaxNode replaced) => ParseExpression(text).WithTriviaFrom(replaced);
}
