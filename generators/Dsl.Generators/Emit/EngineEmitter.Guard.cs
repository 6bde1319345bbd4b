using System.Collections.Generic;
using System.Linq;
using Dsl.Generators.Model;
using Dsl.Generators.Ops;
using Dsl.Generators.Planning;
using static Dsl.Generators.Emit.Literals;

namespace Dsl.Generators.Emit;

// The engine's side of the non-finite guard (Dsl.Runtime.NonFiniteGuard): the guarded update, and the
// checking pass a detection replays the batch through. The pass is a table of what each schedule step
// writes plus one hook after each step (a null test while no check is attached), so the training step
// costs nothing extra; steps are numbered forward (without the loss steps), then the loss, then backward.
internal static partial class EngineEmitter
{
    private static bool IsLossStep(PlanStep s) => s is Ops.LossStep;

    /// <summary>Number of checked forward steps: the loss pseudo-step's index.</summary>
    private static int CheckedForwardSteps(ModelPlan plan) => plan.Forward.Count(s => !IsLossStep(s));

    /// <summary>The hook after a step: stops the schedule at the first non-finite output while a check is attached.</summary>
    private static void CheckHook(CodeWriter w, int index) => w.Line($"if (_check is not null && _check.Stop({Int(index)}, rows)) return;");

    private static void GuardMembers(CpuWriter c)
    {
        var w = c.Writer;
        var plan = c.Plan;
        w.Line();
        w.Line("private global::Dsl.Runtime.NonFiniteCheck<T>? _check;");
        w.Line("private global::Dsl.Distributed.IGradientHook? _hookDuringCheck;");
        w.Line();
        w.Line("/// <summary>What each schedule step writes (forward, the loss, backward), for the checking pass.</summary>");
        w.Line("private static readonly global::Dsl.Runtime.CheckedStep[] s_checkedSteps =");
        w.Line("{");
        foreach (string entry in CheckedSteps(c)) c.Line("    " + entry + ",");
        w.Line("};");
        w.Line();
        w.Lines($$"""
            /// <summary>The guarded update (<see cref="global::Dsl.Runtime.NonFiniteGuard"/>): false, with nothing written, when
            /// <paramref name="loss"/> or the gradients' global norm is not finite; <paramref name="guarded"/> false updates regardless.
            /// Data-parallel (a <see cref="GradientHook"/> attached), only the norm of the reduced gradients decides, which every
            /// rank sees alike, so the ranks skip together (a rank's own loss could differ).</summary>
            public bool TryApplyOptimizer(global::Dsl.Optimizers.Optimizer optimizer, double loss, bool guarded)
            {
                if (!guarded)
                {
                    ApplyOptimizer(optimizer);
                    return true;
                }

                if (optimizer.StateSlots > StateSlots)
                    throw new global::System.ArgumentException($"optimizer {optimizer.GetType().Name} needs {optimizer.StateSlots} state values per parameter; the arena reserves {StateSlots}", nameof(optimizer));
                bool applied = optimizer.TryStep<T>(Parameters, Gradients, global::System.MemoryExtensions.AsSpan(Arena, StateOffset, optimizer.StateSlots * ParameterRegion), s_tensors,
                    GradientHook is null ? loss : 0);
                Profile?.Lap(ProfileSteps.Length - 1);
                return applied;
            }

            /// <summary>Starts the checking pass on the staged batch of <paramref name="batch"/> examples: checks its inputs; until
            /// <see cref="EndCheck"/>, the schedules stop at the first step whose output is not finite. Only after a detection.
            /// The replay is this process's own: a <see cref="GradientHook"/> is detached meanwhile (no collective runs).</summary>
            public global::Dsl.Runtime.NonFiniteCheck<T> BeginCheck(int batch)
            {
                var check = new global::Dsl.Runtime.NonFiniteCheck<T>(Arena, s_checkedSteps);
                _hookDuringCheck = GradientHook;
                GradientHook = null;
            {{(plan.Model.TokenInput ? "" : "    check.Rows<T>(\"input\", \"inputs\", global::System.MemoryExtensions.AsSpan(Arena, InputOffset, batch * Sequence * InputFeatures), InputFeatures);\n")}}    _check = check;
                return check;
            }

            /// <summary>Checks the parameters for the attached check (after the batch: a bad input is the cause).</summary>
            public void CheckParameters() => _check?.Parameters(Parameters, s_tensors);

            /// <summary>Detaches the checking pass (and gives back the gradient hook).</summary>
            public void EndCheck()
            {
                _check = null;
                GradientHook = _hookDuringCheck;
                _hookDuringCheck = null;
            }
            """);
    }

    /// <summary>
    /// What each step writes, from the plan: a forward step writes its node's value, and the value of a node that has
    /// no step of its own where it is computed (an activation fused into the Dense before it; a residual add the
    /// norm after it computes); a backward step writes its node's inputs' gradients and the parameter gradients it
    /// declares (<see cref="PlanStep.GradientWrites"/>); the loss writes ∂loss/∂prediction.
    /// </summary>
    private static IEnumerable<string> CheckedSteps(CpuWriter c)
    {
        var plan = c.Plan;
        var model = plan.Model;
        // Regions are (offset, length) pairs: the offsets by name.
        string Regions(IEnumerable<int> regions) => string.Join(", ", regions.Select((x, i) => i % 2 == 0 ? c.At(x) : Int(x)));
        string Entry(string phase, string layer, string operation, IEnumerable<int> rowRegions, IEnumerable<int> fixedRegions) =>
            $"new(\"{phase}\", {String(layer)}, {String(operation)}, new int[] {{ {Regions(rowRegions)} }}, new int[] {{ {Regions(fixedRegions)} }})";
        string Where(PlanStep s) => s.Layer.Length > 0 ? s.Layer : OpRegistry.Get(model.Nodes[s.Node].Op).Label(model.Nodes[s.Node]);
        var layers = model.Layers.ToDictionary(l => l.Path, System.StringComparer.Ordinal);
        // The step's own node as the description comment says it ("Dense 784 → 1024 + bias"), with what it also computes.
        string Describe(int n) => model.Nodes[n].Layer is { Length: > 0 } path && layers.TryGetValue(path, out var layer)
            ? OpRegistry.Get(model.Nodes[n].Op).Describe(layer, model) : model.Nodes[n].Op;
        string Operation(PlanStep s, IEnumerable<int> nodes) =>
            string.Join(", ", new[] { Describe(s.Node) }.Concat(nodes.Where(n => n != s.Node).Select(n => "then " + model.Nodes[n].Op)));
        IEnumerable<int> Row(int node, IReadOnlyList<int> buffers) =>
            node >= 0 && buffers[node] >= 0 ? new[] { buffers[node], model.Widths[node] } : Enumerable.Empty<int>();

        var forward = plan.Forward.Where(s => !IsLossStep(s)).ToList();
        var stepOf = new Dictionary<int, int>();
        for (int i = 0; i < forward.Count; i++) stepOf[forward[i].Node] = i;
        var computed = forward.Select(s => new List<int> { s.Node }).ToList();
        foreach (var node in model.Nodes)
        {
            if (stepOf.ContainsKey(node.Id) || node.Inputs.Count == 0 || OpRegistry.Get(node.Op) is LossOp) continue;
            // Fused into the step of its input (an activation in a GEMM epilogue), else computed by the first consumer's.
            int? by = OpRegistry.Get(node.Op) is ActivationOp && stepOf.TryGetValue(node.Inputs[0], out int before) ? before
                : model.Nodes.Where(n => n.Inputs.Contains(node.Id) && stepOf.ContainsKey(n.Id)).Select(n => (int?)stepOf[n.Id]).FirstOrDefault();
            if (by is int k) computed[k].Add(node.Id);
        }

        for (int i = 0; i < forward.Count; i++)
            yield return Entry("forward", Where(forward[i]), Operation(forward[i], computed[i].OrderBy(n => n)),
                computed[i].OrderBy(n => n).SelectMany(n => Row(n, plan.Values)), Enumerable.Empty<int>());

        var loss = model.LossNodes.SelectMany(t => Row(model.Nodes[t.Node].Inputs[0], plan.Grads));
        yield return Entry("loss", "the loss", "∂loss/∂prediction", loss, Enumerable.Empty<int>());

        int replayed = 0; // forward steps of a [Recompute] segment still to come after its RecomputeStep
        foreach (var s in plan.Backward)
        {
            if (s is RecomputeStep recompute)
            {
                // The segment's forward again: the marker writes nothing; each copy writes what its forward step wrote.
                replayed = recompute.Steps;
                yield return Entry("backward", recompute.Block, "[Recompute] " + recompute.Block, Enumerable.Empty<int>(), Enumerable.Empty<int>());
                continue;
            }

            if (replayed > 0)
            {
                replayed--;
                var values = stepOf.TryGetValue(s.Node, out int k) ? computed[k].OrderBy(n => n) : (IEnumerable<int>)new[] { s.Node };
                yield return Entry("backward", Where(s), "recomputed: " + Operation(s, values), values.SelectMany(n => Row(n, plan.Values)), Enumerable.Empty<int>());
                continue;
            }

            if (s is ClearStep)
            {
                yield return Entry("backward", Where(s), "[Recompute] gradients cleared", Enumerable.Empty<int>(), Enumerable.Empty<int>());
                continue;
            }

            var inputs = model.Nodes[s.Node].Inputs.Distinct().SelectMany(i => Row(i, plan.Grads));
            var gradients = (s.GradientWrites(plan) ?? System.Array.Empty<(int, int)>()).SelectMany(g => new[] { g.Item1, g.Item2 });
            yield return Entry("backward", Where(s), Operation(s, new[] { s.Node }), inputs, gradients);
        }
    }
}
