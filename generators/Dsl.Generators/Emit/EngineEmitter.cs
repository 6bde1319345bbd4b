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
            var c = new CpuWriter(w, plan, new ArenaNames(plan));
            var names = Constants(c);
            Members(w, plan);
            DataParallelMembers(w, dataParallel);
            InterfaceMembers(w, plan);
            Initialization(c);
            Forward(c);
            if (model.LossNode >= 0)
            {
                Loss(c);
                Backward(c, dataParallel);
                Ops.Adversarial.CpuMembers(c);
                GuardMembers(c);
            }

            Ops.SpectralNorm.CpuMembers(c);
            if (c.Names.SliceUsed)
            {
                w.Line();
                w.Line("/// <summary>A slice of the arena: <c>AsSpan(a, offset, length)</c>.</summary>");
                w.Line("[global::System.Runtime.CompilerServices.MethodImpl(");
                w.Line("    global::System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]");
                w.Line($"private static global::System.Span<T> {CpuWriter.SliceHelper}(T[] a, int offset, int length) =>");
                w.Line("    global::System.MemoryExtensions.AsSpan(a, offset, length);");
            }

            // The names the code read, declared where the layout constants end.
            var declarations = c.Names.Declarations().ToList();
            if (declarations.Count > 0)
                w.Insert(names, new[] { "", "// The arena's tensors by name (element offsets; the description above gives every buffer)." }.Concat(declarations));
        }
    }

    /// <summary>The layout constants and tables; returns where the arena's names go (decided once the code is printed).</summary>
    private static CodeWriter.Mark Constants(CpuWriter c)
    {
        var w = c.Writer;
        var plan = c.Plan;
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
        if (plan.Segments.Count > 0)
        {
            w.Line("/// <summary>The arena's length were every activation kept: without [Recompute] (the segments' recomputed");
            w.Line("/// activations and gradients share one segment's worth of it).</summary>");
            w.Line($"public const int ArenaLengthWithoutRecompute = {Int(plan.ArenaLengthWithoutRecompute)};");
        }
        var names = w.Here();
        w.Line();
        w.Line("private static readonly global::Dsl.Optimizers.ParameterTensor[] s_tensors =");
        w.Line("{");
        foreach (var p in plan.Parameters)
            w.Line($"    new({String(p.Name)}, {c.At(p.Offset)}, {Int(p.Rows * p.Columns)}, {Bool(p.IsMatrix)}),");
        w.Line("};");
        w.Line();
        w.Line("private static readonly int[][] s_shapes =");
        w.Line("{");
        foreach (var p in plan.Parameters)
            w.Line(p.IsMatrix ? $"    new[] {{ {Int(p.Rows)}, {Int(p.Columns)} }}," : $"    new[] {{ {Int(p.Columns)} }},");
        w.Line("};");
        w.Line();
        return names;
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

    private static void Initialization(CpuWriter c)
    {
        var w = c.Writer;
        var plan = c.Plan;
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
                            w.Line($"Arena[{c.At(p.Offset)} + i] = T.CreateTruncating((random.NextDouble() * 2 - 1) * {Double(p.Bound)});");
                        break;
                    case InitKind.Normal:
                        w.Line($"// {p.Name} [{Int(p.Rows)}, {Int(p.Columns)}]: N(0, {Double(p.Bound)}²)");
                        using (w.Block($"for (int i = 0; i < {length}; i++)"))
                            w.Line($"Arena[{c.At(p.Offset)} + i] = T.CreateTruncating(random.NextGaussian() * {Double(p.Bound)});");
                        break;
                    case InitKind.Ones:
                        c.Line($"{c.SpanA(p.Offset, length)}.Fill(T.One); // {p.Name}: 1");
                        break;
                    case InitKind.Identity:
                        w.Line($"// {p.Name}: identity (the heads start unmixed)");
                        c.Line($"for (int i = 0; i < {Int(p.Rows)}; i++) Arena[{c.At(p.Offset)} + i * {Int(p.Columns)} + i] = T.One;");
                        break;
                }
            }

            foreach (var s in plan.Forward) s.Initialize(c);
            Ops.SpectralNorm.CpuInitialize(c);
        }

        w.Line();
    }

    private static void Forward(CpuWriter c)
    {
        var w = c.Writer;
        var plan = c.Plan;
        string source = plan.Model.TokenInput ? "<see cref=\"Tokens\"/>" : "<see cref=\"Input\"/>";
        w.Line($"/// <summary>Runs the forward pass on the first <paramref name=\"batch\"/> examples (batch × Sequence rows) of {source};");
        w.Line("/// the result lands in <see cref=\"Output\"/>. <paramref name=\"training\"/> turns dropout on.</summary>");
        using (w.Block("public void Forward(int batch, bool training)"))
        {
            // The body first, so the locals are declared only when it reads them.
            var body = new CodeWriter(w.Column / 4);
            var steps = c.Over(body);
            body.Line("var profile = Profile;");
            body.Line("profile?.Begin();");
            Ops.SpectralNorm.CpuForward(steps);
            int check = 0;
            int lap = 0;
            foreach (var s in ForwardSteps(plan))
            {
                steps.Context = s.Layer;
                s.Cpu(steps);
                if (plan.Model.LossNode >= 0) CheckHook(body, check++); // the non-finite guard's checking pass
                body.Line($"profile?.Lap({Int(lap++)});");
            }

            Locals(w, body.ToString(), "int rows = batch * Sequence;");
        }

        w.Line();
    }

    /// <summary>Declares the locals <c>a</c> (the arena) and <c>rows</c> (<paramref name="rows"/>) that
    /// <paramref name="body"/> reads, then appends it.</summary>
    private static void Locals(CodeWriter w, string body, string rows)
    {
        if (Reads(body, "a")) w.Line("var a = Arena;");
        if (Reads(body, "rows")) w.Line(rows);
        w.Append(body);
    }

    /// <summary>Whether generated code reads the local <paramref name="name"/> (outside comments and strings).</summary>
    internal static bool Reads(string code, string name)
    {
        foreach (string raw in code.Split('\n'))
        {
            string line = raw.TrimStart();
            if (line.StartsWith("//", System.StringComparison.Ordinal)) continue;
            for (int i = 0; i < line.Length; i++)
            {
                char ch = line[i];
                if (ch == '"')
                {
                    for (i++; i < line.Length && line[i] != '"'; i++)
                        if (line[i] == '\\') i++;
                    continue;
                }

                if (ch == '/' && i + 1 < line.Length && line[i + 1] == '/') break;
                if (string.CompareOrdinal(line, i, name, 0, name.Length) != 0) continue;
                bool before = i > 0 && (char.IsLetterOrDigit(line[i - 1]) || line[i - 1] is '_' or '.');
                int end = i + name.Length;
                bool after = end < line.Length && (char.IsLetterOrDigit(line[end]) || line[end] == '_');
                if (!before && !after) return true;
            }
        }

        return false;
    }

    private static void Loss(CpuWriter c)
    {
        var w = c.Writer;
        var plan = c.Plan;
        if (plan.Model.MultiTask is not null)
        {
            Ops.MultiTask.CpuLoss(c);
            return;
        }

        var step = (Ops.LossStep)plan.Forward.First(s => s is Ops.LossStep);
        var options = plan.Model.Loss!;
        var op = OpRegistry.Get<LossOp>(plan.Model.Nodes[step.Node].Op)!;
        if (!op.IsPlain(options) || plan.Model.Pooled)
        {
            ExtendedLoss(c, step, op, options);
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
            c.Line($"double loss = {op.Kernel(c, options, step, targetName, gradient: true)};");
            w.Line("Backward(batch);");
            w.Line("return loss;");
        }

        w.Line();
        w.Line("/// <summary>The mean loss on the first <paramref name=\"batch\"/> rows, without dropout or gradients.</summary>");
        using (w.Block($"public double Loss(int batch, {targetType} {targetName})"))
        {
            w.Line("Forward(batch, training: false);");
            w.Line("int rows = batch * Sequence;");
            c.Line($"return {op.Kernel(c, options, step, targetName, gradient: false)};");
        }

        w.Line();
        w.Line("private ulong DropoutStream(int layer) => unchecked((DropoutStep << 12) | (uint)layer);");
        w.Line();
    }

    /// <summary>TrainingPass and Loss for every loss but the plain cross-entropy/MSE of an unpooled model (whose
    /// code <see cref="Loss"/> prints unchanged).</summary>
    private static void ExtendedLoss(CpuWriter c, LossStep step, LossOp op, LossOptions options)
    {
        var w = c.Writer;
        var plan = c.Plan;
        var model = plan.Model;
        var (targetType, targetName) = op.Targets switch
        {
            TargetKind.Tensor => ("global::System.ReadOnlySpan<T>", "targets"),
            TargetKind.Scores => ("global::System.ReadOnlySpan<T>", "scores"),
            _ => ("global::System.ReadOnlySpan<int>", "labels"),
        };
        string rows = model.Pooled ? "batch" : "batch * Sequence";
        op.CpuMembers(c, options, step);
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
            c.Line($"double loss = {op.Kernel(c, options, step, targetName, gradient: true)};");
            if (flood)
            {
                c.Line(Flood.Comment(options.Flood));
                c.Line($"loss = {Flood.Apply(c, "loss", options.Flood, step)};");
            }

            w.Line("Backward(batch);");
            w.Line("return loss;");
        }

        w.Line();
        w.Line($"/// <summary>{(op.ComparesPairs ? "The loss" : "The mean loss")} on the first <paramref name=\"batch\"/> examples, without dropout or gradients{(flood ? " (flooded, as trained)" : "")}.</summary>");
        using (w.Block($"public double Loss(int batch, {targetType} {targetName})"))
        {
            w.Line("Forward(batch, training: false);");
            string value = op.Kernel(c, options, step, targetName, gradient: false);
            string result = flood ? $"return {Flood.Value(value, options.Flood)};" : $"return {value};";
            if (Reads(result, "rows")) w.Line($"int rows = {rows};");
            c.Line(result);
        }

        w.Line();
        w.Line("private ulong DropoutStream(int layer) => unchecked((DropoutStep << 12) | (uint)layer);");
        w.Line();
    }

    private static void Backward(CpuWriter c, DataParallelPlan dataParallel)
    {
        var outer = c.Writer;
        var plan = c.Plan;
        outer.Line("/// <summary>The backward schedule: reverse order, each step's first write to a gradient overwrites it,");
        outer.Line("/// later writes accumulate (so nothing is zeroed before a step). <see cref=\"GradientHook\"/> hears which part");
        outer.Line("/// of the gradient region is final after each step (gradient offset onwards), and when the pass is done.</summary>");
        using (outer.Block("private void Backward(int batch)"))
        {
            // The body first, so the locals are declared only when it reads them.
            var w = new CodeWriter(outer.Column / 4);
            var steps = c.Over(w);
            int lap = ForwardSteps(plan).Count();
            w.Line("var profile = Profile;");
            w.Line($"profile?.Lap({Int(lap++)}); // the loss");
            if (plan.Backward.Any(s => s is RecomputeStep))
            {
                w.Line("bool training = true; // [Recompute]: the forward steps run again as in training (the same dropout masks)");
                w.Line("_ = training;");
            }

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
            for (int i = 0; i < plan.Backward.Count; i++)
            {
                steps.Context = plan.Backward[i].Layer;
                plan.Backward[i].Cpu(steps);
                CheckHook(w, check++);
                Ready(dataParallel.AfterStep[i]);
                w.Line($"profile?.Lap({Int(lap++)});");
            }

            Ops.SpectralNorm.CpuBackward(steps);
            w.Line("hook?.Complete();");
            Locals(outer, w.ToString(), plan.Model.Pooled ? "int rows = batch; // after the MeanPool: one row per example" : "int rows = batch * Sequence;");
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
