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
internal static partial class EngineEmitter
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
        using (w.Block("public sealed class Engine<T> : global::Dsl.Distributed.IDataParallelEngine<T>, global::Dsl.Runtime.IEngine<T> where T : unmanaged, global::System.Numerics.IFloatingPointIeee754<T>"))
        {
            var dataParallel = DataParallelPlan.For(plan);
            Constants(w, plan);
            Members(w, plan);
            DataParallelMembers(w, dataParallel);
            InterfaceMembers(w, plan);
            Initialization(w, plan);
            Forward(w, plan);
            if (model.LossNode >= 0)
            {
                Loss(w, plan);
                Backward(w, plan, dataParallel);
                Adversarial(w, plan);
            }

            SpectralNormMembers(w, plan);
        }
    }

    private static void Constants(CodeWriter w, ModelPlan plan)
    {
        var model = plan.Model;
        w.Line("/// <summary>Largest batch a step accepts.</summary>");
        w.Line($"public const int MaxBatch = {Int(model.MaxBatch)};");
        w.Line("/// <summary>Rows (positions) per example; 1 without a sequence axis.</summary>");
        w.Line($"public const int Sequence = {Int(model.Sequence)};");
        w.Line("/// <summary>Largest number of rows a step holds: MaxBatch × Sequence.</summary>");
        w.Line($"public const int MaxRows = {Int(plan.Rows)};");
        w.Line(model.TokenInput ? "/// <summary>Values per input row: one token id.</summary>" : "/// <summary>Features per input row.</summary>");
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
        w.Line(model.TokenInput ? "/// <summary>−1: token ids are staged in <see cref=\"Tokens\"/>, not in the arena.</summary>" : "/// <summary>Where the input rows are staged.</summary>");
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
        if (plan.Model.TokenInput)
        {
            w.Line("/// <summary>The token ids of the current batch (MaxRows), read by the embedding.</summary>");
            w.Line("public readonly int[] Tokens = new int[MaxRows];");
            w.Line();
        }

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

            /// <summary>The forward's result for the last batch (MaxRows × OutputFeatures).</summary>
            public global::System.Span<T> Output => global::System.MemoryExtensions.AsSpan(Arena, OutputOffset, MaxRows * OutputFeatures);

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
        if (!plan.Model.TokenInput)
        {
            w.Line("/// <summary>The input staging buffer (MaxRows × InputFeatures).</summary>");
            w.Line("public global::System.Span<T> Input => global::System.MemoryExtensions.AsSpan(Arena, InputOffset, MaxRows * InputFeatures);");
            w.Line();
        }

        w.Line("/// <summary>Re-initialises every parameter from <paramref name=\"seed\"/> (as listed per tensor below; norm gains 1,");
        w.Line("/// biases 0), clears gradients and optimizer state, and fills the constant tables.</summary>");
        using (w.Block("public void Initialize(ulong seed)"))
        {
            w.Line("Seed = seed;");
            w.Line("global::System.Array.Clear(Arena);");
            w.Line("var random = new global::Dsl.Runtime.SeededRandom(seed);");
            foreach (var p in plan.Parameters)
            {
                string length = Int(p.Rows * p.Columns);
                switch (p.Init)
                {
                    case InitKind.Uniform:
                        w.Line($"// {p.Name} [{Int(p.Rows)}, {Int(p.Columns)}]: U(±{Double(p.Bound)})");
                        using (w.Block($"for (int i = 0; i < {length}; i++)"))
                            w.Line($"Arena[{Int(p.Offset)} + i] = T.CreateTruncating((random.NextDouble() * 2 - 1) * {Double(p.Bound)});");
                        break;
                    case InitKind.Normal:
                        w.Line($"// {p.Name} [{Int(p.Rows)}, {Int(p.Columns)}]: N(0, {Double(p.Bound)}²)");
                        using (w.Block($"for (int i = 0; i < {length}; i++)"))
                            w.Line($"Arena[{Int(p.Offset)} + i] = T.CreateTruncating(random.NextGaussian() * {Double(p.Bound)});");
                        break;
                    case InitKind.Ones:
                        w.Line($"global::System.MemoryExtensions.AsSpan(Arena, {Int(p.Offset)}, {length}).Fill(T.One); // {p.Name}: 1");
                        break;
                    case InitKind.Identity:
                        w.Line($"// {p.Name}: identity (the heads start unmixed)");
                        w.Line($"for (int i = 0; i < {Int(p.Rows)}; i++) Arena[{Int(p.Offset)} + i * {Int(p.Columns)} + i] = T.One;");
                        break;
                }
            }

            foreach (var s in plan.Forward.Where(s => s.Attention is { RopeTable: >= 0 }))
            {
                var ap = s.Attention!;
                string length = Int(Planner.RopeTableLength(plan.Model.Sequence, ap.Options.RotaryDim));
                w.Line($"{Kernels}.Rope.BuildTable<T>({SpanA(ap.RopeTable, length)}, Sequence, {Int(ap.Options.RotaryDim)}, {Double(ap.Options.RopeBase)}); // {s.Layer} RoPE");
            }

            SpectralNormInitialization(w, plan);
        }

        w.Line();
    }

    private static void Forward(CodeWriter w, ModelPlan plan)
    {
        string source = plan.Model.TokenInput ? "<see cref=\"Tokens\"/>" : "<see cref=\"Input\"/>";
        w.Line($"/// <summary>Runs the forward pass on the first <paramref name=\"batch\"/> examples (batch × Sequence rows) of {source};");
        w.Line("/// the result lands in <see cref=\"Output\"/>. <paramref name=\"training\"/> turns dropout on.</summary>");
        using (w.Block("public void Forward(int batch, bool training)"))
        {
            w.Line("var a = Arena;");
            w.Line("int rows = batch * Sequence;");
            w.Line("_ = a;");
            w.Line("_ = rows;");
            SpectralNormForward(w, plan);
            foreach (var s in plan.Forward)
            {
                if (s.Kind is StepKind.SoftmaxCrossEntropy or StepKind.MeanSquaredError or StepKind.Loss) continue;
                ForwardStep(w, s);
            }
        }

        w.Line();
    }

    private static void ForwardStep(CodeWriter w, PlanStep s)
    {
        string n = $"rows * {Int(s.Out)}";
        switch (s.Kind)
        {
            case StepKind.MeanPoolForward:
                MeanPoolForward(w, s);
                break;
            case StepKind.DenseForward:
            {
                string act = s.Activation == ActivationKind.None ? "" : $"{ActivationName(s.Activation)}(";
                w.Line($"// {s.Layer}: Dense {Int(s.In)} → {Int(s.Out)}{(s.B >= 0 ? " with bias" : "")}{(s.Activation != ActivationKind.None ? $", {s.Activation} fused in the GEMM epilogue" : "")}");
                w.Line($"//   y[batch, {Int(s.Out)}] = {act}x[batch, {Int(s.In)}] · W[{Int(s.Out)}, {Int(s.In)}]ᵀ{(s.B >= 0 ? " + b" : "")}{(act.Length > 0 ? ")" : "")}{(s.Z >= 0 ? $"   (z kept at {Int(s.Z)} for the backward)" : "")}");
                string epilogue = s.Activation != ActivationKind.None
                    ? $"new {Kernels}.BiasActivationEpilogue<T, {ActivationType(s.Activation)}>(a, {Int(s.B)}, {ActivationValue(s.Activation, s.Scalar)}, {Int(s.Z)}, {Int(s.Out)})"
                    : s.B >= 0 ? $"new {Kernels}.BiasEpilogue<T>(a, {Int(s.B)})" : $"new {Kernels}.NoEpilogue<T>()";
                w.Line($"{Kernels}.Gemm.Multiply(a, {Int(s.X)}, {Int(s.In)}, false, a, {Int(s.W)}, {Int(s.In)}, true, a, {Int(s.Y)}, {Int(s.Out)},");
                w.Line($"    rows, {Int(s.Out)}, {Int(s.In)}, false, {epilogue});");
                break;
            }
            case StepKind.EmbeddingForward:
                w.Line($"// {s.Layer}: Embedding [{Int(s.In)}, {Int(s.Out)}]: y[r] = table[ids[r]]");
                w.Line($"{Kernels}.Embedding.Forward<T>(global::System.MemoryExtensions.AsSpan(Tokens, 0, rows), {Span(s.W, Int(s.In * s.Out))}, {Int(s.In)}, {Int(s.Out)}, {Span(s.Y, n)});");
                break;
            case StepKind.PositionForward:
                w.Line($"// {s.Layer}: learned positions: y[b, t] = x[b, t] + P[t]");
                w.Line($"{Kernels}.PositionEmbedding.Forward<T>({Span(s.X, n)}, {Span(s.W, $"Sequence * {Int(s.Out)}")}, rows, Sequence, {Int(s.Out)}, {Span(s.Y, n)});");
                break;
            case StepKind.LayerNormForward:
            {
                string gamma = Span(s.W, Int(s.Out)), beta = s.B >= 0 ? Span(s.B, Int(s.Out)) : "global::System.ReadOnlySpan<T>.Empty";
                if (s.X3 >= 0)
                {
                    w.Line($"// {s.Layer}: residual add fused with LayerNorm: s = x₁ + x₂ (kept: the residual stream), y = (s − μ)/√(σ² + ε) ⊙ γ{(s.B >= 0 ? " + β" : "")}");
                    w.Line($"{Kernels}.LayerNorm.AddForward<T>({Span(s.X, n)}, {Span(s.X2, n)}, {Span(s.X3, n)}, rows, {Int(s.Out)}, {gamma}, {beta}, {OfT(s.Scalar)}, {Span(s.Y, n)}, {Span(s.Aux, "rows")}, {Span(s.Aux2, "rows")});");
                }
                else
                {
                    w.Line($"// {s.Layer}: y = (x − μ)/√(σ² + ε) ⊙ γ{(s.B >= 0 ? " + β" : "")}, ε = {Double(s.Scalar)}");
                    w.Line($"{Kernels}.LayerNorm.Forward<T>({Span(s.X, n)}, rows, {Int(s.Out)}, {gamma}, {beta}, {OfT(s.Scalar)}, {Span(s.Y, n)}, {Span(s.Aux, "rows")}, {Span(s.Aux2, "rows")});");
                }

                break;
            }
            case StepKind.RmsNormForward:
                w.Line($"// {s.Layer}: y = x / √(mean(x²) + ε){(s.W >= 0 ? " ⊙ g" : "")}, ε = {Double(s.Scalar)}");
                w.Line($"{Kernels}.RmsNorm.Forward<T>({Span(s.X, n)}, rows, {Int(s.Out)}, {(s.W >= 0 ? Span(s.W, Int(s.Out)) : "global::System.ReadOnlySpan<T>.Empty")}, {OfT(s.Scalar)}, {Span(s.Y, n)}, {Span(s.Aux2, "rows")});");
                break;
            case StepKind.AttentionForward:
                AttentionForward(w, s);
                break;
            case StepKind.ActivationForward:
                w.Line($"// {Name(s)}: y = {s.Activation}(x)");
                w.Line($"{Kernels}.Activation.Forward<T, {ActivationType(s.Activation)}>({ActivationValue(s.Activation, s.Scalar)}, {Span(s.X, n)}, {Span(s.Y, n)});");
                break;
            case StepKind.DropoutForward:
                w.Line($"// {s.Layer}: dropout p = {Double(s.Scalar)} in training, identity otherwise");
                w.Line($"if (training) {Kernels}.Dropout.Forward<T>({Span(s.X, n)}, {Span(s.Y, n)}, {Double(s.Scalar)}, Seed, DropoutStream({Int(s.Stream)}), (ulong)FirstRow * {Int(s.Out)});");
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
        if (plan.Model.MultiTask is not null)
        {
            MultiTaskLoss(w, plan);
            return;
        }

        if (plan.Model.Loss is { IsPlain: false } || plan.Model.Pooled)
        {
            ExtendedLoss(w, plan);
            return;
        }

        var loss = plan.Forward.First(s => s.Kind is StepKind.SoftmaxCrossEntropy or StepKind.MeanSquaredError);
        bool labels = loss.Kind == StepKind.SoftmaxCrossEntropy;
        string targetType = labels ? "global::System.ReadOnlySpan<int>" : "global::System.ReadOnlySpan<T>";
        string targetName = labels ? "labels" : "targets";
        string n = $"rows * {Int(loss.In)}";

        w.Line($"/// <summary>Forward, loss and backward on the first <paramref name=\"batch\"/> examples: returns the mean loss per row and");
        w.Line("/// leaves ∂loss/∂θ in <see cref=\"Gradients\"/> (overwritten, never accumulated across calls).</summary>");
        using (w.Block($"public double TrainingPass(int batch, {targetType} {targetName})"))
        {
            w.Line("Forward(batch, training: true);");
            w.Line("var a = Arena;");
            w.Line("int rows = batch * Sequence;");
            if (labels)
            {
                w.Line($"// loss = mean over rows of −log softmax(z)[label], fused with ∂loss/∂z = (softmax(z) − onehot)/rows");
                w.Line($"double loss = {Kernels}.SoftmaxCrossEntropy.ForwardBackward<T>({Span(loss.X, n)}, labels, rows, {Int(loss.In)}, {Span(loss.DX, n)}, T.One / T.CreateTruncating(rows));");
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
            w.Line("int rows = batch * Sequence;");
            w.Line(labels
                ? $"return {Kernels}.SoftmaxCrossEntropy.Forward<T>({SpanA(loss.X, n)}, labels, rows, {Int(loss.In)});"
                : $"return {Kernels}.MeanSquaredError.Forward<T>({SpanA(loss.X, n)}, targets);");
        }

        w.Line();
        w.Line("private ulong DropoutStream(int layer) => unchecked((DropoutStep << 12) | (uint)layer);");
        w.Line();
    }

    private static void Backward(CodeWriter w, ModelPlan plan, DataParallelPlan dataParallel)
    {
        w.Line("/// <summary>The backward schedule: reverse order, each step's first write to a gradient overwrites it,");
        w.Line("/// later writes accumulate (so nothing is zeroed before a step). <see cref=\"GradientHook\"/> hears which part");
        w.Line("/// of the gradient region is final after each step (gradient offset onwards), and when the pass is done.</summary>");
        using (w.Block("private void Backward(int batch)"))
        {
            w.Line("var a = Arena;");
            w.Line(plan.Model.Pooled ? "int rows = batch; // after the MeanPool: one row per example" : "int rows = batch * Sequence;");
            w.Line("var hook = GradientHook;");
            int final = plan.ParameterRegion;
            void Ready(int from)
            {
                if (from >= final) return;
                final = from;
                w.Line($"hook?.Ready({Int(from)}); // gradients [{Int(from)}, {Int(plan.ParameterRegion)}) are final");
            }

            Ready(dataParallel.BeforeBackward);
            for (int i = 0; i < plan.Backward.Count; i++)
            {
                BackwardStep(w, plan.Backward[i]);
                Ready(dataParallel.AfterStep[i]);
            }

            SpectralNormBackward(w, plan);
            w.Line("hook?.Complete();");
        }
    }

    private static void DataParallelMembers(CodeWriter w, DataParallelPlan dataParallel)
    {
        w.Lines($$"""
            /// <summary>Why this model cannot be trained data-parallel with one process's result, or null.</summary>
            public const string? DataParallelIssue = {{(dataParallel.Issue is null ? "null" : String(dataParallel.Issue))}};

            /// <summary>Told by the backward which gradients are final (data parallelism starts reducing them), or null.</summary>
            public global::Dsl.Distributed.IGradientHook? GradientHook { get; set; }

            /// <summary>Global index of the first row of the batch this engine holds (a data-parallel rank's shard start;
            /// 0 in one process): dropout masks are drawn per global row.</summary>
            public int FirstRow { get; set; }

            T[] global::Dsl.Distributed.IDataParallelEngine<T>.Arena => Arena;

            int global::Dsl.Distributed.IDataParallelEngine<T>.GradientOffset => GradientOffset;

            int global::Dsl.Distributed.IDataParallelEngine<T>.ParameterRegion => ParameterRegion;

            int global::Dsl.Distributed.IDataParallelEngine<T>.Sequence => Sequence;

            global::System.ReadOnlySpan<global::Dsl.Optimizers.ParameterTensor> global::Dsl.Distributed.IDataParallelEngine<T>.ParameterTensors => s_tensors;

            string? global::Dsl.Distributed.IDataParallelEngine<T>.DataParallelIssue => DataParallelIssue;

            """);
    }

    private static void BackwardStep(CodeWriter w, PlanStep s)
    {
        string n = $"rows * {Int(s.Out)}";
        string op(bool accumulate) => accumulate ? "+=" : "=";
        switch (s.Kind)
        {
            case StepKind.MeanPoolBackward:
                MeanPoolBackward(w, s);
                break;
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
                w.Line($"    {Int(s.Out)}, {Int(s.In)}, rows, {Bool(s.AccumulateParams)}, new {Kernels}.NoEpilogue<T>());");
                if (s.GB >= 0)
                {
                    w.Line($"//   ∂b {op(s.AccumulateParams)} Σ_rows ∂z");
                    w.Line($"{Kernels}.Elementwise.ColumnSums<T>({Span(s.DY, n)}, rows, {Int(s.Out)}, {Span(s.GB, Int(s.Out))}, {Bool(s.AccumulateParams)});");
                }

                if (s.DX >= 0)
                {
                    w.Line($"//   ∂x {op(s.AccumulateDX)} ∂z·W");
                    w.Line($"{Kernels}.Gemm.Multiply(a, {Int(s.DY)}, {Int(s.Out)}, false, a, {Int(s.W)}, {Int(s.In)}, false, a, {Int(s.DX)}, {Int(s.In)},");
                    w.Line($"    rows, {Int(s.In)}, {Int(s.Out)}, {Bool(s.AccumulateDX)}, new {Kernels}.NoEpilogue<T>());");
                }

                break;
            }
            case StepKind.EmbeddingBackward:
                w.Line($"// {s.Layer} backward — forward: y[r] = table[ids[r]]; ∂table[ids[r]] {op(s.AccumulateParams)} ∂y[r] (scatter-add)");
                w.Line($"{Kernels}.Embedding.Backward<T>(global::System.MemoryExtensions.AsSpan(Tokens, 0, rows), {Span(s.DY, n)}, {Int(s.Out)}, {Span(s.GW, Int(s.In * s.Out))}, {Int(s.In)}, {Bool(s.AccumulateParams)});");
                break;
            case StepKind.PositionBackward:
                w.Line($"// {s.Layer} backward — forward: y[b, t] = x[b, t] + P[t]; ∂P[t] {op(s.AccumulateParams)} Σ_b ∂y[b, t]; ∂x {op(s.AccumulateDX)} ∂y");
                w.Line($"{Kernels}.PositionEmbedding.Backward<T>({Span(s.DY, n)}, rows, Sequence, {Int(s.Out)}, {Span(s.GW, $"Sequence * {Int(s.Out)}")}, {Bool(s.AccumulateParams)});");
                if (s.DX >= 0)
                    w.Line(s.AccumulateDX ? $"{Kernels}.Elementwise.AddInPlace<T>({Span(s.DX, n)}, {Span(s.DY, n)});" : $"{Span(s.DY, n)}.CopyTo({Span(s.DX, n)});");
                break;
            case StepKind.LayerNormBackward:
            {
                string empty = "global::System.Span<T>.Empty";
                w.Line($"// {s.Layer} backward — forward: y = (x − μ)/√(σ² + ε) ⊙ γ{(s.B >= 0 ? " + β" : "")}; ∂x {op(s.AccumulateDX)} (γ⊙∂y − mean(γ⊙∂y) − x̂·mean(γ⊙∂y⊙x̂))/σ; ∂γ {op(s.AccumulateParams)} Σ ∂y⊙x̂");
                w.Line($"{Kernels}.LayerNorm.Backward<T>({Span(s.X, n)}, {Span(s.DY, n)}, rows, {Int(s.Out)}, {Span(s.W, Int(s.Out))}, {Span(s.Aux, "rows")}, {Span(s.Aux2, "rows")},");
                w.Line($"    {(s.DX >= 0 ? Span(s.DX, n) : empty)}, {Bool(s.AccumulateDX)}, {Span(s.GW, Int(s.Out))}, {(s.GB >= 0 ? Span(s.GB, Int(s.Out)) : empty)}, {Bool(s.AccumulateParams)});");
                break;
            }
            case StepKind.RmsNormBackward:
            {
                string empty = "global::System.Span<T>.Empty";
                w.Line($"// {s.Layer} backward — forward: y = x/r{(s.W >= 0 ? " ⊙ g" : "")}, r = √(mean(x²) + ε); ∂x {op(s.AccumulateDX)} (ĝ − y·mean(ĝ⊙x/r))/r with ĝ = {(s.W >= 0 ? "g⊙" : "")}∂y");
                w.Line($"{Kernels}.RmsNorm.Backward<T>({Span(s.X, n)}, {Span(s.DY, n)}, rows, {Int(s.Out)}, {(s.W >= 0 ? Span(s.W, Int(s.Out)) : "global::System.ReadOnlySpan<T>.Empty")}, {Span(s.Aux2, "rows")},");
                w.Line($"    {(s.DX >= 0 ? Span(s.DX, n) : empty)}, {Bool(s.AccumulateDX)}, {(s.GW >= 0 ? Span(s.GW, Int(s.Out)) : empty)}, {Bool(s.AccumulateParams)});");
                break;
            }
            case StepKind.AttentionBackward:
                AttentionBackward(w, s);
                break;
            case StepKind.ActivationBackward:
                w.Line($"// {Name(s)} backward — forward: y = {ActivationName(s.Activation)}(x); ∂x {op(s.AccumulateDX)} ∂y ⊙ {ActivationName(s.Activation)}′(x)");
                w.Line($"{Kernels}.Activation.Backward<T, {ActivationType(s.Activation)}>({ActivationValue(s.Activation, s.Scalar)}, {Span(s.X, n)}, {Span(s.Y, n)}, {Span(s.DY, n)}, {Span(s.AccumulateDX ? s.DY : s.DX, n)});");
                if (s.AccumulateDX) w.Line($"{Kernels}.Elementwise.AddInPlace<T>({Span(s.DX, n)}, {Span(s.DY, n)});");
                break;
            case StepKind.DropoutBackward:
                w.Line($"// {s.Layer} backward — forward: y = mask ⊙ x/(1 − p); ∂x {op(s.AccumulateDX)} mask ⊙ ∂y/(1 − p), same mask");
                w.Line($"{Kernels}.Dropout.Backward<T>({Span(s.DY, n)}, {Span(s.AccumulateDX ? s.DY : s.DX, n)}, {Double(s.Scalar)}, Seed, DropoutStream({Int(s.Stream)}), (ulong)FirstRow * {Int(s.Out)});");
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

    private static string Options(PlanStep s)
    {
        var o = s.Attention!.Options;
        string mode = o.EntropyInvariant ? "EntropyInvariant" : "Fixed";
        return $"new {Kernels}.AttentionOptions({Int(o.Heads)}, {Int(o.KeySize)}, {Int(o.ValueSize)}, Sequence, {Bool(o.Causal)}, {Int(o.Window)}, {Kernels}.AttentionScaleMode.{mode}, {Double(s.Attention.Scale)})";
    }

    private static string AttentionKernel(AttentionSpec o) => o.Linear ? "LinearAttention" : o.TalkingHeads ? "TalkingHeadsAttention" : "Attention";

    private static void AttentionForward(CodeWriter w, PlanStep s)
    {
        var ap = s.Attention!;
        var o = ap.Options;
        int hk = o.Heads * o.KeySize, hv = o.Heads * o.ValueSize, width = ap.QkvWidth;
        string all = $"rows * {Int(width)}";
        string kind = o.Linear ? "linear attention, φ = elu + 1" : $"softmax attention, λ = {(o.EntropyInvariant ? "ln n_i / (ln 512 · √d)" : Double(ap.Scale))}";
        w.Line($"// {s.Layer}: {Int(o.Heads)} heads ({kind}{(o.Causal ? ", causal" : "")}{(o.Window > 0 ? $", window {Int(o.Window)}" : "")}{(o.TalkingHeads ? ", talking heads" : "")}), key size {Int(o.KeySize)}, value size {Int(o.ValueSize)}");
        w.Line($"//   q|k|v[rows, {Int(width)}] = x[rows, {Int(s.In)}] · W_qkvᵀ{(ap.Bqkv >= 0 ? " + b_qkv" : "")}");
        string qkvEpilogue = ap.Bqkv >= 0 ? $"new {Kernels}.BiasEpilogue<T>(a, {Int(ap.Bqkv)})" : $"new {Kernels}.NoEpilogue<T>()";
        string columnGroup = "";
        if (ap.RopeTable >= 0)
        {
            // RoPE runs in the product's epilogue, on each row's q and k heads while the row is in cache;
            // columnGroup keeps every epilogue segment to whole heads.
            w.Line($"//   epilogue: RoPE on q and k, pairs (j, j + {Int(o.RotaryDim / 2)}) of each head rotated by position·θ_j, θ_j = {Double(o.RopeBase)}^(−2j/{Int(o.RotaryDim)})");
            qkvEpilogue = $"new {Kernels}.RopeEpilogue<T>(a, {Int(ap.Bqkv)}, {Int(ap.RopeTable)}, Sequence, {Int(o.KeySize)}, {Int(o.RotaryDim)}, {Int(2 * hk)})";
            columnGroup = $", columnGroup: {Int(o.KeySize)}";
        }

        w.Line($"{Kernels}.Gemm.Multiply(a, {Int(s.X)}, {Int(s.In)}, false, a, {Int(ap.Wqkv)}, {Int(s.In)}, true, a, {Int(ap.Qkv)}, {Int(width)},");
        w.Line($"    rows, {Int(width)}, {Int(s.In)}, false, {qkvEpilogue}{columnGroup});");

        w.Line($"//   heads[rows, {Int(hv)}] per (example, head) tile{(o.Linear ? "" : ", online softmax: no attention matrix is stored")}");
        string mixes = o.TalkingHeads ? $"{Span(ap.PreMix, Int(o.Heads * o.Heads))}, {Span(ap.PostMix, Int(o.Heads * o.Heads))}, " : "";
        w.Line($"{Kernels}.{AttentionKernel(o)}.Forward<T>({Options(s)}, batch,");
        w.Line($"    {Span(ap.Qkv, all)}, {Span(ap.Qkv + hk, $"{all} - {Int(hk)}")}, {Span(ap.Qkv + 2 * hk, $"{all} - {Int(2 * hk)}")}, {Int(width)},");
        w.Line($"    {mixes}{Span(ap.Heads, $"rows * {Int(hv)}")}, {Int(hv)}, {Span(ap.Stats, $"batch * {Int(o.Heads)} * Sequence")});");
        w.Line($"//   y[rows, {Int(s.Out)}] = heads · W_oᵀ{(ap.Bo >= 0 ? " + b_o" : "")}");
        string outEpilogue = ap.Bo >= 0 ? $"new {Kernels}.BiasEpilogue<T>(a, {Int(ap.Bo)})" : $"new {Kernels}.NoEpilogue<T>()";
        w.Line($"{Kernels}.Gemm.Multiply(a, {Int(ap.Heads)}, {Int(hv)}, false, a, {Int(ap.Wo)}, {Int(hv)}, true, a, {Int(s.Y)}, {Int(s.Out)},");
        w.Line($"    rows, {Int(s.Out)}, {Int(hv)}, false, {outEpilogue});");
    }

    private static void AttentionBackward(CodeWriter w, PlanStep s)
    {
        var ap = s.Attention!;
        var o = ap.Options;
        int hk = o.Heads * o.KeySize, hv = o.Heads * o.ValueSize, width = ap.QkvWidth;
        int g = s.GW; // the gradient region's offset: parameter p's gradient is at g + p
        string all = $"rows * {Int(width)}";
        string acc = Bool(s.AccumulateParams);
        string op = s.AccumulateParams ? "+=" : "=";
        string no = $"new {Kernels}.NoEpilogue<T>()";
        w.Line($"// {s.Layer} backward — forward: q|k|v = x·W_qkvᵀ, heads = attention(q, k, v), y = heads·W_oᵀ");
        w.Line($"//   ∂W_o {op} ∂yᵀ·heads{(ap.Bo >= 0 ? $", ∂b_o {op} Σ ∂y" : "")}, ∂heads = ∂y·W_o");
        w.Line($"{Kernels}.Gemm.Multiply(a, {Int(s.DY)}, {Int(s.Out)}, true, a, {Int(ap.Heads)}, {Int(hv)}, false, a, {Int(g + ap.Wo)}, {Int(hv)},");
        w.Line($"    {Int(s.Out)}, {Int(hv)}, rows, {acc}, {no});");
        if (ap.Bo >= 0)
            w.Line($"{Kernels}.Elementwise.ColumnSums<T>({Span(s.DY, $"rows * {Int(s.Out)}")}, rows, {Int(s.Out)}, {Span(g + ap.Bo, Int(s.Out))}, {acc});");
        w.Line($"{Kernels}.Gemm.Multiply(a, {Int(s.DY)}, {Int(s.Out)}, false, a, {Int(ap.Wo)}, {Int(hv)}, false, a, {Int(ap.DHeads)}, {Int(hv)},");
        w.Line($"    rows, {Int(hv)}, {Int(s.Out)}, false, {no});");
        w.Line($"//   ∂q, ∂k, ∂v from the saved row statistics (scores recomputed per tile){(o.TalkingHeads ? $"; ∂mixes {op}" : "")}");
        w.Line($"{Kernels}.{AttentionKernel(o)}.Backward<T>({Options(s)}, batch,");
        w.Line($"    {Span(ap.Qkv, all)}, {Span(ap.Qkv + hk, $"{all} - {Int(hk)}")}, {Span(ap.Qkv + 2 * hk, $"{all} - {Int(2 * hk)}")}, {Int(width)},");
        if (o.TalkingHeads)
            w.Line($"    {Span(ap.PreMix, Int(o.Heads * o.Heads))}, {Span(ap.PostMix, Int(o.Heads * o.Heads))},");
        w.Line($"    {Span(ap.Heads, $"rows * {Int(hv)}")}, {Span(ap.DHeads, $"rows * {Int(hv)}")}, {Int(hv)}, {Span(ap.Stats, $"batch * {Int(o.Heads)} * Sequence")},");
        w.Line($"    {Span(ap.DQkv, all)}, {Span(ap.DQkv + hk, $"{all} - {Int(hk)}")}, {Span(ap.DQkv + 2 * hk, $"{all} - {Int(2 * hk)}")}, {Int(width)}{(o.TalkingHeads ? $"," : ");")}");
        if (o.TalkingHeads)
            w.Line($"    {Span(g + ap.PreMix, Int(o.Heads * o.Heads))}, {Span(g + ap.PostMix, Int(o.Heads * o.Heads))}, {acc});");
        if (ap.RopeTable >= 0)
        {
            string table = $"global::System.MemoryExtensions.AsSpan(a, {Int(ap.RopeTable)}, Sequence * {Int(o.RotaryDim)})";
            w.Line("//   RoPE backward: rotate ∂q and ∂k back by −position·θ");
            w.Line($"{Kernels}.Rope.Backward<T>({Span(ap.DQkv, all)}, rows, {Int(width)}, {Int(o.Heads)}, {Int(o.KeySize)}, {Int(o.RotaryDim)}, Sequence, {table});");
            w.Line($"{Kernels}.Rope.Backward<T>({Span(ap.DQkv + hk, $"{all} - {Int(hk)}")}, rows, {Int(width)}, {Int(o.Heads)}, {Int(o.KeySize)}, {Int(o.RotaryDim)}, Sequence, {table});");
        }

        w.Line($"//   ∂W_qkv {op} ∂qkvᵀ·x{(ap.Bqkv >= 0 ? $", ∂b_qkv {op} Σ ∂qkv" : "")}{(s.DX >= 0 ? $", ∂x {(s.AccumulateDX ? "+=" : "=")} ∂qkv·W_qkv" : "")}");
        w.Line($"{Kernels}.Gemm.Multiply(a, {Int(ap.DQkv)}, {Int(width)}, true, a, {Int(s.X)}, {Int(s.In)}, false, a, {Int(g + ap.Wqkv)}, {Int(s.In)},");
        w.Line($"    {Int(width)}, {Int(s.In)}, rows, {acc}, {no});");
        if (ap.Bqkv >= 0)
            w.Line($"{Kernels}.Elementwise.ColumnSums<T>({Span(ap.DQkv, all)}, rows, {Int(width)}, {Span(g + ap.Bqkv, Int(width))}, {acc});");
        if (s.DX >= 0)
        {
            w.Line($"{Kernels}.Gemm.Multiply(a, {Int(ap.DQkv)}, {Int(width)}, false, a, {Int(ap.Wqkv)}, {Int(s.In)}, false, a, {Int(s.DX)}, {Int(s.In)},");
            w.Line($"    rows, {Int(s.In)}, {Int(width)}, {Bool(s.AccumulateDX)}, {no});");
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
