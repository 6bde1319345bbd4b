using Dsl.Generators.Diagnostics;
using Dsl.Generators.Emit;
using Dsl.Generators.Emit.Cuda;
using Dsl.Generators.Model;
using Dsl.Generators.Parsing;
using Dsl.Generators.Shapes;
using static Dsl.Generators.Emit.CudaLiterals;

namespace Dsl.Generators.Ops;

/// <summary>Softmax cross-entropy, mean over rows of −log softmax(z)[label], fused with ∂z = (softmax(z) − onehot)/rows:
/// Ops.SoftmaxCrossEntropy(Forward(x), labels).</summary>
internal sealed class SoftmaxCrossEntropy : LossOp
{
    public const string Key = "SoftmaxCrossEntropy";

    public override string Name => Key;

    public override string Method => "SoftmaxCrossEntropy";

    /// <summary>The plain loss's options: its target parameter.</summary>
    internal sealed record Options(string Target) : LossOptions(Target);

    public override bool ClaimsCall(string method, int arguments) => arguments != 3;

    public override bool IsPlain(LossOptions options) => !options.Flooded;

    public override int InferShape(ShapeContext shapes, NodeSpec node, LayerSpec? layer) => 1;

    protected override LossOptions? ReadOptions(CallReader call, string target) => new Options(target);

    public override int ReadCall(CallReader call) => ReadPlain(call, this, TargetKind.Labels, "Labels", t => new Options(t));

    /// <summary>The plain losses read their two arguments by position.</summary>
    internal static int ReadPlain(CallReader call, LossOp op, TargetKind expected, string word, System.Func<string, LossOptions> options)
    {
        string? target = call.Count == 2 ? call.TargetAt(1, expected) : null;
        if (target is null)
        {
            call.Report(DiagnosticCatalog.LossForm, "Loss", $"the second argument of Ops.{op.Method} must be the loss method's {word} parameter");
            return -1;
        }

        int prediction = call.Node(0);
        if (prediction < 0) return -1;
        int node = call.AddNode(op.Name, new[] { prediction }, options(target));
        call.RecordCall(node);
        return node;
    }

    public override (double Loss, string How)? InitialLoss(int k, LossOptions options) => (System.Math.Log(k), $"ln {k}");

    public override string Formula(LossOptions options) => "loss = mean over rows of −log softmax(z)[label]";

    public override string Kernel(CpuWriter w, LossOptions options, LossStep step, string target, bool gradient) =>
        $"{CpuWriter.Kernels}.SoftmaxCrossEntropy.{(gradient ? "ForwardBackward" : "Forward")}<T>({Prediction(w, step, gradient)}, {target}, rows, {Int(step.In)}{Tail(w, step, gradient)}";

    public override int CudaKernel(CudaWriter c, LossStep s, LossOptions options)
    {
        var w = c.W;
        int classes = s.In;
        string name = c.KernelPrefix + "loss_softmax_cross_entropy";
        c.Cooperative(name);
        w.Line($"/* loss = mean over rows of −log softmax(z)[label], fused with ∂z = (softmax(z) − onehot)/rows.");
        w.Line($"   One block per row; z at {Int(s.X)}, ∂z at {Int(s.DX)} (may be the same memory: z[label] is read before any write),");
        w.Line($"   the row's loss at {Int(c.Slot)} + row. */");
        using (w.Block($"DSL_KERNEL({name})"))
        {
            w.Line($"__shared__ float reduce[{Int(CudaWriter.RowBlock)}];");
            w.Line("const int r = DSL_BID;");
            w.Line("if (r >= args.rows) return;");
            w.Line($"const float* z = arena + {Int(s.X)} + r * {Int(classes)};");
            w.Line($"float* d = arena + {Int(s.DX)} + r * {Int(classes)};");
            w.Line($"const int label = {c.Label("r")};");
            w.Line($"const float zLabel = label >= 0 && label < {Int(classes)} ? z[label] : DSL_NAN;");
            w.Line("float m = -DSL_INF;");
            w.Line($"for (int j = DSL_TID; j < {Int(classes)}; j += DSL_BDIM) m = z[j] > m ? z[j] : m;");
            c.BlockReduce("reduce", "m", "{0} > {1} ? {0} : {1}");
            w.Line("float sum = 0.0f;");
            w.Line($"for (int j = DSL_TID; j < {Int(classes)}; j += DSL_BDIM) sum += DSL_EXPF(z[j] - m);");
            c.BlockReduce("reduce", "sum", "{0} + {1}");
            w.Line("const float scale = 1.0f / (float)args.rows;");
            w.Line($"for (int j = DSL_TID; j < {Int(classes)}; j += DSL_BDIM) d[j] = DSL_EXPF(z[j] - m) / sum * scale - (j == label ? scale : 0.0f);");
            w.Line($"if (DSL_TID == 0) arena[{Int(c.Slot)} + r] = DSL_LOGF(sum) + m - zLabel;");
        }

        w.Line();
        c.Launch(new CudaLaunchSpec(name, "softmax cross-entropy, value and gradient", "Rows", classes, CudaWriter.RowBlock));
        return 1;
    }
}
