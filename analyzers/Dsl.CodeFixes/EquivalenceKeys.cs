namespace Dsl.CodeFixes;

/// <summary>Code-action equivalence keys: actions with the same key are applied together by Fix All.
/// Keys name the kind of edit and the arguments, never the values (each diagnostic brings its own).</summary>
internal static class EquivalenceKeys
{
    public static string SetArgument(string id, string arguments) => "Dsl.SetArgument." + id + "." + arguments;
    public static string RemoveArgument(string id, string argument) => "Dsl.RemoveArgument." + id + "." + argument;
    public const string MakeTypePartial = "Dsl.MakeTypePartial";
    public const string MakeMethodPartial = "Dsl.MakeMethodPartial";
    public const string RemoveStatic = "Dsl.RemoveStatic";
    public const string AddCrossEntropyLoss = "Dsl.AddLoss.SoftmaxCrossEntropy";
    public const string AddMeanSquaredErrorLoss = "Dsl.AddLoss.MeanSquaredError";
}
