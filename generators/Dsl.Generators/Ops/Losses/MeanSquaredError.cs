using Dsl.Generators.Emit;
using Dsl.Generators.Emit.Cuda;
using Dsl.Generators.Model;
using Dsl.Generators.Parsing;
using Dsl.Generators.Shapes;
using static Dsl.Generators.Emit.CudaLiterals;

namespace Dsl.Generators.Ops;

/// <summary>The mean squared error over all elements, fused with ∂p = 2(p − t)/n: Ops.MeanSquaredError(Forward(x), targets).</summary>
internal sealed class MeanSquaredError : LossOp
{
    public override string Name => "MeanSquaredError";

    public override string Method => "MeanSquaredError";

    public override TargetKind Targets => TargetKind.Tensor;

    public override bool IsRegression => true;

    /// <summary>The loss's options: its target parameter.</summary>
    internal sealed record Options(string Target) : LossOptions(Target);

    public override bool IsPlain(LossOptions options) => !options.Flooded;

    public override int InferShape(ShapeContext shapes, NodeSpec node, LayerSpec? layer) => 1;

    protected override LossOptions? ReadOptions(CallReader call, string target) => new Options(target);

    public override int ReadCall(CallReader call) => SoftmaxCrossEntropy.ReadPlain(call, this, TargetKind.Tensor, "Tensor", t => new Options(t));

    public override string Formula(LossOptions options) => "loss = mean (p − t)²";

    public override string Kernel(CpuWriter w, LossOptions options, LossStep step, string target, bool gradient) => gradient
        ? $"{CpuWriter.Kernels}.MeanSquaredError.ForwardBackward<T>({Prediction(w, step, true)}, {target}, {Gradient(w, step)}, T.One)"
        : $"{CpuWriter.Kernels}.MeanSquaredError.Forward<T>({Prediction(w, step, false)}, {target})";

    public override int CudaKernel(CudaWriter c, LossStep s, LossOptions options)
    {
        var w = c.W;
        int width = s.In;
        string name = c.KernelPrefix + "loss_mean_squared_error";
        c.Cooperative(name);
        w.Line($"/* loss = mean (p − t)² over rows × {Int(width)}, fused with ∂p = 2(p − t)/n. One block per row;");
        w.Line($"   p at {Int(s.X)}, ∂p at {Int(s.DX)}, targets in the targets buffer, Σ_row (p − t)² at {Int(c.Slot)} + row. */");
        using (w.Block($"DSL_KERNEL({name})"))
        {
            w.Line($"__shared__ float reduce[{Int(CudaWriter.RowBlock)}];");
            w.Line("const int r = DSL_BID;");
            w.Line("if (r >= args.rows) return;");
            w.Line($"const float coefficient = 2.0f / (float)(args.rows * {Int(width)});");
            w.Line("float sum = 0.0f;");
            using (w.Block($"for (int j = DSL_TID; j < {Int(width)}; j += DSL_BDIM)"))
            {
                w.Line($"const int i = r * {Int(width)} + j;");
                w.Line($"const float diff = arena[{Int(s.X)} + i] - {c.Target("i")};");
                w.Line("sum += diff * diff;");
                w.Line($"arena[{Int(s.DX)} + i] = coefficient * diff;");
            }

            c.BlockReduce("reduce", "sum", "{0} + {1}");
            w.Line($"if (DSL_TID == 0) arena[{Int(c.Slot)} + r] = sum;");
        }

        w.Line();
        c.Launch(new CudaLaunchSpec(name, "mean squared error, value and gradient", "Rows", width, CudaWriter.RowBlock));
        return s.In;
    }
}
