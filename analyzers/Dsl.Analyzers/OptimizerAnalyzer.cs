using System.Collections.Immutable;
using System.Globalization;
using System.Linq;
using Dsl.Generators.Diagnostics;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;

namespace Dsl.Analyzers;

/// <summary>
/// The optimizer rules of SEEDS.md §2 ("Optimizers": NNS026 Lion, NNS027 L2 under Adam, NNS028 ChildTuning) on optimizers
/// created in user code, where the model declaration cannot see them: <c>new Lion(...)</c>,
/// <c>new ChildTuningF(...)</c>, <c>new ChildTuningD(...)</c> and <c>new AdamW(...)</c>, positional, named or target-typed.
/// Only arguments written as constants are checked (a computed value is the user's to know); an
/// omitted argument takes the constructor's default, which is valid.
/// DSL316 (Error): a value the constructor rejects at run time. DSL315 (Warning): a Lion learning
/// rate above AdamW's default 1e-3 / 3, with a fix that divides it by 10 (Su, [K-9473]). DSL317
/// (Warning, NNS027): <c>new AdamW(l2: λ₂)</c> with λ₂ &gt; 0, an L2 penalty under an adaptive optimizer ([K-7681]).
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class OptimizerAnalyzer : DiagnosticAnalyzer
{
    /// <summary>AdamW's default learning rate in Dsl.Optimizers (and PyTorch's), the reference the Lion rule compares to.</summary>
    internal const double AdamWLearningRate = 1e-3;

    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics { get; } =
        ImmutableArray.Create(DiagnosticCatalog.LionLearningRate, DiagnosticCatalog.OptimizerArgument, DiagnosticCatalog.AdaptiveL2);

    public override void Initialize(AnalysisContext context)
    {
        context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
        context.EnableConcurrentExecution();
        context.RegisterCompilationStartAction(start =>
        {
            var lion = start.Compilation.GetTypeByMetadataName("Dsl.Optimizers.Lion");
            var childF = start.Compilation.GetTypeByMetadataName("Dsl.Optimizers.ChildTuningF");
            var childD = start.Compilation.GetTypeByMetadataName("Dsl.Optimizers.ChildTuningD");
            var adamW = start.Compilation.GetTypeByMetadataName("Dsl.Optimizers.AdamW");
            if (lion is null) return; // Dsl is not referenced
            start.RegisterOperationAction(c =>
            {
                var creation = (IObjectCreationOperation)c.Operation;
                var type = creation.Type;
                if (SymbolEqualityComparer.Default.Equals(type, lion)) Lion(c, creation);
                else if (SymbolEqualityComparer.Default.Equals(type, childF) || SymbolEqualityComparer.Default.Equals(type, childD)) ChildTuning(c, creation, type!.Name);
                else if (SymbolEqualityComparer.Default.Equals(type, adamW)) AdamW(c, creation);
            }, OperationKind.ObjectCreation);
        });
    }

    private static void Lion(OperationAnalysisContext context, IObjectCreationOperation creation)
    {
        bool invalid = false;
        void Check(string parameter, System.Func<double, bool> valid, string range, string why)
        {
            if (Constant(creation, parameter) is not (double value, var argument) || valid(value)) return;
            invalid = true;
            context.ReportDiagnostic(Diagnostic.Create(DiagnosticCatalog.OptimizerArgument, argument.Syntax.GetLocation(),
                "new Lion", parameter, Show(value), range, why));
        }

        Check("learningRate", v => v > 0 && !double.IsInfinity(v), "positive and finite", "the step is lr·sign(c), so lr ≤ 0 climbs the loss or stands still");
        Check("beta1", v => v >= 0 && v < 1, "in [0, 1)", "β1 weighs the momentum in the interpolation c = β1·m + (1 − β1)·g, which must lean on both; the paper uses 0.9 (0.95 for NLP)");
        Check("beta2", v => v >= 0 && v < 1, "in [0, 1)", "the momentum m = β2·m + (1 − β2)·g forgets nothing at β2 = 1 and diverges above it; the paper uses 0.99 (0.98 for NLP)");
        Check("weightDecay", v => v >= 0 && !double.IsInfinity(v), "non-negative and finite", "decoupled decay θ ← θ(1 − lr·λ) grows the weights when λ < 0");
        if (invalid || Constant(creation, "learningRate") is not (double lr, var lrArgument)) return;

        const double limit = AdamWLearningRate / 3;
        if (!(lr > limit * (1 + 1e-9))) return;
        double decay = Constant(creation, "weightDecay")?.Value ?? DefaultOf(creation, "weightDecay") ?? double.NaN;
        string fixedValue = (lr / 10).ToString("G15", CultureInfo.InvariantCulture);
        var properties = FixProperties.SetArgument("learningRate", fixedValue)!
            .Add(DiagnosticCatalog.TitleProperty, $"Set learningRate = {fixedValue} (10× smaller)");
        context.ReportDiagnostic(Diagnostic.Create(DiagnosticCatalog.LionLearningRate, lrArgument.Syntax.GetLocation(), properties,
            Show(lr), Show(AdamWLearningRate), Show(limit), double.IsNaN(decay) ? "?" : Show(decay), fixedValue));
    }

    private static void AdamW(OperationAnalysisContext context, IObjectCreationOperation creation)
    {
        // An invalid l2 (negative, non-finite) is the constructor's to reject; this is the valid-but-unadvised case.
        if (Constant(creation, "l2") is not (double l2, var argument) || !(l2 > 0) || double.IsInfinity(l2)) return;
        double decay = Constant(creation, "weightDecay")?.Value ?? DefaultOf(creation, "weightDecay") ?? double.NaN;
        context.ReportDiagnostic(Diagnostic.Create(DiagnosticCatalog.AdaptiveL2, argument.Syntax.GetLocation(),
            Show(l2), double.IsNaN(decay) ? "?" : Show(decay)));
    }

    private static void ChildTuning(OperationAnalysisContext context, IObjectCreationOperation creation, string name)
    {
        if (Constant(creation, "p") is not (double p, var argument) || (p > 0 && p <= 1)) return;
        context.ReportDiagnostic(Diagnostic.Create(DiagnosticCatalog.OptimizerArgument, argument.Syntax.GetLocation(),
            "new " + name, "p", Show(p), "in (0, 1]",
            "p is the fraction of gradient entries kept, and the kept ones are scaled by 1/p; ChildTuning's examples use 0.2–0.3, and p = 1 keeps every entry"));
    }

    /// <summary>The constant value of the argument written for <paramref name="parameter"/>, or null
    /// when it is omitted (the default) or not a compile-time constant.</summary>
    private static (double Value, IArgumentOperation Argument)? Constant(IObjectCreationOperation creation, string parameter)
    {
        var argument = creation.Arguments.FirstOrDefault(a => a.Parameter?.Name == parameter);
        if (argument is null || argument.ArgumentKind == ArgumentKind.DefaultValue) return null;
        var constant = argument.Value.ConstantValue;
        if (!constant.HasValue) return null;
        return constant.Value switch
        {
            double d => (d, argument),
            float f => (f, argument),
            int i => (i, argument),
            long l => (l, argument),
            _ => null,
        };
    }

    private static double? DefaultOf(IObjectCreationOperation creation, string parameter) =>
        creation.Constructor?.Parameters.FirstOrDefault(p => p.Name == parameter) is { HasExplicitDefaultValue: true, ExplicitDefaultValue: double d } ? d : null;

    private static string Show(double value) => value.ToString("G6", CultureInfo.InvariantCulture);
}
