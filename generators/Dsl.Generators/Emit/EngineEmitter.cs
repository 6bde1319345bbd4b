using System.Linq;
using Dsl.Generators.Model;
using Dsl.Generators.Ops;
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
    private const string Kernels = CpuWriter.Kernels;

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
                Ops.Adversarial.CpuMembers(w, plan);
                GuardMembers(w, plan);
            }

            Ops.SpectralNorm.CpuMembers(w, plan);
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
                Profile?.Lap(ProfileSteps.Length - 1);
            }

            /// <summary>When set, every step of the schedule is timed into it (see <see cref="ProfileSteps"/>); null (the default) times nothing.</summary>
            public global::Dsl.Runtime.StepProfile? Profile { get; set; }

            """);
        ProfileSteps(w, plan);
    }

    /// <summary>The names of the laps the schedule records into a <c>StepProfile</c>: forward steps, the loss,
    /// backward steps, the optimizer (the indices <see cref="ForwardSteps"/> and <see cref="Backward"/> print).</summary>
    private static void ProfileSteps(CodeWriter w, ModelPlan plan)
    {
        w.Line("/// <summary>Names of the profiled laps, in schedule order: forward steps, loss, backward steps, optimizer.</summary>");
        w.Line("public static global::System.ReadOnlySpan<string> ProfileSteps => s_profileSteps;");
        w.Line();
        w.Line("private static readonly string[] s_profileSteps =");
        w.Line("{");
        foreach (var s in ForwardSteps(plan)) w.Line($"    {String(ProfileName(s))},");
        if (plan.Model.LossNode >= 0)
        {
            w.Line($"    {String("loss")},");
            foreach (var s in plan.Backward) w.Line($"    {String(ProfileName(s))},");
        }

        w.Line($"    {String("optimizer")},");
        w.Line("};");
        w.Line();
    }

    /// <summary>"Hidden DenseForward": the layer (or node) and the op's step type.</summary>
    private static string ProfileName(PlanStep s)
    {
        var type = s.GetType();
        string op = type.DeclaringType?.Name ?? "";
        if (op.EndsWith("Op", System.StringComparison.Ordinal) && op.Length > 2) op = op.Substring(0, op.Length - 2);
        string kind = op + (type.Name.StartsWith("Backward", System.StringComparison.Ordinal) ? "Backward" : "Forward");
        return $"{s.Title} {kind}";
    }

    private static System.Collections.Generic.IEnumerable<PlanStep> ForwardSteps(ModelPlan plan)
        => plan.Forward.Where(s => s is not Ops.LossStep);

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

            var steps = new CpuWriter(w, plan);
            foreach (var s in plan.Forward) s.Initialize(steps);
            Ops.SpectralNorm.CpuInitialize(w, plan);
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
            w.Line("var profile = Profile;");
            w.Line("profile?.Begin();");
            Ops.SpectralNorm.CpuForward(w, plan);
            var steps = new CpuWriter(w, plan);
            int check = 0;
            int lap = 0;
            foreach (var s in ForwardSteps(plan))
            {
                s.Cpu(steps);
                if (plan.Model.LossNode >= 0) CheckHook(w, check++); // the non-finite guard's checking pass
                w.Line($"profile?.Lap({Int(lap++)});");
            }
        }

        w.Line();
    }

    private static void Loss(CodeWriter w, ModelPlan plan)
    {
        if (plan.Model.MultiTask is not null)
        {
            Ops.MultiTask.CpuLoss(w, plan);
            return;
        }

        var step = (Ops.LossStep)plan.Forward.First(s => s is Ops.LossStep);
        var options = plan.Model.Loss!;
        var op = OpRegistry.Get<LossOp>(plan.Model.Nodes[step.Node].Op)!;
        if (!op.IsPlain(options) || plan.Model.Pooled)
        {
            ExtendedLoss(w, plan, step, op, options);
            return;
        }

        // The original cross-entropy/MSE path.
        bool labels = op.Targets == TargetKind.Labels;
        string targetType = labels ? "global::System.ReadOnlySpan<int>" : "global::System.ReadOnlySpan<T>";
        string targetName = labels ? "labels" : "targets";
        w.Line($"/// <summary>Forward, loss and backward on the first <paramref name=\"batch\"/> examples: returns the mean loss per row and");
        w.Line("/// leaves ∂loss/∂θ in <see cref=\"Gradients\"/> (overwritten, never accumulated across calls).</summary>");
        using (w.Block($"public double TrainingPass(int batch, {targetType} {targetName})"))
        {
            w.Line("Forward(batch, training: true);");
            w.Line("var a = Arena;");
            w.Line("int rows = batch * Sequence;");
            w.Line(labels
                ? "// loss = mean over rows of −log softmax(z)[label], fused with ∂loss/∂z = (softmax(z) − onehot)/rows"
                : "// loss = mean (p − t)², fused with ∂loss/∂p = 2(p − t)/n");
            w.Line($"double loss = {op.Kernel(options, step, targetName, gradient: true)};");
            w.Line("Backward(batch);");
            w.Line("return loss;");
        }

        w.Line();
        w.Line("/// <summary>The mean loss on the first <paramref name=\"batch\"/> rows, without dropout or gradients.</summary>");
        using (w.Block($"public double Loss(int batch, {targetType} {targetName})"))
        {
            w.Line("Forward(batch, training: false);");
            w.Line("int rows = batch * Sequence;");
            w.Line($"return {op.Kernel(options, step, targetName, gradient: false)};");
        }

        w.Line();
        w.Line("private ulong DropoutStream(int layer) => unchecked((DropoutStep << 12) | (uint)layer);");
        w.Line();
    }

    /// <summary>TrainingPass and Loss for every loss but the plain cross-entropy/MSE of an unpooled model (whose
    /// code <see cref="Loss"/> prints unchanged).</summary>
    private static void ExtendedLoss(CodeWriter w, ModelPlan plan, LossStep step, LossOp op, LossOptions options)
    {
        var model = plan.Model;
        var (targetType, targetName) = op.Targets switch
        {
            TargetKind.Tensor => ("global::System.ReadOnlySpan<T>", "targets"),
            TargetKind.Scores => ("global::System.ReadOnlySpan<T>", "scores"),
            _ => ("global::System.ReadOnlySpan<int>", "labels"),
        };
        string rows = model.Pooled ? "batch" : "batch * Sequence";
        op.CpuMembers(new CpuWriter(w, plan), options, step);
        bool flood = options.Flood >= 0;
        string per = op.ComparesPairs ? "the loss of the batch's batch / 2 interleaved sentence pairs" : "the mean loss per row";
        w.Line($"/// <summary>Forward, loss and backward on the first <paramref name=\"batch\"/> examples: returns {per} and");
        w.Line("/// leaves ∂loss/∂θ in <see cref=\"Gradients\"/> (overwritten, never accumulated across calls).</summary>");
        using (w.Block($"public double TrainingPass(int batch, {targetType} {targetName})"))
        {
            w.Line("Forward(batch, training: true);");
            w.Line("var a = Arena;");
            w.Line($"int rows = {rows};");
            w.Line($"// {op.Formula(options)}, fused with its gradient");
            w.Line($"double loss = {op.Kernel(options, step, targetName, gradient: true)};");
            if (flood)
            {
                w.Line(Flood.Comment(options.Flood));
                w.Line($"loss = {Flood.Apply("loss", options.Flood, step)};");
            }

            w.Line("Backward(batch);");
            w.Line("return loss;");
        }

        w.Line();
        w.Line($"/// <summary>{(op.ComparesPairs ? "The loss" : "The mean loss")} on the first <paramref name=\"batch\"/> examples, without dropout or gradients{(flood ? " (flooded, as trained)" : "")}.</summary>");
        using (w.Block($"public double Loss(int batch, {targetType} {targetName})"))
        {
            w.Line("Forward(batch, training: false);");
            w.Line($"int rows = {rows};");
            w.Line("_ = rows;");
            string value = op.Kernel(options, step, targetName, gradient: false);
            w.Line(flood ? $"return {Flood.Value(value, options.Flood)};" : $"return {value};");
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
            int lap = ForwardSteps(plan).Count();
            w.Line("var profile = Profile;");
            w.Line($"profile?.Lap({Int(lap++)}); // the loss");
            w.Line("var hook = GradientHook;");
            int final = plan.ParameterRegion;
            void Ready(int from)
            {
                if (from >= final) return;
                final = from;
                w.Line($"hook?.Ready({Int(from)}); // gradients [{Int(from)}, {Int(plan.ParameterRegion)}) are final");
            }

            int check = CheckedForwardSteps(plan);
            CheckHook(w, check++); // ∂loss/∂prediction, written by the loss
            Ready(dataParallel.BeforeBackward);
            var steps = new CpuWriter(w, plan);
            for (int i = 0; i < plan.Backward.Count; i++)
            {
                plan.Backward[i].Cpu(steps);
                CheckHook(w, check++);
                Ready(dataParallel.AfterStep[i]);
                w.Line($"profile?.Lap({Int(lap++)});");
            }

            Ops.SpectralNorm.CpuBackward(w, plan);
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
}
