using Dsl.Generators.Model;
using Dsl.Generators.Planning;
using Dsl.Generators.Shapes;

namespace Dsl.Generators.Ops;

/// <summary>The model's input: rows of <c>Input</c> features staged in the arena, or token ids (which live in the
/// engine's int buffer, outside the arena, and feed the embeddings).</summary>
internal sealed class Input : Op
{
    public const string Key = "Input";

    public override string Name => Key;

    public override bool Shares => false;

    public override int InferShape(ShapeContext shapes, NodeSpec node, LayerSpec? layer) => shapes.Model.InputWidth > 0 ? shapes.Model.InputWidth : -1;

    public override string Label(NodeSpec node) => "input";

    public override void PlanValues(PlanBuilder plan, NodeSpec node)
    {
        // Token ids live in the engine's int buffer, not in the arena.
        if (!plan.Model.TokenInput) plan.Value[node.Id] = plan.InputOffset = plan.Allocate(Label(node), plan.Rows, plan.Width(node));
    }
}
