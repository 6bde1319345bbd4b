using System.Globalization;

namespace Dsl.Generators.Emit;

/// <summary>Every number in generated code goes through here: invariant culture, round-trip
/// precision, explicit suffixes, and NaN/∞/−0 spelled out (a culture with a comma decimal
/// separator or U+2212 minus must not change the output).</summary>
internal static class Literals
{
    public static string Int(int value) => value.ToString(CultureInfo.InvariantCulture);

    public static string Long(long value) => value.ToString(CultureInfo.InvariantCulture) + "L";

    public static string Double(double value)
    {
        if (double.IsNaN(value)) return "double.NaN";
        if (double.IsPositiveInfinity(value)) return "double.PositiveInfinity";
        if (double.IsNegativeInfinity(value)) return "double.NegativeInfinity";
        if (value == 0 && 1 / value < 0) return "-0d";
        return value.ToString("R", CultureInfo.InvariantCulture) + "d";
    }

    public static string Float(float value)
    {
        if (float.IsNaN(value)) return "float.NaN";
        if (float.IsPositiveInfinity(value)) return "float.PositiveInfinity";
        if (float.IsNegativeInfinity(value)) return "float.NegativeInfinity";
        if (value == 0 && 1 / value < 0) return "-0f";
        return value.ToString("R", CultureInfo.InvariantCulture) + "f";
    }

    /// <summary>A constant of the generic element type T.</summary>
    public static string OfT(double value) => $"T.CreateTruncating({Double(value)})";

    public static string Bool(bool value) => value ? "true" : "false";

    /// <summary>A C# string literal.</summary>
    public static string String(string value)
    {
        var sb = new System.Text.StringBuilder("\"");
        foreach (char c in value)
        {
            switch (c)
            {
                case '\\': sb.Append("\\\\"); break;
                case '"': sb.Append("\\\""); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                default:
                    if (c < 0x20) sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else sb.Append(c);
                    break;
            }
        }

        return sb.Append('"').ToString();
    }
}

/// <summary>The same rules for CUDA C text: a float constant always has a decimal point or an
/// exponent before its <c>f</c> (C reads <c>3f</c> as an error), NaN and ∞ are the source prelude's
/// <c>DSL_NAN</c> and <c>DSL_INF</c> (spelled per compiler there), and 64-bit constants carry <c>ULL</c>.</summary>
internal static class CudaLiterals
{
    public static string Int(int value) => Literals.Int(value);

    /// <summary>A float constant (the value rounded to float first, as T.CreateTruncating would).</summary>
    public static string Float(double value)
    {
        float f = (float)value;
        if (float.IsNaN(f)) return "DSL_NAN";
        if (float.IsPositiveInfinity(f)) return "DSL_INF";
        if (float.IsNegativeInfinity(f)) return "(-DSL_INF)";
        if (f == 0 && 1 / f < 0) return "-0.0f";
        string text = f.ToString("R", CultureInfo.InvariantCulture);
        if (text.IndexOfAny(new[] { '.', 'E', 'e' }) < 0) text += ".0";
        return text + "f";
    }

    /// <summary>A double constant (finite values only: round-trip text with a decimal point or an exponent).</summary>
    public static string Double(double value)
    {
        string text = value.ToString("R", CultureInfo.InvariantCulture);
        if (text.IndexOfAny(new[] { '.', 'E', 'e' }) < 0) text += ".0";
        return text;
    }

    public static string ULong(ulong value) => value.ToString(CultureInfo.InvariantCulture) + "ULL";
}
