using System;
using System.Collections.Generic;
using System.Linq;
using Dsl.Cuda;
using Dsl.Tests.EndToEnd;
using Xunit;

namespace Dsl.Tests.Cuda;

/// <summary>
/// Every generated model's CUDA C compiles to PTX with clang-14 and no CUDA SDK (the CI check of
/// DESIGN.md), and every kernel its launch lists name is an entry point of that PTX.
/// </summary>
public sealed class CudaPtxTests
{
    /// <summary>Every model the tests and samples generate.</summary>
    internal static readonly Dictionary<string, Func<CudaProgram>> Programs = new(StringComparer.Ordinal)
    {
        ["AllOps"] = () => AllOps.CudaProgram,
        ["CumaxNet"] = () => CumaxNet.CudaProgram,
        ["AlibiNet"] = () => AlibiNet.CudaProgram,
        ["Regressor"] = () => Regressor.CudaProgram,
        ["WideMlp"] = () => WideMlp.CudaProgram,
        ["TinyGpt"] = () => TinyGpt.CudaProgram,
        ["CausalRope"] = () => CausalRope.CudaProgram,
        ["WindowKeySize"] = () => WindowKeySize.CudaProgram,
        ["EntropyTalkingHeads"] = () => EntropyTalkingHeads.CudaProgram,
        ["LinearBoth"] = () => LinearBoth.CudaProgram,
        ["DeepNormStack"] = () => DeepNormStack.CudaProgram,
        ["LongAttention"] = () => LongAttention.CudaProgram,
        ["WindowedTalkingHeads"] = () => WindowedTalkingHeads.CudaProgram,
        ["CharGpt"] = () => CharGpt.CharGpt.CudaProgram,
        ["CharGptRope"] = () => CharGpt.CharGptRope.CudaProgram,
        ["FocalNet"] = () => FocalNet.CudaProgram,
        ["FocalHalfNet"] = () => FocalHalfNet.CudaProgram,
        ["SmoothedNet"] = () => SmoothedNet.CudaProgram,
        ["AdjustedNet"] = () => AdjustedNet.CudaProgram,
        ["AdjustedAtRunTimeNet"] = () => AdjustedAtRunTimeNet.CudaProgram,
        ["TaiLrNet"] = () => TaiLrNet.CudaProgram,
        ["FloodBelowNet"] = () => FloodBelowNet.CudaProgram,
        ["FloodAboveNet"] = () => FloodAboveNet.CudaProgram,
        ["FloodedFocalNet"] = () => FloodedFocalNet.CudaProgram,
        ["CoSentPairs"] = () => CoSentPairs.CudaProgram,
        ["CosineMsePairs"] = () => CosineMsePairs.CudaProgram,
        ["PooledClassifier"] = () => PooledClassifier.CudaProgram,
        ["PooledRegressor"] = () => PooledRegressor.CudaProgram,
        ["SpectralClassifier"] = () => SpectralClassifier.CudaProgram,
        ["AdversarialTagger"] = () => AdversarialTagger.CudaProgram,
        ["CoSentModel"] = () => CoSentEncoder.CoSentModel.CudaProgram,
        ["CosineMseModel"] = () => CoSentEncoder.CosineMseModel.CudaProgram,
        ["MultiTaskSumNet"] = () => MultiTaskSumNet.CudaProgram,
        ["MultiTaskWeightsNet"] = () => MultiTaskWeightsNet.CudaProgram,
        ["MultiTaskInitialNet"] = () => MultiTaskInitialNet.CudaProgram,
        ["MultiTaskLogSumNet"] = () => MultiTaskLogSumNet.CudaProgram,
        ["MultiTaskUncertaintyNet"] = () => MultiTaskUncertaintyNet.CudaProgram,
        ["MultiTaskThreeNet"] = () => MultiTaskThreeNet.CudaProgram,
        ["MultiTaskAdversarialNet"] = () => MultiTaskAdversarialNet.CudaProgram,
        ["DropGptRecompute"] = () => DropGptRecompute.CudaProgram,
        ["RopePairRecompute"] = () => RopePairRecompute.CudaProgram,
        ["DeepNormRecompute"] = () => DeepNormRecompute.CudaProgram,
    };

    public static TheoryData<string> Models() => new(Programs.Keys);

    [Theory]
    [MemberData(nameof(Models))]
    public void Every_kernel_compiles_to_ptx(string model)
    {
        var program = Programs[model]();
        string ptx = CudaToolchain.CompileToPtx(model, program.Source);
        var entries = ptx.Split('\n').Where(l => l.StartsWith(".visible .entry ", StringComparison.Ordinal))
            .Select(l => l.Substring(".visible .entry ".Length).Split('(')[0].Trim()).ToHashSet(StringComparer.Ordinal);
        var names = program.KernelNames().ToList();
        Assert.NotEmpty(names);
        var missing = names.Where(n => !entries.Contains(n)).ToList();
        Assert.True(missing.Count == 0, $"{model}: launch-list kernels missing from the PTX: {string.Join(", ", missing)}");
    }

    [Theory]
    [InlineData("AllOps")]
    [InlineData("CumaxNet")]
    [InlineData("AlibiNet")]
    [InlineData("Regressor")]
    [InlineData("WideMlp")]
    [InlineData("TinyGpt")]
    [InlineData("CausalRope")]
    [InlineData("WindowKeySize")]
    [InlineData("DeepNormStack")]
    [InlineData("CharGpt")]
    [InlineData("CharGptRope")]
    [InlineData("EntropyTalkingHeads")]
    [InlineData("WindowedTalkingHeads")]
    [InlineData("FocalNet")]
    [InlineData("SmoothedNet")]
    [InlineData("AdjustedNet")]
    [InlineData("TaiLrNet")]
    [InlineData("FloodAboveNet")]
    [InlineData("FloodedFocalNet")]
    [InlineData("CoSentPairs")]
    [InlineData("CosineMsePairs")]
    [InlineData("PooledClassifier")]
    [InlineData("PooledRegressor")]
    [InlineData("CoSentModel")]
    [InlineData("CosineMseModel")]
    [InlineData("MultiTaskLogSumNet")]
    [InlineData("MultiTaskUncertaintyNet")]
    [InlineData("MultiTaskThreeNet")]
    [InlineData("MultiTaskAdversarialNet")]
    public void Models_are_emitted_completely(string model)
    {
        var program = Programs[model]();
        Assert.Empty(program.Unsupported);
        Assert.Contains(program.Forward, l => l.Gemm is not null);
        Assert.NotEmpty(program.Loss);
        Assert.NotEmpty(program.Backward);
        Assert.NotEmpty(program.Lion);
    }

    [Fact]
    public void Spectral_norm_is_emitted_around_the_schedule()
    {
        // Power iteration and W̄ = W/σ before the forward schedule, the σ term after the backward one.
        var program = SpectralClassifier.CudaProgram;
        Assert.Empty(program.Unsupported);
        Assert.Equal(new[] { "sn0_power_iteration", "sn0_normalize", "sn1_power_iteration", "sn1_normalize" }, program.Forward.Take(4).Select(l => l.Name));
        Assert.Equal(new[] { "sn0_backward", "sn1_backward" }, program.Backward.TakeLast(2).Select(l => l.Name));
        Assert.DoesNotContain(program.Forward.Skip(4), l => l.Name.StartsWith("sn", StringComparison.Ordinal));
    }

    [Fact]
    public void Multi_task_losses_have_a_loss_and_a_scale_per_task()
    {
        // Three tasks: focal on the trunk's early head, flooded label smoothing, MSE; each with its own kernels and slots.
        var program = MultiTaskThreeNet.CudaProgram;
        var multi = program.MultiTask!;
        Assert.Equal(TaskWeighting.LogSum, multi.Weighting);
        Assert.Equal(new[] { "task0_loss_focal", "task1_loss_label_smoothing", "task1_loss_flood", "task2_loss_mean_squared_error" }, program.Loss.Select(l => l.Name));
        Assert.Equal(new[] { "task0_scale", "task1_scale", "task2_scale" }, multi.Scale.Select(l => l.Name));
        Assert.Equal(new[] { 1, 1, 2 }, multi.Tasks.Select(t => t.LossDivisor));
        Assert.Equal(new[] { 0, 0, 1 }, multi.Tasks.Select(t => t.Target));
        Assert.Equal(program.MaxRows, multi.Tasks[1].LossOffset - multi.Tasks[0].LossOffset);
        Assert.True(multi.FactorOffset >= multi.Tasks[^1].LossOffset + program.MaxRows && multi.FactorOffset + 3 <= program.ArenaLength);
        // Both label tasks read the same labels; the tensor target comes first in the targets buffer.
        Assert.Equal(new[] { 0, 0 }, multi.Targets.Select(t => t.Offset));
        Assert.Contains("labels[r]", program.Source, StringComparison.Ordinal);
        Assert.True(MultiTaskAdversarialNet.CudaProgram.Adversarial);
    }

    [Fact]
    public void Fgm_has_its_own_launch_lists()
    {
        var program = AdversarialTagger.CudaProgram;
        Assert.Empty(program.Unsupported);
        Assert.True(program.Adversarial);
        Assert.Equal(new[] { "fgm_save_gradients", "fgm_perturb" }, program.AdversarialPerturb.Select(l => l.Name));
        Assert.Equal(new[] { "fgm_restore" }, program.AdversarialRestore.Select(l => l.Name));
        Assert.DoesNotContain(program.Forward.Concat(program.Backward), l => l.Name.StartsWith("fgm", StringComparison.Ordinal));
        Assert.False(PlainTagger.CudaProgram.Adversarial);
        Assert.Empty(PlainTagger.CudaProgram.AdversarialRestore);
    }

    [Fact]
    public void A_kernel_error_is_reported_with_the_compiler_message()
    {
        var e = Assert.Throws<InvalidOperationException>(() => CudaToolchain.CompileToPtx("Broken", AllOps.CudaSource + "\nDSL_KERNEL(broken) { undeclared_name = 1; }\n"));
        Assert.Contains("undeclared_name", e.Message, StringComparison.Ordinal);
    }
}
