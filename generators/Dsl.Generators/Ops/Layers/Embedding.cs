using System;
using Dsl.Contracts;
using Dsl.Generators.Diagnostics;
using Dsl.Generators.Emit;
using Dsl.Generators.Emit.Cuda;
using Dsl.Generators.Model;
using Dsl.Generators.Parsing;
using Dsl.Generators.Planning;
using Dsl.Generators.Rules;
using Dsl.Generators.Shapes;
using static Dsl.Generators.Emit.Literals;

namespace Dsl.Generators.Ops;

/// <summary>A token embedding: row r of the output is row ids[r] of a [Vocabulary, Dim] table ([Embedding(Vocabulary = V,
/// Dim = D)]). Applied to the model's input, which then holds token ids. NNS036: Dim below 8.31·ln V (DSL306).</summary>
internal sealed class Embedding : Op
{
    public const string Key = "Embedding";

    public const string AttributeKey = "EmbeddingAttribute";

    /// <summary>The word-vector coefficient 2 / (½ ln φ) = 4 / ln φ ≈ 8.3124 (SEEDS §1.8, [K-7695]; φ the golden ratio).</summary>
    internal static readonly double DimensionCoefficient = 4 / Math.Log((Math.Sqrt(5) + 1) / 2);

    public override string Name => Key;

    public override string? Attribute => AttributeKey;

    public override (int In, int Out, OpOptions? Options) ReadLayer(LayerReader attribute)
    {
        int vocabulary = attribute.Positive("Vocabulary");
        int dim = attribute.Positive("Dim");
        return (vocabulary, dim, null);
    }

    public override int InferShape(ShapeContext shapes, NodeSpec node, LayerSpec? layer) => layer!.Out > 0 ? layer.Out : -1;

    public override void CheckLayer(RuleContext rules, LayerSpec layer)
    {
        // NNS036: word-embedding dimension ([K-7695]).
        int vocabulary = layer.In, dim = layer.Out;
        if (vocabulary < 2 || dim <= 0) return;
        double floor = DimensionCoefficient * Math.Log(vocabulary);
        if (dim > floor) return;
        rules.Report(DiagnosticCatalog.EmbeddingDimension, Site.Layer(layer.Path, "Dim"), layer.Path, dim, vocabulary, RuleValues.Show(floor));
    }

    public override bool HasParameters(LayerSpec? layer) => true;

    public override void PlanParameters(PlanBuilder plan, LayerSpec layer)
    {
        int table = plan.AddParameter(layer.Path + ".weight", layer.Path, layer.In, layer.Out, true, InitKind.Normal, plan.Std > 0 ? plan.Std : 1);
        plan.Bind(layer.Path, new EmbeddingSlots(table, layer.In, layer.Out));
    }

    private static int Table(PlanBuilder plan, NodeSpec node) => EmbeddingSlots.Read(plan.BindingOf(node.Layer)!.Ints).Table;

    public override PlanStep? Forward(PlanBuilder plan, NodeSpec node)
    {
        var layer = plan.LayerOf(node)!;
        return new ForwardStep(node.Id, node.Layer, layer.In, layer.Out, plan.Value[node.Id], Table(plan, node));
    }

    public override PlanStep? Backward(PlanBuilder plan, NodeSpec node)
    {
        var layer = plan.LayerOf(node)!;
        int table = Table(plan, node);
        return new BackwardStep(node.Id, node.Layer, layer.In, layer.Out, plan.GradientOffset + table, plan.Grad[node.Id], plan.AccumulateParams(table));
    }

    public override string Describe(LayerSpec layer, ModelSpec model) => $"Embedding {Int(layer.In)} tokens → {Int(layer.Out)}";

    /// <summary>Y[r] = W[ids[r]] (token ids from the engine's Tokens).</summary>
    internal sealed record ForwardStep(int Node, string Layer, int Vocabulary, int Dim, int Y, int W) : PlanStep(Node, Layer)
    {
        public override void Cpu(CpuWriter w)
        {
            w.Line($"// {Layer}: Embedding [{Int(Vocabulary)}, {Int(Dim)}]: y[r] = table[ids[r]]");
            w.Line($"{CpuWriter.Kernels}.Embedding.Forward<T>(global::System.MemoryExtensions.AsSpan(Tokens, 0, rows), {w.Span(W, Int(Vocabulary * Dim))}, {Int(Vocabulary)}, {Int(Dim)}, {w.Span(Y, $"rows * {Int(Dim)}")});");
        }

        public override void Cuda(CudaWriter w)
        {
            w.W.Line($"/* ==== {Layer}: Embedding [{Int(Vocabulary)}, {Int(Dim)}]: y[r] = table[ids[r]] ==== */");
            w.Elementwise($"{w.Prefix}_embedding", $"{Layer}: y[r] = table[ids[r]] (an id outside [0, {Int(Vocabulary)}) gives NaN)", Dim, false,
                $"const int id = ids[i / {Int(Dim)}];",
                $"arena[{Int(Y)} + i] = id >= 0 && id < {Int(Vocabulary)} ? arena[{Int(W)} + id * {Int(Dim)} + c] : DSL_NAN;");
        }
    }

    /// <summary>∂W[ids[r]] (+)= DY[r].</summary>
    internal sealed record BackwardStep(int Node, string Layer, int Vocabulary, int Dim, int GW, int DY, bool AccumulateParams) : PlanStep(Node, Layer)
    {
        public override System.Collections.Generic.IReadOnlyList<(int Start, int Length)>? GradientWrites(ModelPlan plan) => new[] { (GW, Vocabulary * Dim) };

        public override void Cpu(CpuWriter w)
        {
            w.Line($"// {Layer} backward — forward: y[r] = table[ids[r]]; ∂table[ids[r]] {CpuWriter.Op(AccumulateParams)} ∂y[r] (scatter-add)");
            w.Line($"{CpuWriter.Kernels}.Embedding.Backward<T>(global::System.MemoryExtensions.AsSpan(Tokens, 0, rows), {w.Span(DY, $"rows * {Int(Dim)}")}, {Int(Dim)}, {w.Span(GW, Int(Vocabulary * Dim))}, {Int(Vocabulary)}, {Bool(AccumulateParams)});");
        }

        public override void Cuda(CudaWriter w)
        {
            // One thread per table element gathering the rows with its id: deterministic, no atomics; costs
            // vocabulary × rows × width reads, fine for character and small vocabularies.
            w.Elementwise($"{w.Prefix}_embedding_backward", $"{Layer} backward: ∂table[v] {CudaWriter.Op(AccumulateParams)} Σ_(r: ids[r] = v) ∂y[r], gathered per table element", Vocabulary * Dim, true,
                $"const int v = i / {Int(Dim)}, column = i % {Int(Dim)};",
                "float sum = 0.0f;",
                $"for (int r = 0; r < args.rows; r++) if (ids[r] == v) sum += arena[{Int(DY)} + r * {Int(Dim)} + column];",
                AccumulateParams ? $"arena[{Int(GW)} + i] += sum;" : $"arena[{Int(GW)} + i] = sum;");
        }
    }
}
