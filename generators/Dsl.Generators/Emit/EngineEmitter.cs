using System.Linq;
using Dsl.Generators.Model;
using Dsl.Generators.Planning;
using static Dsl.Generators.Emit.Literals;

namespace Dsl.Generators.Emit;

/// <summary>
/// Prints a model's <c>Engine&lt;T&gt;</c>: the arena, the fused forward schedule and the backward
/// schedule of the plan, each layer's backward commented with the forward formula it
/// differentiates. Generic over T so the same code trains in float and is gradient-checked in double.
/// </summary>
internal static class EngineEmitter
{
    private const string Kernels = "global::Dsl.Kernels";

    public static void Emit(CodeWriter w, ModelPlan plan)
    {
        var model = plan.Model;
        w.Line("/// <summary>");
        w.Line($"/// The compiled form of <see cref=\"{model.Type.Name}\"/>: one arena holding parameters, gradients,");
        w.Line("/// optimizer state and activations at offsets fixed at generation time, and the fused forward");
        w.Line("/// and backward schedules over it. <typeparamref name=\"T\"/> is float for training and double for");
        w.Line("/// gradient checks. Not thread-safe: one step at a time.");
        w.Line("/// </summary>");
        using (w.Block("public sealed class Engine<T> where T : unmanaged, global::System.Numerics.IFloatingPointIeee754<T>"))
        {
            Constants(w, plan);
            Members(w, plan);
            Initialization(w, plan);
            Forward(w, plan);
            if (model.LossNode >= 0)
            {
                Loss(w, plan);
                Backward(w, plan);
            }
        }
    }

    private static void Constants(CodeWriter w, ModelPlan plan)
    {
        var model = plan.Model;
        w.Line("/// <summary>Largest batch a step accepts.</summary>");
        w.Line($"public const int MaxBatch = {Int(model.MaxBatch)};");
        w.Line("/// <summary>Features per input row.</summary>");
        w.Line($"public const int InputFeatures = {Int(model.InputWidth)};");
        w.Line("/// <summary>Features per output row.</summary>");
        w.Line($"public const int OutputFeatures = {Int(plan.OutputWidth)};");
        w.Line("/// <summary>Number of trainable parameters.</summary>");
        w.Line($"public const int ParameterCount = {Int(plan.ParameterCount)};");
        w.Line("/// <summary>Length of the parameter region (tensors aligned to 16 elements); gradients follow it.</summary>");
        w.Line($"public const int ParameterRegion = {Int(plan.ParameterRegion)};");
        w.Line("/// <summary>Where the gradient region starts.</summary>");
        w.Line($"public const int GradientOffset = {Int(plan.GradientOffset)};");
        w.Line("/// <summary>Where the optimizer state starts.</summary>");
        w.Line($"public const int StateOffset = {Int(plan.StateOffset)};");
        w.Line("/// <summary>Optimizer state values reserved per parameter.</summary>");
        w.Line($"public const int StateSlots = {Int(plan.StateSlots)};");
        w.Line("/// <summary>Where the input rows are staged.</summary>");
        w.Line($"public const int InputOffset = {Int(plan.InputOffset)};");
        w.Line("/// <summary>Where the forward's result lies.</summary>");
        w.Line($"public const int OutputOffset = {Int(plan.OutputOffset)};");
        w.Line("/// <summary>Total arena length in elements.</summary>");
        w.Line($"public const int ArenaLength = {Int(plan.ArenaLength)};");
        w.Line();
        w.Line("private static readonly global::Dsl.Optimizers.ParameterTensor[] s_tensors =");
        w.Line("{");
        foreach (var p in plan.Parameters)
            w.Line($"    new({String(p.Name)}, {Int(p.Offset)}, {Int(p.Rows * p.Columns)}, {Bool(p.IsMatrix)}),");
        w.Line("};");
        w.Line();
        w.Line("private static readonly int[][] s_shapes =");
        w.Line("{");
        foreach (var p in plan.Parameters)
            w.Line(p.IsMatrix ? $"    new[] {{ {Int(p.Rows)}, {Int(p.Columns)} }}," : $"    new[] {{ {Int(p.Columns)} }},");
        w.Line("};");
        w.Line();
    }

    private static void Members(CodeWriter w, ModelPlan plan)
    {
        w.Lines("""
            /// <summary>The arena: parameters | gradients | optimizer state | activations.</summary>
            public readonly T[] Arena;

            /// <summary>Seed of the initialisation and of the dropout masks.</summary>
            public ulong Seed { get; private set; }

            /// <summary>Selects the dropout masks: steps with the same value draw the same masks.</summary>
            public ulong DropoutStep { get; set; }

            /// <summary>Creates the arena and initialises the parameters from <paramref name="seed"/>.</summary>
            public Engine(ulong seed)
            {
                Arena = global::System.GC.AllocateArray<T>(ArenaLength, pinned: true);
                Initialize(seed);
            }

            /// <summary>The parameter tensors: names, offsets, lengths.</summary>
            public static global::System.ReadOnlySpan<global::Dsl.Optimizers.ParameterTensor> Tensors => s_tensors;

            /// <summary>The shape of each parameter tensor, in the order of <see cref="Tensors"/>.</summary>
            public static global::System.ReadOnlySpan<int[]> Shapes => s_shapes;

            /// <summary>The parameter region.</summary>
            public global::System.Span<T> Parameters => global::System.MemoryExtensions.AsSpan(Arena, 0, ParameterRegion);

            /// <summary>The gradient region (same layout as <see cref="Parameters"/>).</summary>
            public global::System.Span<T> Gradients => global::System.MemoryExtensions.AsSpan(Arena, GradientOffset, ParameterRegion);

            /// <summary>The optimizer state region.</summary>
            public global::System.Span<T> OptimizerState => global::System.MemoryExtensions.AsSpan(Arena, StateOffset, StateSlots * ParameterRegion);

            /// <summary>The input staging buffer (MaxBatch × InputFeatures).</summary>
            public global::System.Span<T> Input => global::System.MemoryExtensions.AsSpan(Arena, InputOffset, MaxBatch * InputFeatures);

            /// <summary>The forward's result for the last batch (MaxBatch × OutputFeatures).</summary>
            public global::System.Span<T> Output => global::System.MemoryExtensions.AsSpan(Arena, OutputOffset, MaxBatch * OutputFeatures);

            /// <summary>One optimizer update from the gradients of the last <c>TrainingPass</c>.</summary>
            public void ApplyOptimizer(global::Dsl.Optimizers.Optimizer optimizer)
            {
                if (optimizer.StateSlots > StateSlots)
                    throw new global::System.ArgumentException($"optimizer {optimizer.GetType().Name} needs {optimizer.StateSlots} state values per parameter; the arena reserves {StateSlots}", nameof(optimizer));
                optimizer.Step<T>(Parameters, Gradients, global::System.MemoryExtensions.AsSpan(Arena, StateOffset, optimizer.StateSlots * ParameterRegion), s_tensors);
            }

            """);
    }

    private static void Initialization(CodeWriter w, ModelPlan plan)
    {
        w.Line("/// <summary>Re-initialises every parameter from <paramref name=\"seed\"/> (weights U(−bound, bound) with");
        w.Line("/// bound = gain·√(3/fan_in), gain √2 before ReLU-like units; biases 0) and clears gradients and optimizer state.</summary>");
        using (w.Block("public void Initialize(ulong seed)"))
        {
            w.Line("Seed = seed;");
            w.Line("global::System.Array.Clear(Arena);");
            w.Line("var random = new global::Dsl.Runtime.SeededRandom(seed);");
            foreach (var p in plan.Parameters)
            {
                if (p.Init != InitKind.Uniform) continue;
                w.Line($"// {p.Name} [{Int(p.Rows)}, {Int(p.Columns)}]: U(±{Double(p.Bound)})");
                using (w.Block($"for (int i = 0; i < {Int(p.Rows * p.Columns)}; i++)"))
                    w.Line($"Arena[{Int(p.Offset)} + i] = T.CreateTruncating((random.NextDouble() * 2 - 1) * {Double(p.Bound)});");
            }
        }

        w.Line();
    }

    private static void Forward(CodeWriter w, ModelPlan plan)
    {
        w.Line("/// <summary>Runs the forward pass on the first <paramref name=\"batch\"/> rows of <see cref=\"Input\"/>;");
        w.Line("/// the result lands in <see cref=\"Output\"/>. <paramref name=\"training\"/> turns dropout on.</summary>");
        using (w.Block("public void Forward(int batch, bool training)"))
        {
            w.Line("var a = Arena;");
            w.Line("_ = a;");
            foreach (var s in plan.Forward)
            {
                if (s.Kind is StepKind.SoftmaxCrossEntropy or StepKind.MeanSquaredError) continue;
                ForwardStep(w, s);
            }
        }

        w.Line();
    }

    private static void ForwardStep(CodeWriter w, PlanStep s)
    {
        string n = $"batch * {Int(s.Out)}";
        switch (s.Kind)
        {
            case StepKind.DenseForward:
            {
                string act = s.Activation == ActivationKind.None ? "" : $"{ActivationName(s.Activation)}(";
                w.Line($"// {s.Layer}: Dense {Int(s.In)} → {Int(s.Out)}{(s.B >= 0 ? " with bias" : "")}{(s.Activation != ActivationKind.None ? $", {s.Activation} fused in the GEMM epilogue" : "")}");
                w.Line($"//   y[batch, {Int(s.Out)}] = {act}x[batch, {Int(s.In)}] · W[{Int(s.Out)}, {Int(s.In)}]ᵀ{(s.B >= 0 ? " + b" : "")}{(act.Length > 0 ? ")" : "")}{(s.Z >= 0 ? $"   (z kept at {Int(s.Z)} for the backward)" : "")}");
                string epilogue = s.Activation != ActivationKind.None
                    ? $"new {Kernels}.BiasActivationEpilogue<T, {ActivationType(s.Activation)}>(a, {Int(s.B)}, {ActivationValue(s.Activation, s.Scalar)}, {Int(s.Z)}, {Int(s.Out)})"
                    : s.B >= 0 ? $"new {Kernels}.BiasEpilogue<T>(a, {Int(s.B)})" : $"new {Kernels}.NoEpilogue<T>()";
                w.Line($"{Kernels}.Gemm.Multiply(a, {Int(s.X)}, {Int(s.In)}, false, a, {Int(s.W)}, {Int(s.In)}, true, a, {Int(s.Y)}, {Int(s.Out)},");
                w.Line($"    batch, {Int(s.Out)}, {Int(s.In)}, false, {epilogue});");
                break;
            }
            case StepKind.ActivationForward:
                w.Line($"// {Name(s)}: y = {s.Activation}(x)");
                w.Line($"{Kernels}.Activation.Forward<T, {ActivationType(s.Activation)}>({ActivationValue(s.Activation, s.Scalar)}, {Span(s.X, n)}, {Span(s.Y, n)});");
                break;
            case StepKind.DropoutForward:
                w.Line($"// {s.Layer}: dropout p = {Double(s.Scalar)} in training, identity otherwise");
                w.Line($"if (training) {Kernels}.Dropout.Forward<T>({Span(s.X, n)}, {Span(s.Y, n)}, {Double(s.Scalar)}, Seed, DropoutStream({Int(s.Stream)}));");
                w.Line($"else {Span(s.X, n)}.CopyTo({Span(s.Y, n)});");
                break;
            case StepKind.AddForward:
                w.Line($"// residual: y = x₁ + x₂");
                w.Line($"{Kernels}.Elementwise.Add<T>({Span(s.X, n)}, {Span(s.X2, n)}, {Span(s.Y, n)});");
                break;
            case StepKind.ScaleForward:
                w.Line($"// y = {Double(s.Scalar)} · x");
                w.Line($"{Kernels}.Elementwise.Scale<T>({Span(s.X, n)}, {OfT(s.Scalar)}, {Span(s.Y, n)});");
                break;
        }
    }

    private static void Loss(CodeWriter w, ModelPlan plan)
    {
        var loss = plan.Forward.First(s => s.Kind is StepKind.SoftmaxCrossEntropy or StepKind.MeanSquaredError);
        bool labels = loss.Kind == StepKind.SoftmaxCrossEntropy;
        string targetType = labels ? "global::System.ReadOnlySpan<int>" : "global::System.ReadOnlySpan<T>";
        string targetName = labels ? "labels" : "targets";
        string n = $"batch * {Int(loss.In)}";

        w.Line($"/// <summary>Forward, loss and backward on the first <paramref name=\"batch\"/> rows: returns the mean loss and");
        w.Line("/// leaves ∂loss/∂θ in <see cref=\"Gradients\"/> (overwritten, never accumulated across calls).</summary>");
        using (w.Block($"public double TrainingPass(int batch, {targetType} {targetName})"))
        {
            w.Line("Forward(batch, training: true);");
            w.Line("var a = Arena;");
            if (labels)
            {
                w.Line($"// loss = mean −log softmax(z)[label], fused with ∂loss/∂z = (softmax(z) − onehot)/batch");
                w.Line($"double loss = {Kernels}.SoftmaxCrossEntropy.ForwardBackward<T>({Span(loss.X, n)}, labels, batch, {Int(loss.In)}, {Span(loss.DX, n)}, T.One / T.CreateTruncating(batch));");
            }
            else
            {
                w.Line($"// loss = mean (p − t)², fused with ∂loss/∂p = 2(p − t)/n");
                w.Line($"double loss = {Kernels}.MeanSquaredError.ForwardBackward<T>({Span(loss.X, n)}, targets, {Span(loss.DX, n)}, T.One);");
            }

            w.Line("Backward(batch);");
            w.Line("return loss;");
        }

        w.Line();
        w.Line("/// <summary>The mean loss on the first <paramref name=\"batch\"/> rows, without dropout or gradients.</summary>");
        using (w.Block($"public double Loss(int batch, {targetType} {targetName})"))
        {
            w.Line("Forward(batch, training: false);");
            w.Line(labels
                ? $"return {Kernels}.SoftmaxCrossEntropy.Forward<T>({SpanA(loss.X, n)}, labels, batch, {Int(loss.In)});"
                : $"return {Kernels}.MeanSquaredError.Forward<T>({SpanA(loss.X, n)}, targets);");
        }

        w.Line();
        w.Line("private ulong DropoutStream(int layer) => unchecked((DropoutStep << 12) | (uint)layer);");
        w.Line();
    }

    private static void Backward(CodeWriter w, ModelPlan plan)
    {
        w.Line("/// <summary>The backward schedule: reverse order, each step's first write to a gradient overwrites it,");
        w.Line("/// later writes accumulate (so nothing is zeroed before a step).</summary>");
        using (w.Block("private void Backward(int batch)"))
        {
            w.Line("var a = Arena;");
            foreach (var s in plan.Backward) BackwardStep(w, s);
        }
    }

    private static void BackwardStep(CodeWriter w, PlanStep s)
    {
        string n = $"batch * {Int(s.Out)}";
        string op(bool accumulate) => accumulate ? "+=" : "=";
        switch (s.Kind)
        {
            case StepKind.DenseBackward:
            {
                w.Line($"// {s.Layer} backward — forward: y = {(s.Activation != ActivationKind.None ? $"{ActivationName(s.Activation)}(z), z = " : "")}x·Wᵀ{(s.B >= 0 ? " + b" : "")}");
                if (s.Activation != ActivationKind.None)
                {
                    w.Line($"//   ∂z = ∂y ⊙ {ActivationName(s.Activation)}′(z)   (in place)");
                    string x = s.Z >= 0 ? Span(s.Z, n) : "global::System.ReadOnlySpan<T>.Empty";
                    w.Line($"{Kernels}.Activation.Backward<T, {ActivationType(s.Activation)}>({ActivationValue(s.Activation, s.Scalar)}, {x}, {Span(s.Y, n)}, {Span(s.DY, n)}, {Span(s.DY, n)});");
                }

                w.Line($"//   ∂W {op(s.AccumulateParams)} ∂zᵀ·x");
                w.Line($"{Kernels}.Gemm.Multiply(a, {Int(s.DY)}, {Int(s.Out)}, true, a, {Int(s.X)}, {Int(s.In)}, false, a, {Int(s.GW)}, {Int(s.In)},");
                w.Line($"    {Int(s.Out)}, {Int(s.In)}, batch, {Bool(s.AccumulateParams)}, new {Kernels}.NoEpilogue<T>());");
                if (s.GB >= 0)
                {
                    w.Line($"//   ∂b {op(s.AccumulateParams)} Σ_rows ∂z");
                    w.Line($"{Kernels}.Elementwise.ColumnSums<T>({Span(s.DY, n)}, batch, {Int(s.Out)}, {Span(s.GB, Int(s.Out))}, {Bool(s.AccumulateParams)});");
                }

                if (s.DX >= 0)
                {
                    w.Line($"//   ∂x {op(s.AccumulateDX)} ∂z·W");
                    w.Line($"{Kernels}.Gemm.Multiply(a, {Int(s.DY)}, {Int(s.Out)}, false, a, {Int(s.W)}, {Int(s.In)}, false, a, {Int(s.DX)}, {Int(s.In)},");
                    w.Line($"    batch, {Int(s.In)}, {Int(s.Out)}, {Bool(s.AccumulateDX)}, new {Kernels}.NoEpilogue<T>());");
                }

                break;
            }
            case StepKind.ActivationBackward:
                w.Line($"// {Name(s)} backward — forward: y = {ActivationName(s.Activation)}(x); ∂x {op(s.AccumulateDX)} ∂y ⊙ {ActivationName(s.Activation)}′(x)");
                w.Line($"{Kernels}.Activation.Backward<T, {ActivationType(s.Activation)}>({ActivationValue(s.Activation, s.Scalar)}, {Span(s.X, n)}, {Span(s.Y, n)}, {Span(s.DY, n)}, {Span(s.AccumulateDX ? s.DY : s.DX, n)});");
                if (s.AccumulateDX) w.Line($"{Kernels}.Elementwise.AddInPlace<T>({Span(s.DX, n)}, {Span(s.DY, n)});");
                break;
            case StepKind.DropoutBackward:
                w.Line($"// {s.Layer} backward — forward: y = mask ⊙ x/(1 − p); ∂x {op(s.AccumulateDX)} mask ⊙ ∂y/(1 − p), same mask");
                w.Line($"{Kernels}.Dropout.Backward<T>({Span(s.DY, n)}, {Span(s.AccumulateDX ? s.DY : s.DX, n)}, {Double(s.Scalar)}, Seed, DropoutStream({Int(s.Stream)}));");
                if (s.AccumulateDX) w.Line($"{Kernels}.Elementwise.AddInPlace<T>({Span(s.DX, n)}, {Span(s.DY, n)});");
                break;
            case StepKind.ScaleBackward:
                w.Line($"// scale backward — forward: y = {Double(s.Scalar)}·x; ∂x {op(s.AccumulateDX)} {Double(s.Scalar)}·∂y");
                w.Line(s.AccumulateDX
                    ? $"{Kernels}.Elementwise.ScaleAdd<T>({Span(s.DY, n)}, {OfT(s.Scalar)}, {Span(s.DX, n)});"
                    : $"{Kernels}.Elementwise.Scale<T>({Span(s.DY, n)}, {OfT(s.Scalar)}, {Span(s.DX, n)});");
                break;
            case StepKind.AddBackward:
                w.Line("// residual backward — forward: y = x₁ + x₂; ∂x₁ and ∂x₂ receive ∂y");
                foreach (var (dx, accumulate) in new[] { (s.DX, s.AccumulateDX), (s.DX2, s.AccumulateDX2) })
                {
                    if (dx < 0) continue;
                    w.Line(accumulate
                        ? $"{Kernels}.Elementwise.AddInPlace<T>({Span(dx, n)}, {Span(s.DY, n)});"
                        : $"{Span(s.DY, n)}.CopyTo({Span(dx, n)});");
                }

                break;
        }
    }

    private static string Name(PlanStep s) => s.Layer.Length > 0 ? s.Layer : $"node {Int(s.Node)}";

    private static string Span(int offset, string length) => $"global::System.MemoryExtensions.AsSpan(a, {Int(offset)}, {length})";

    private static string SpanA(int offset, string length) => $"global::System.MemoryExtensions.AsSpan(Arena, {Int(offset)}, {length})";

    internal static string ActivationType(ActivationKind kind) => kind switch
    {
        ActivationKind.Relu => $"{Kernels}.Relu<T>",
        ActivationKind.GeluTanh => $"{Kernels}.GeluTanh<T>",
        ActivationKind.GeluErf => $"{Kernels}.GeluErf<T>",
        ActivationKind.Silu => $"{Kernels}.Silu<T>",
        ActivationKind.Softplus => $"{Kernels}.Softplus<T>",
        ActivationKind.SquarePlus => $"{Kernels}.SquarePlus<T>",
        ActivationKind.Tanh => $"{Kernels}.Tanh<T>",
        ActivationKind.Sigmoid => $"{Kernels}.Sigmoid<T>",
        _ => $"{Kernels}.Identity<T>",
    };

    internal static string ActivationValue(ActivationKind kind, double parameter) => kind == ActivationKind.SquarePlus
        ? $"new {ActivationType(kind)}({OfT(parameter)})"
        : $"default({ActivationType(kind)})";

    private static string ActivationName(ActivationKind kind) => kind switch
    {
        ActivationKind.Relu => "relu",
        ActivationKind.GeluTanh => "gelu",
        ActivationKind.GeluErf => "gelu_erf",
        ActivationKind.Silu => "silu",
        ActivationKind.Softplus => "softplus",
        ActivationKind.SquarePlus => "squareplus",
        ActivationKind.Tanh => "tanh",
        ActivationKind.Sigmoid => "σ",
        _ => "id",
    };
}
