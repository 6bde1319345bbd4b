using System;
using System.Linq;
using Dsl.Cuda;
using Dsl.Optimizers;
using Dsl.Runtime;
using Dsl.Tests.EndToEnd;
using Xunit;

namespace Dsl.Tests.Cuda;

// Multi-task losses (Ops.MultiTask, tests/Dsl.Tests/EndToEnd/MultiTaskModels.cs) on the emulated CUDA path: each task's
// loss kernel with its own slots and targets, the host weighting (CudaTaskWeights, the code CudaSession runs), the
// per-head scale kernels and the shared backward, against the CPU engine: the combined loss, each task's loss and factor,
// every gradient (s_i of the uncertainty weighting included) and the parameters after AdamW steps.
public sealed partial class CudaEmulationTests
{
    private static readonly int[] s_taskLabels = { 3, 0, 1, 2, 3, 1 };

    private static float[] TaskBoxes(int count)
    {
        var random = new SeededRandom(61);
        return Enumerable.Range(0, count).Select(_ => (float)random.NextGaussian()).ToArray();
    }

    public static TheoryData<string> MultiTaskModels() => new(s_multiTask.Keys);

    /// <summary>Per model: the subject, and after each pass the CPU engine's task losses and factors.</summary>
    private static readonly System.Collections.Generic.Dictionary<string, Func<float[], (Subject Subject, Func<double[]> Losses, Func<double[]> Weights)>> s_multiTask = new(StringComparer.Ordinal)
    {
        ["MultiTaskWeightsNet"] = box =>
        {
            var e = new MultiTaskWeightsNet.Engine<float>(seed: 51);
            return (new Subject(MultiTaskWeightsNet.CudaProgram, e.Arena, e.Seed, b => e.TrainingPass(b, s_taskLabels, box), e.ApplyOptimizer, s => e.DropoutStep = s,
                MultiTaskWeightsNet.Engine<float>.InputOffset, MultiTaskWeightsNet.InputFeatures, MultiTaskWeightsNet.Engine<float>.OutputOffset, MultiTaskWeightsNet.OutputFeatures, MultiTaskWeightsNet.Engine<float>.GradientOffset, MultiTaskWeightsNet.Engine<float>.Tensors.ToArray()),
                () => e.TaskLosses.ToArray(), () => e.TaskWeights.ToArray());
        },
        ["MultiTaskInitialNet"] = box =>
        {
            var e = new MultiTaskInitialNet.Engine<float>(seed: 52);
            return (new Subject(MultiTaskInitialNet.CudaProgram, e.Arena, e.Seed, b => e.TrainingPass(b, s_taskLabels, box), e.ApplyOptimizer, s => e.DropoutStep = s,
                MultiTaskInitialNet.Engine<float>.InputOffset, MultiTaskInitialNet.InputFeatures, MultiTaskInitialNet.Engine<float>.OutputOffset, MultiTaskInitialNet.OutputFeatures, MultiTaskInitialNet.Engine<float>.GradientOffset, MultiTaskInitialNet.Engine<float>.Tensors.ToArray()),
                () => e.TaskLosses.ToArray(), () => e.TaskWeights.ToArray());
        },
        ["MultiTaskLogSumNet"] = box =>
        {
            var e = new MultiTaskLogSumNet.Engine<float>(seed: 53);
            return (new Subject(MultiTaskLogSumNet.CudaProgram, e.Arena, e.Seed, b => e.TrainingPass(b, s_taskLabels, box), e.ApplyOptimizer, s => e.DropoutStep = s,
                MultiTaskLogSumNet.Engine<float>.InputOffset, MultiTaskLogSumNet.InputFeatures, MultiTaskLogSumNet.Engine<float>.OutputOffset, MultiTaskLogSumNet.OutputFeatures, MultiTaskLogSumNet.Engine<float>.GradientOffset, MultiTaskLogSumNet.Engine<float>.Tensors.ToArray()),
                () => e.TaskLosses.ToArray(), () => e.TaskWeights.ToArray());
        },
        ["MultiTaskUncertaintyNet"] = box =>
        {
            var e = new MultiTaskUncertaintyNet.Engine<float>(seed: 54);
            return (new Subject(MultiTaskUncertaintyNet.CudaProgram, e.Arena, e.Seed, b => e.TrainingPass(b, s_taskLabels, box), e.ApplyOptimizer, s => e.DropoutStep = s,
                MultiTaskUncertaintyNet.Engine<float>.InputOffset, MultiTaskUncertaintyNet.InputFeatures, MultiTaskUncertaintyNet.Engine<float>.OutputOffset, MultiTaskUncertaintyNet.OutputFeatures, MultiTaskUncertaintyNet.Engine<float>.GradientOffset, MultiTaskUncertaintyNet.Engine<float>.Tensors.ToArray()),
                () => e.TaskLosses.ToArray(), () => e.TaskWeights.ToArray());
        },
        ["MultiTaskThreeNet"] = box =>
        {
            var e = new MultiTaskThreeNet.Engine<float>(seed: 55);
            return (new Subject(MultiTaskThreeNet.CudaProgram, e.Arena, e.Seed, b => e.TrainingPass(b, s_taskLabels, box), e.ApplyOptimizer, s => e.DropoutStep = s,
                MultiTaskThreeNet.Engine<float>.InputOffset, MultiTaskThreeNet.InputFeatures, MultiTaskThreeNet.Engine<float>.OutputOffset, MultiTaskThreeNet.OutputFeatures, MultiTaskThreeNet.Engine<float>.GradientOffset, MultiTaskThreeNet.Engine<float>.Tensors.ToArray()),
                () => e.TaskLosses.ToArray(), () => e.TaskWeights.ToArray());
        },
    };

    private static CudaTargets TaskTargets(CudaProgram program, float[] box)
    {
        var targets = new CudaTargets(program).SetLabels("y", s_taskLabels);
        return targets.SetTensor("box", box);
    }

    private static int BoxWidth(CudaProgram program) => program.MultiTask!.Targets.First(t => t.Name == "box").Width;

    [Theory]
    [MemberData(nameof(MultiTaskModels))]
    public void Multi_task_losses_match_the_cpu_engine(string model)
    {
        int batch = s_taskLabels.Length;
        var program = s_multiTask[model](Array.Empty<float>()).Subject.Program;
        float[] box = TaskBoxes(batch * BoxWidth(program));
        var (subject, losses, weights) = s_multiTask[model](box);
        var targets = TaskTargets(program, box);
        int count = program.MultiTask!.Tasks.Count;
        Check(subject, batch, targets.LabelArray, targets.TensorArray, new AdamW(learningRate: 0.01), o => CudaArgs.ForAdamW((AdamW)o), program.AdamW, steps: 3,
            afterEmulatedPass: (step, emulator) =>
            {
                double[] expected = losses(), factors = weights();
                var actual = emulator.TaskWeights!;
                Assert.Equal(count, actual.TaskLosses.Length);
                for (int t = 0; t < count; t++)
                {
                    Close($"step {step}: task {t} loss", expected[t], actual.TaskLosses[t]);
                    Close($"step {step}: task {t} factor", factors[t], actual.TaskWeights[t]);
                }
            });
    }

    [Fact]
    public void Multi_task_targets_are_staged_per_target()
    {
        var program = MultiTaskUncertaintyNet.CudaProgram;
        var multi = program.MultiTask!;
        Assert.Equal(TaskWeighting.Uncertainty, multi.Weighting);
        Assert.Equal(new[] { "y", "box" }, multi.Targets.Select(t => t.Name));
        Assert.True(multi.LogVarianceGradientOffset > multi.LogVarianceOffset && multi.LogVarianceOffset >= 0);
        Assert.Equal(-1, MultiTaskLogSumNet.CudaProgram.MultiTask!.LogVarianceOffset);
        Assert.Null(AllOps.CudaProgram.MultiTask);
        var targets = new CudaTargets(program);
        var e = Assert.Throws<ArgumentException>(() => targets.SetTensor("box", new float[4]));
        Assert.Contains("'box'", e.Message, StringComparison.Ordinal);
        Assert.Contains("3 floats", e.Message, StringComparison.Ordinal);
        e = Assert.Throws<ArgumentException>(() => targets.SetLabels("box", new int[2]));
        Assert.Contains("SetTensor", e.Message, StringComparison.Ordinal);
        e = Assert.Throws<ArgumentException>(() => targets.SetLabels("labels", new int[2]));
        Assert.Contains("no target 'labels'", e.Message, StringComparison.Ordinal);
        targets.SetLabels("y", new int[2]);
        e = Assert.Throws<ArgumentException>(() => targets.Require(2));
        Assert.Contains("'box' is not set", e.Message, StringComparison.Ordinal);
        targets.SetTensor("box", new float[9]);
        e = Assert.Throws<ArgumentException>(() => targets.Require(2));
        Assert.Contains("'box' has 3 rows but the inputs have 2", e.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => new CudaTargets(AllOps.CudaProgram));
    }

    [Fact]
    public void Skipping_the_task_scaling_fails_the_check()
    {
        // The multi-task check can fail: the per-head scale kernels turned into no-ops (unweighted gradients).
        var good = MultiTaskLogSumNet.CudaProgram;
        Assert.Contains("*= arena[", good.Source, StringComparison.Ordinal);
        var bad = good with
        {
            Model = "MultiTaskLogSumNetUnscaled",
            Source = good.Source.Replace("*= arena[", "*= 1.0f + 0.0f * arena[", StringComparison.Ordinal),
        };
        int batch = s_taskLabels.Length;
        float[] box = TaskBoxes(batch * BoxWidth(good));
        var (subject, _, _) = s_multiTask["MultiTaskLogSumNet"](box);
        subject = subject with { Program = bad };
        var targets = TaskTargets(good, box);
        var e = Assert.ThrowsAny<Xunit.Sdk.XunitException>(() => Check(subject, batch, targets.LabelArray, targets.TensorArray, new AdamW(learningRate: 0.01), o => CudaArgs.ForAdamW((AdamW)o), bad.AdamW, steps: 1));
        Assert.Contains("∂", e.Message, StringComparison.Ordinal);
    }
}
