using System.Collections.Generic;
using System.Linq;
using Dsl.Generators.Planning;
using static Dsl.Generators.Emit.CudaLiterals;

namespace Dsl.Generators.Emit.Cuda;

/// <summary>
/// Where a plan step prints its CUDA form: the kernel text of the step (every kernel takes the arena, the token
/// ids, the labels, the targets and the run-time arguments, and indexes the arena at the plan's offsets), its
/// launches, and the kernel shapes every step shares: grid-stride elementwise kernels, per-column sums, block
/// reductions. One writer serves the whole model; <see cref="Begin"/> starts each step.
/// </summary>
internal sealed class CudaWriter
{
    /// <summary>Threads per block of an elementwise kernel.</summary>
    public const int ElementBlock = 256;

    /// <summary>Threads per block of a kernel with one block per row.</summary>
    public const int RowBlock = 128;

    /// <summary>Threads of a one-block reduction.</summary>
    public const int ReduceBlock = 256;

    /// <summary>Queries per attention block, and keys per shared-memory tile.</summary>
    public const int AttentionTile = 32;

    private readonly HashSet<string> _cooperative;

    public CudaWriter(ModelPlan plan, int lossOffset, int talkingOffset, HashSet<string> cooperative, List<string> unsupported)
    {
        Plan = plan;
        LossOffset = lossOffset;
        Slot = lossOffset;
        TalkingOffset = talkingOffset;
        _cooperative = cooperative;
        Unsupported = unsupported;
    }

    /// <summary>The plan being printed.</summary>
    public ModelPlan Plan { get; }

    /// <summary>The model's Sequence.</summary>
    public int Sequence => Plan.Model.Sequence;

    /// <summary>The current step's kernel text.</summary>
    public CodeWriter W { get; private set; } = new();

    /// <summary>The current step's launches.</summary>
    public List<CudaLaunchSpec> Launches { get; private set; } = new();

    /// <summary>The current step's kernel-name prefix ("f3", "b0").</summary>
    public string Prefix { get; private set; } = "";

    /// <summary>Where the per-row losses start in the scratch tail.</summary>
    public int LossOffset { get; }

    /// <summary>Where the talking-heads backward keeps its scratch.</summary>
    public int TalkingOffset { get; }

    /// <summary>Where the loss kernel being printed leaves its per-row losses (a multi-task loss: each task its own).</summary>
    public int Slot { get; set; }

    /// <summary>The loss kernel being printed's name prefix ("task1_" for a multi-task loss's second task).</summary>
    public string KernelPrefix { get; set; } = "";

    /// <summary>The first label the loss kernel being printed reads.</summary>
    public int LabelBase { get; set; }

    /// <summary>The first target the loss kernel being printed reads.</summary>
    public int TargetBase { get; set; }

    /// <summary>What the plan holds that this emitter cannot run yet (named in the program, refused at run time).</summary>
    public List<string> Unsupported { get; }

    /// <summary>Starts a step (or a model-level part) with its own text and launch list.</summary>
    public void Begin(string prefix, CodeWriter? text = null, List<CudaLaunchSpec>? launches = null)
    {
        Prefix = prefix;
        W = text ?? new CodeWriter();
        Launches = launches ?? new List<CudaLaunchSpec>();
    }

    /// <summary>Marks a kernel as synchronising its block (the emulation runs its threads concurrently).</summary>
    public void Cooperative(string name) => _cooperative.Add(name);

    /// <summary>Adds a launch.</summary>
    public void Launch(CudaLaunchSpec launch) => Launches.Add(launch);

    /// <summary>Records a step this emitter cannot print yet (the program then refuses to run on a GPU).</summary>
    public void NotYet(string what)
    {
        Unsupported.Add(what);
        W.Line($"/* {what}: not emitted for CUDA yet; this model cannot run on a GPU. */");
    }

    /// <summary>The label of row <paramref name="row"/> for the loss being printed.</summary>
    public string Label(string row) => LabelBase == 0 ? $"labels[{row}]" : $"labels[{Int(LabelBase)} + {row}]";

    /// <summary>The target value <paramref name="index"/> for the loss being printed.</summary>
    public string Target(string index) => TargetBase == 0 ? $"targets[{index}]" : $"targets[{Int(TargetBase)} + {index}]";

    /// <summary>"+=" or "=", for comments.</summary>
    public static string Op(bool accumulate) => accumulate ? "+=" : "=";

    /// <summary>A store of <paramref name="value"/> into element i of the buffer at <paramref name="offset"/>.</summary>
    public static string Store(int offset, string value, bool accumulate) => accumulate
        ? $"arena[{Int(offset)} + i] += {value};"
        : $"arena[{Int(offset)} + i] = {value};";

    /// <summary>A grid-stride kernel over rows × <paramref name="width"/> elements (or <paramref name="width"/>
    /// when <paramref name="fixedCount"/>); the body sees i (flat index) and c (column).</summary>
    public void Elementwise(string name, string comment, int width, bool fixedCount, params string[] body) =>
        Elementwise(W, Launches, name, comment, width, fixedCount, body);

    /// <summary>As <see cref="Elementwise(string, string, int, bool, string[])"/>, into another writer and launch list.</summary>
    public static void Elementwise(CodeWriter w, List<CudaLaunchSpec> launches, string name, string comment, int width, bool fixedCount, params string[] body)
    {
        w.Line($"/* {comment} */");
        using (w.Block($"DSL_KERNEL({name})"))
        {
            w.Line(fixedCount ? $"const int n = {Int(width)};" : $"const int n = args.rows * {Int(width)};");
            using (w.Block("DSL_FOR_ELEMENTS(i, n)"))
            {
                if (body.Any(b => b.Contains("+ c]"))) w.Line($"const int c = i % {Int(width)};");
                foreach (var line in body) w.Line(line);
            }
        }

        w.Line();
        launches.Add(new CudaLaunchSpec(name, comment, fixedCount ? "Elements" : "RowElements", width, ElementBlock));
    }

    /// <summary>dst[c] (+)= Σ_rows src[r, c], one thread per column (deterministic: no atomics).</summary>
    public void ColumnSums(string name, string comment, int source, int width, int destination, bool accumulate)
    {
        W.Line($"/* {comment}, one thread per column */");
        using (W.Block($"DSL_KERNEL({name})"))
        {
            using (W.Block($"DSL_FOR_ELEMENTS(c, {Int(width)})"))
            {
                W.Line("float sum = 0.0f;");
                W.Line($"for (int r = 0; r < args.rows; r++) sum += arena[{Int(source)} + r * {Int(width)} + c];");
                W.Line(accumulate ? $"arena[{Int(destination)} + c] += sum;" : $"arena[{Int(destination)} + c] = sum;");
            }
        }

        W.Line();
        Launches.Add(new CudaLaunchSpec(name, comment, "Elements", width, ElementBlock));
    }

    /// <summary>A shared-memory tree reduction of <paramref name="variable"/> over the block (block size a power of two).</summary>
    public void BlockReduce(string buffer, string variable, string combine) => BlockReduce(W, buffer, variable, combine);

    /// <summary>As <see cref="BlockReduce(string, string, string)"/>, into another writer.</summary>
    public static void BlockReduce(CodeWriter w, string buffer, string variable, string combine)
    {
        w.Line($"{buffer}[DSL_TID] = {variable};");
        w.Line("__syncthreads();");
        using (w.Block("for (int stride = DSL_BDIM / 2; stride > 0; stride >>= 1)"))
        {
            w.Line($"if (DSL_TID < stride) {buffer}[DSL_TID] = {string.Format(System.Globalization.CultureInfo.InvariantCulture, combine, $"{buffer}[DSL_TID]", $"{buffer}[DSL_TID + stride]")};");
            w.Line("__syncthreads();");
        }

        w.Line($"{variable} = {buffer}[0];");
        w.Line("__syncthreads();");
    }
}
