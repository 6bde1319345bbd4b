using System.Collections.Generic;
using Dsl.Generators.Emit;
using Dsl.Generators.Emit.Cuda;
using Dsl.Generators.Model;
using Dsl.Generators.Parsing;
using Dsl.Generators.Planning;
using static Dsl.Generators.Emit.Literals;

namespace Dsl.Generators.Ops;

/// <summary>How an activation's initialisation is judged (NNS015): ReLU-like units want He's 2/fan_in, linear-like
/// ones LeCun's 1/fan_in.</summary>
internal enum InitFamily { Other, ReluLike, LinearLike }

/// <summary>
/// An elementwise activation y = f(x): a layer attribute ([Tanh]) and an Ops method (Ops.Tanh(x)), fused into the
/// epilogue of a Dense that it reads alone, else a step of its own. A subclass states the facts (whether f′ needs
/// x, the initialisation gain), the names of its kernel struct (Dsl.Kernels) and CUDA device functions, and its
/// eager reference (Dsl.Ops).
/// </summary>
internal abstract class ActivationOp : Op
{
    /// <summary>The Ops method ("Tanh").</summary>
    public virtual string Method => Name;

    public override IReadOnlyList<string> Methods => new[] { Method };

    /// <summary>The activation can be computed in a Dense's GEMM epilogue (elementwise).</summary>
    public virtual bool FusesIntoEpilogue => true;

    /// <summary>Whether f′(x) needs x (else y = f(x) suffices and no pre-activation is kept): the shared fact
    /// (Dsl.Contracts.ActivationFacts) the kernel struct's <c>DerivativeNeedsInput</c> answers too.</summary>
    public abstract bool DerivativeNeedsInput { get; }

    /// <summary>The gain of a fan-in-scaled initialisation of the weights feeding it (Kaiming-style: keeps the forward
    /// variance near 1 for ReLU-like units).</summary>
    public virtual double InitGain => 1;

    /// <summary>Which initialisation it wants (the NNS015 rule).</summary>
    public virtual InitFamily Family => InitFamily.Other;

    /// <summary>Whether cuBLASLt's GELU epilogue computes it (GELU in its tanh form only).</summary>
    public virtual bool CublasLtGelu => false;

    /// <summary>The name in CPU comments ("tanh", "σ").</summary>
    public abstract string Short { get; }

    /// <summary>The name in CUDA comments.</summary>
    public virtual string CudaShort => Short;

    /// <summary>The kernel struct's name in Dsl.Kernels ("Tanh").</summary>
    public abstract string Kernel { get; }

    /// <summary>The kernel struct as a type argument.</summary>
    public string KernelType => $"{CpuWriter.Kernels}.{Kernel}<T>";

    /// <summary>The kernel struct's value (an activation with a parameter carries it).</summary>
    public virtual string KernelValue(OpOptions? options) => $"default({KernelType})";

    /// <summary>f(x) in CUDA C.</summary>
    public abstract string CudaForward(string x, OpOptions? options);

    /// <summary>The CUDA C device functions <see cref="CudaForward"/> and <see cref="CudaDerivative"/> call, printed once into
    /// every model's source in place of the prelude's activations marker (dsl_sigmoid is the prelude's own).</summary>
    public abstract string CudaDevice { get; }

    /// <summary>f′ given x and y = f(x), in CUDA C.</summary>
    public abstract string CudaDerivative(string x, string y, OpOptions? options);

    /// <summary>The eager reference call on <paramref name="x"/> (Dsl.Ops).</summary>
    public virtual string EagerCall(string x, OpOptions? options) => $"global::Dsl.Ops.{Method}({x})";

    public override (int In, int Out, OpOptions? Options) ReadLayer(LayerReader attribute) => (0, 0, null);

    public override int ReadCall(CallReader call)
    {
        int input = call.Node(0);
        return input < 0 ? -1 : call.AddNode(Name, new[] { input }, null);
    }

    public override string EagerBody(LayerMemberSpec member, string? binding) => EagerCall(member.ParameterName, member.Options);

    public override bool EagerWithoutBinding => true;

    public override PlanStep? Forward(PlanBuilder plan, NodeSpec node) =>
        plan.FusedFrom[node.Id] >= 0 ? null // done in the Dense's epilogue
        : new ForwardStep(node.Id, node.Layer, plan.Width(node), Name, node.Options, plan.InputValue(node), plan.Value[node.Id]);

    public override PlanStep? Backward(PlanBuilder plan, NodeSpec node)
    {
        int dx = plan.InputGrad(node);
        if (plan.FusedFrom[node.Id] >= 0 || dx < 0) return null; // a fused one: handled by the Dense's backward
        return new BackwardStep(node.Id, node.Layer, plan.Width(node), Name, node.Options, plan.InputValue(node), plan.Value[node.Id], dx, plan.Grad[node.Id], !plan.Overwrites(dx));
    }

    /// <summary>Y = f(X).</summary>
    internal sealed record ForwardStep(int Node, string Layer, int Width, string Activation, OpOptions? Options, int X, int Y) : PlanStep(Node, Layer)
    {
        private ActivationOp Op => OpRegistry.Get<ActivationOp>(Activation)!;

        public override void Cpu(CpuWriter w)
        {
            string n = $"rows * {Int(Width)}";
            w.Line($"// {Title}: y = {Activation}(x)");
            w.Line($"{CpuWriter.Kernels}.Activation.Forward<T, {Op.KernelType}>({Op.KernelValue(Options)}, {w.Span(X, n)}, {w.Span(Y, n)});");
        }

        public override void Cuda(CudaWriter w) =>
            w.Elementwise($"{w.Prefix}_activation", $"{Title}: y = {Op.CudaShort}(x)", Width, false,
                $"arena[{Int(Y)} + i] = {Op.CudaForward($"arena[{Int(X)} + i]", Options)};");
    }

    /// <summary>DX (+)= DY ⊙ f′(X).</summary>
    internal sealed record BackwardStep(int Node, string Layer, int Width, string Activation, OpOptions? Options, int X, int Y, int DX, int DY, bool AccumulateDX) : PlanStep(Node, Layer)
    {
        private ActivationOp Op => OpRegistry.Get<ActivationOp>(Activation)!;

        public override void Cpu(CpuWriter w)
        {
            string n = $"rows * {Int(Width)}";
            w.Line($"// {Title} backward — forward: y = {Op.Short}(x); ∂x {CpuWriter.Op(AccumulateDX)} ∂y ⊙ {Op.Short}′(x)");
            w.Line($"{CpuWriter.Kernels}.Activation.Backward<T, {Op.KernelType}>({Op.KernelValue(Options)}, {w.Span(X, n)}, {w.Span(Y, n)}, {w.Span(DY, n)}, {w.Span(AccumulateDX ? DY : DX, n)});");
            if (AccumulateDX) w.Line($"{CpuWriter.Kernels}.Elementwise.AddInPlace<T>({w.Span(DX, n)}, {w.Span(DY, n)});");
        }

        public override void Cuda(CudaWriter w) =>
            w.Elementwise($"{w.Prefix}_activation_backward", $"{Title} backward: ∂x {CudaWriter.Op(AccumulateDX)} ∂y ⊙ {Op.CudaShort}′(x)", Width, false,
                $"const float g = arena[{Int(DY)} + i] * {Op.CudaDerivative(X >= 0 ? $"arena[{Int(X)} + i]" : "0.0f", $"arena[{Int(Y)} + i]", Options)};",
                CudaWriter.Store(DX, "g", AccumulateDX));
    }
}

/// <summary>The identity, for a layer attribute no op takes (it was always read as an activation of no kind).</summary>
internal sealed class Identity : ActivationOp
{
    public const string Key = "None";

    public override string Name => Key;

    public override IReadOnlyList<string> Methods => System.Array.Empty<string>();

    public override bool DerivativeNeedsInput => Contracts.ActivationFacts.IdentityNeedsInput;

    public override InitFamily Family => InitFamily.LinearLike;

    public override string Short => "id";

    public override string Kernel => "Identity";

    public override string CudaDevice => "";

    public override string CudaForward(string x, OpOptions? options) => x;

    public override string CudaDerivative(string x, string y, OpOptions? options) => "1.0f";

    public override string EagerCall(string x, OpOptions? options) => x;
}
