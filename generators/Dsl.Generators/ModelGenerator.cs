using System;
using System.Threading;
using Dsl.Generators.Diagnostics;
using Dsl.Generators.Emit;
using Dsl.Generators.Model;
using Dsl.Generators.Parsing;
using Dsl.Generators.Planning;
using Microsoft.CodeAnalysis;

namespace Dsl.Generators;

/// <summary>
/// The incremental generator. Per [Model] class: the front end (parse, infer shapes, check: the
/// symbol-free <see cref="ModelSpec"/>, step "Models"), plan (step "Plans"), emit. Per [Module] class: emit the
/// eager member bodies (step "Modules"). User mistakes are the analyzers' to report; here an
/// invalid model gets compile-safe stubs with the declared signatures, so that a build reaches the
/// analyzers. The generator reports only the mistakes that leave a compiler declaration error
/// whatever it emits (a build stops at those before running analyzers; see
/// <see cref="DiagnosticInfo.ReportedByGenerator"/>), and an internal error, caught at the emit
/// boundary, so the generator never throws (no CS8785).
/// </summary>
[Generator(LanguageNames.CSharp)]
public sealed class ModelGenerator : IIncrementalGenerator
{
    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        var models = context.SyntaxProvider
            .ForAttributeWithMetadataName(
                ModelParser.ModelAttributeName,
                static (node, _) => node is Microsoft.CodeAnalysis.CSharp.Syntax.ClassDeclarationSyntax,
                static (ctx, ct) => ParseModel(ctx, ct))
            .WithTrackingName(TrackingNames.Models);

        var plans = models
            .Select(static (result, ct) => PlanModel(result, ct))
            .WithTrackingName(TrackingNames.Plans);

        context.RegisterSourceOutput(plans, static (spc, result) => EmitModel(spc, result));

        var modules = context.SyntaxProvider
            .ForAttributeWithMetadataName(
                ModelParser.ModuleAttributeName,
                static (node, _) => node is Microsoft.CodeAnalysis.CSharp.Syntax.ClassDeclarationSyntax,
                static (ctx, ct) => ParseModule(ctx, ct))
            .WithTrackingName(TrackingNames.Modules);

        context.RegisterSourceOutput(modules, static (spc, result) => EmitModule(spc, result));

        // The few mistakes the generator reports itself. Only types that have one are combined with the
        // compilation (to point at the user's syntax tree, so fixes and #pragma see them in source): valid
        // models never reach this step, and stay cached on every edit.
        var reported = models.Select(static (r, _) => r.Reported).Where(static r => r.Count > 0).Combine(context.CompilationProvider)
            .WithTrackingName(TrackingNames.ModelDiagnostics);
        context.RegisterSourceOutput(reported, static (spc, pair) => Report(spc, pair.Left, pair.Right));
        var moduleReported = modules.Select(static (r, _) => r.Reported).Where(static r => r.Count > 0).Combine(context.CompilationProvider)
            .WithTrackingName(TrackingNames.ModuleDiagnostics);
        context.RegisterSourceOutput(moduleReported, static (spc, pair) => Report(spc, pair.Left, pair.Right));
    }

    private static void Report(SourceProductionContext spc, EquatableArray<DiagnosticValue> diagnostics, Compilation compilation)
    {
        foreach (var diagnostic in diagnostics) spc.ReportDiagnostic(diagnostic.ToDiagnostic(compilation));
    }

    /// <summary>A pipeline value: the spec, or the text of an internal failure (never a Roslyn object), and the
    /// diagnostics the generator reports itself.</summary>
    internal sealed record ModelResult(ModelSpec? Spec, string HintName, string Failure, EquatableArray<DiagnosticValue> Reported);

    /// <summary>The planned model.</summary>
    internal sealed record PlanResult(ModelSpec? Spec, ModelPlan? Plan, string HintName, string Failure, EquatableArray<DiagnosticValue> Reported);

    /// <summary>A module's spec.</summary>
    internal sealed record ModuleResult(ModuleSpec? Spec, string HintName, string Failure, EquatableArray<DiagnosticValue> Reported);

    private static ModelResult ParseModel(GeneratorAttributeSyntaxContext ctx, CancellationToken ct)
    {
        var type = (INamedTypeSymbol)ctx.TargetSymbol;
        string hint = HintName(type);
        try
        {
            var result = ModelFrontEnd.Model(type, ctx.SemanticModel.Compilation, ct);
            return new ModelResult(result.Spec, hint, "", DiagnosticValue.ForGenerator(result.Diagnostics));
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return new ModelResult(null, hint, e.GetType().Name + ": " + e.Message, EquatableArray<DiagnosticValue>.Empty);
        }
    }

    private static PlanResult PlanModel(ModelResult result, CancellationToken ct)
    {
        if (result.Spec is not { IsValid: true } spec) return new PlanResult(result.Spec, null, result.HintName, result.Failure, result.Reported);
        try
        {
            // A plan whose arena is too large is DSL210 (the analyzer reports it): stubs, like any invalid model.
            var plan = Planner.Create(spec);
            return new PlanResult(spec, plan.FitsArena ? plan : null, result.HintName, "", result.Reported);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return new PlanResult(spec, null, result.HintName, e.GetType().Name + ": " + e.Message, result.Reported);
        }
    }

    private static void EmitModel(SourceProductionContext spc, PlanResult result)
    {
        if (result.Spec is null)
        {
            // Not partial, or an internal failure: nothing can be added to the type.
            if (result.Failure.Length > 0) spc.ReportDiagnostic(Diagnostic.Create(DiagnosticCatalog.InternalError, null, result.HintName, result.Failure));
            return;
        }

        string text;
        try
        {
            if (result.Failure.Length > 0)
                spc.ReportDiagnostic(Diagnostic.Create(DiagnosticCatalog.InternalError, null, result.HintName, result.Failure));
            text = ModelEmitter.Emit(result.Spec, result.Plan);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            spc.ReportDiagnostic(Diagnostic.Create(DiagnosticCatalog.InternalError, null, result.HintName, e.GetType().Name + ": " + e.Message));
            text = ModelEmitter.Emit(result.Spec, null);
        }

        spc.AddSource(result.HintName + ".g.cs", text);
        if (result.Plan is not null) EmitCuda(spc, result);
    }

    /// <summary>The CUDA form of a valid model, in its own file (see <c>Emit/Cuda</c>); a failure there is an
    /// internal-error diagnostic and leaves the CPU model intact.</summary>
    private static void EmitCuda(SourceProductionContext spc, PlanResult result)
    {
        string text;
        try
        {
            text = Emit.Cuda.CudaModelEmitter.Emit(result.Plan!);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            spc.ReportDiagnostic(Diagnostic.Create(DiagnosticCatalog.InternalError, null, result.HintName + " (CUDA)", e.GetType().Name + ": " + e.Message));
            return;
        }

        spc.AddSource(result.HintName + ".Cuda.g.cs", text);
    }

    private static ModuleResult ParseModule(GeneratorAttributeSyntaxContext ctx, CancellationToken ct)
    {
        var type = (INamedTypeSymbol)ctx.TargetSymbol;
        string hint = HintName(type);
        try
        {
            var (spec, diagnostics) = ModelParser.ParseModule(type, ctx.SemanticModel.Compilation, ct);
            return new ModuleResult(spec, hint, "", DiagnosticValue.ForGenerator(diagnostics));
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return new ModuleResult(null, hint, e.GetType().Name + ": " + e.Message, EquatableArray<DiagnosticValue>.Empty);
        }
    }

    private static void EmitModule(SourceProductionContext spc, ModuleResult result)
    {
        if (result.Failure.Length > 0)
            spc.ReportDiagnostic(Diagnostic.Create(DiagnosticCatalog.InternalError, null, result.HintName, result.Failure));
        if (result.Spec is null) return;
        try
        {
            spc.AddSource(result.HintName + ".g.cs", ModuleEmitter.Emit(result.Spec));
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            spc.ReportDiagnostic(Diagnostic.Create(DiagnosticCatalog.InternalError, null, result.HintName, e.GetType().Name + ": " + e.Message));
        }
    }

    /// <summary>Hint names from the fully qualified type name: unique and stable.</summary>
    private static string HintName(INamedTypeSymbol type) =>
        type.ToDisplayString(SymbolDisplayFormat.FullyQualifiedFormat).Replace("global::", "").Replace('<', '[').Replace('>', ']');
}
