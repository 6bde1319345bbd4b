using System.Globalization;
using Microsoft.CodeAnalysis;
using Xunit;
using static Dsl.Analyzers.Tests.RuleTests;

namespace Dsl.Analyzers.Tests;

/// <summary>Ops.MultiTask: DSL319, DSL320 (NNS023) and the DSL107 forms a multi-task loss can get wrong.</summary>
public sealed class MultiTaskRuleTests
{
    /// <summary>A classifier head (Forward) and a 2-wide regression head on one trunk.</summary>
    private static string TwoHeads(string loss, string parameters = "Tensor x, Labels y, Tensor t") => $$"""
        [Model(Batch = 8, Input = 20)]
        public partial class M
        {
            [Dense(Out = 16)] public partial Tensor Trunk(Tensor x);
            [Dense(Out = 4)] public partial Tensor Classes(Tensor h);
            [Dense(Out = 2)] public partial Tensor Box(Tensor h);
            [Dense(Out = 3)] public partial Tensor Wide(Tensor h);
            public Tensor Forward(Tensor x) => Classes(Trunk(x));
            [Loss] public Scalar Loss({{parameters}}) => {{loss}};
        }
        """;

    private const string Ce = "Ops.SoftmaxCrossEntropy(Forward(x), y)";
    private const string Mse = "Ops.MeanSquaredError(Box(Trunk(x)), t)";

    private static string Message(Diagnostic d) => d.GetMessage(CultureInfo.InvariantCulture);

    [Fact]
    public void Multi_task_models_with_scale_free_weightings_are_clean()
    {
        Clean(TwoHeads($"Ops.MultiTask(TaskWeighting.LogSum, {Ce}, {Mse})"));
        Clean(TwoHeads($"Ops.MultiTask(TaskWeighting.InitialLoss, {Ce}, {Mse})"));
        Clean(TwoHeads($"Ops.MultiTask(TaskWeighting.Uncertainty, {Ce}, Ops.Flood({Mse}, 0.01))"));
    }

    [Fact]
    public void A_mean_pool_in_a_multi_task_model_is_DSL102()
    {
        var d = Fires("DSL102", $$"""
            [Model(Batch = 8, Sequence = 4)]
            public partial class M
            {
                [Embedding(Vocabulary = 10, Dim = 8)] public partial Tensor E(Tensor ids);
                [MeanPool] public partial Tensor Pool(Tensor x, Tensor ids);
                [Dense(Out = 4)] public partial Tensor Classes(Tensor h);
                [Dense(Out = 2)] public partial Tensor Box(Tensor h);
                public Tensor Forward(Tensor ids) => Classes([|Pool(E(ids), ids)|]);
                [Loss] public Scalar Loss(Tensor ids, Labels y, Tensor t) =>
                    Ops.MultiTask(TaskWeighting.LogSum, Ops.SoftmaxCrossEntropy(Forward(ids), y), Ops.MeanSquaredError(Box(Pool(E(ids), ids)), t));
            }
            """);
        Assert.Contains("a MeanPool in a model trained with Ops.MultiTask", Message(d));
    }

    [Fact]
    public void DSL319_fires_on_a_negative_task_weight()
    {
        var d = Fires("DSL319", TwoHeads($"Ops.MultiTask([1.0, [|-0.5|]], {Ce}, {Mse})"));
        Assert.StartsWith("Ops.MultiTask gives task 1, MeanSquaredError(…, t), the weight α = -0.5; task weights must be finite and ≥ 0", Message(d));
    }

    [Fact]
    public void DSL319_near_miss_a_zero_weight_switches_a_task_off() => Clean(TwoHeads($"Ops.MultiTask([1.0, 0.0], {Ce}, {Mse})"));

    [Fact]
    public void DSL320_fires_on_cross_entropy_and_squared_error_summed_with_equal_weights()
    {
        var d = Fires("DSL320", TwoHeads($"Ops.MultiTask([|TaskWeighting.Sum|], {Ce}, {Mse})"));
        Assert.StartsWith("Ops.MultiTask sums SoftmaxCrossEntropy(…, y) and MeanSquaredError(…, t) with equal weights", Message(d));
        Assert.Contains("cross-entropy starts near ln 4 = 1.386", Message(d));
        Fires("DSL320", TwoHeads($"Ops.MultiTask([|[2.0, 2.0]|], {Ce}, {Mse})"));
    }

    [Fact]
    public void DSL320_near_miss_unequal_weights_or_two_classification_tasks()
    {
        Clean(TwoHeads($"Ops.MultiTask([1.0, 0.2], {Ce}, {Mse})"));
        Clean(TwoHeads("Ops.MultiTask(TaskWeighting.Sum, Ops.SoftmaxCrossEntropy(Forward(x), y), Ops.FocalLoss(Wide(Trunk(x)), z))", "Tensor x, Labels y, Labels z"));
    }

    [Fact]
    public void DSL107_fires_on_several_targets_without_multi_task() =>
        Assert.Contains("it takes 2 target parameters but returns one loss", Message(FiresOn(TwoHeads(Ce))));

    [Fact]
    public void DSL107_fires_on_a_target_no_task_reads() =>
        Assert.Contains("its target parameter 'u' is read by no task", Message(FiresOn(TwoHeads($"Ops.MultiTask(TaskWeighting.LogSum, {Ce}, {Mse})", "Tensor x, Labels y, Tensor t, Tensor u"))));

    [Fact]
    public void DSL107_fires_on_two_tasks_on_one_prediction() =>
        Assert.Contains("two tasks of Ops.MultiTask read the same prediction", Message(FiresOn(TwoHeads(
            "Ops.MultiTask(TaskWeighting.LogSum, Ops.SoftmaxCrossEntropy(Forward(x), y), Ops.FocalLoss(Forward(x), y))", "Tensor x, Labels y"))));

    [Fact]
    public void DSL107_fires_on_a_weight_count_that_differs_from_the_loss_count() =>
        Assert.Contains("Ops.MultiTask has 2 losses but 3 weights", Message(FiresOn(TwoHeads($"Ops.MultiTask([1.0, 1.0, 1.0], {Ce}, {Mse})"))));

    [Fact]
    public void DSL107_fires_on_a_flood_around_the_multi_task() =>
        Assert.Contains("to flood a task of Ops.MultiTask, wrap that task's loss", Message(FiresOn(TwoHeads($"Ops.Flood(Ops.MultiTask(TaskWeighting.LogSum, {Ce}, {Mse}), 0.1)"))));

    [Fact]
    public void DSL107_fires_on_a_single_task() =>
        Assert.Contains("two or more loss ops", Message(FiresOn(TwoHeads($"Ops.MultiTask(TaskWeighting.LogSum, {Ce})", "Tensor x, Labels y"))));

    [Fact]
    public void DSL107_fires_on_tensor_targets_shared_by_heads_of_different_widths() =>
        Assert.Contains("the tasks that read 't' predict 2 and 3 columns", Message(FiresOn(TwoHeads(
            $"Ops.MultiTask(TaskWeighting.LogSum, {Ce}, {Mse}, Ops.MeanSquaredError(Wide(Trunk(x)), t))"))));

    /// <summary>Exactly one DSL107, anywhere.</summary>
    private static Diagnostic FiresOn(string source)
    {
        var run = AnalyzerHarness.Analyze(AnalyzerHarness.Compile(AnalyzerHarness.Header + source));
        Assert.Empty(run.Exceptions);
        return Assert.Single(run.Diagnostics, d => d.Id == "DSL107");
    }
}
