using System.Collections.Generic;
using System.Linq;
using static Dsl.Generators.Emit.Literals;

namespace Dsl.Generators.Emit;

// The model's side of the non-finite guard (Dsl.Runtime.NonFiniteGuard): TrainStep's guarded update, and
// the replay that names the first bad value when the guard stops training.
internal static partial class ModelEmitter
{
    /// <summary>The statement (two lines, in a template's method body) that replaces a plain <c>_engine.ApplyOptimizer(optimizer);</c> in a TrainStep.</summary>
    private static string GuardedUpdate(string model, string arguments) =>
        $"if (Guard.Record(_engine.TryApplyOptimizer(optimizer, loss, Guard.Enabled), loss, optimizer.LastGradientNorm))\n" +
        $"        throw Guard.Failure({String(model)}, DiagnoseNonFinite(batch, {arguments}));";

    private static void GuardProperty(CodeWriter w)
    {
        w.Line("/// <summary>The non-finite guard of <c>TrainStep</c> (on by default): a step whose loss or gradient is NaN or ∞ is");
        w.Line("/// skipped, parameters and optimizer state unchanged; <c>MaxConsecutiveSkips</c> in a row stop training with an");
        w.Line("/// exception naming the first bad input row, parameter, layer output or gradient.</summary>");
        w.Line("public global::Dsl.Runtime.NonFiniteGuard Guard { get; } = new();");
        w.Line();
    }

    /// <summary>The replay of the last staged batch through the checking pass: the batch's inputs and float
    /// <paramref name="floatTargets"/> (name, variable, values per row), the parameters, then every step in order.</summary>
    private static void DiagnoseMethod(CodeWriter w, string parameters, string arguments, IEnumerable<(string Name, string Variable, string Width)> floatTargets)
    {
        w.Line("/// <summary>After the guard stopped training: replays the staged batch, checking each step's output in order.</summary>");
        using (w.Block($"private global::Dsl.Runtime.NonFiniteFinding? DiagnoseNonFinite(int batch, {parameters})"))
        {
            w.Line("var check = _engine.BeginCheck(batch);");
            foreach (var (name, variable, width) in floatTargets)
                w.Line($"check.Rows<float>(\"target\", {String(name)}, {variable}, {width});");
            w.Line("_engine.CheckParameters();");
            w.Line("try");
            w.Line("{");
            w.Line($"    _engine.TrainingPass(batch, {arguments});");
            w.Line("}");
            w.Line("finally");
            w.Line("{");
            w.Line("    _engine.EndCheck();");
            w.Line("}");
            w.Line();
            w.Line("return check.Finding;");
        }

        w.Line();
    }
}
