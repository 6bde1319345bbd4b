using System;
using System.IO;
using Dsl.Cuda.Runner;
using Xunit;

namespace Dsl.Cuda.Tests;

/// <summary>A fact for the no-GPU path: skipped where a GPU is usable (there the runner would run the real checks).</summary>
public sealed class NoGpuFactAttribute : FactAttribute
{
    /// <summary>Sets <see cref="FactAttribute.Skip"/> when a GPU is usable.</summary>
    public NoGpuFactAttribute()
    {
        if (Gpu.Unavailable is null) Skip = "a GPU is usable: run `Dsl.Cuda.Runner parity` instead";
    }
}

/// <summary>The carried runner (bench/Dsl.Cuda.Runner) through its entry point, in process.</summary>
public sealed class RunnerTests
{
    [NoGpuFact]
    public void Every_subcommand_without_a_gpu_exits_with_the_unavailable_message_and_its_own_code()
    {
        foreach (string[] args in new[] { new[] { "parity" }, new[] { "time", "--model", "mlp" }, new[] { "parity", "--model", "chargpt", "--steps", "2" } })
        {
            var (code, output, error) = Run(args);
            Assert.Equal(RunnerProgram.NoGpu, code);
            Assert.Equal("no usable GPU: " + Gpu.Unavailable, error.Trim());
            Assert.Equal(string.Empty, output);
        }

        Assert.NotEqual(RunnerProgram.Ok, RunnerProgram.NoGpu);
        Assert.NotEqual(RunnerProgram.Failed, RunnerProgram.NoGpu);
        Assert.NotEqual(RunnerProgram.Usage, RunnerProgram.NoGpu);
    }

    [GpuFact]
    public void On_a_gpu_the_runner_parity_passes_for_both_models()
    {
        var (code, output, error) = Run(["parity", "--steps", "3"]);
        Assert.True(code == RunnerProgram.Ok, $"exit {code}\n{output}\n{error}");
        Assert.Contains("parity: PASS", output, StringComparison.Ordinal);
        Assert.DoesNotContain("FAIL", output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")]
    [InlineData("bench")]
    [InlineData("parity --steps 0")]
    [InlineData("time --model resnet")]
    [InlineData("time --python")]
    public void A_bad_command_line_exits_with_the_usage_code_before_touching_the_gpu(string commandLine)
    {
        var (code, output, error) = Run(commandLine.Split(' ', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal(RunnerProgram.Usage, code);
        Assert.Contains("usage: Dsl.Cuda.Runner parity", error, StringComparison.Ordinal);
        Assert.Equal(string.Empty, output);
    }

    [Fact]
    public void The_runner_models_have_no_step_the_cuda_emitter_leaves_out()
    {
        Assert.Empty(FashionMnist.FashionMlp.CudaProgram.Unsupported);
        Assert.Empty(CharGpt.CharGpt.CudaProgram.Unsupported);
        Assert.NotEmpty(CharGpt.CharGpt.CudaProgram.AdamW);
        Assert.NotEmpty(CharGpt.CharGpt.CudaProgram.GradientNorm);
    }

    [Fact]
    public void The_cpu_side_of_each_case_trains_and_its_tensors_tile_the_parameter_region()
    {
        foreach (var (c, classes) in new (ModelCase, int)[] { (new MlpCase(seed: 1), 10), (new GptCase(seed: 1337), 65) })
        {
            int covered = 0;
            foreach (var t in c.Tensors) covered += t.Length;
            Assert.True(covered > 0 && covered <= c.ParameterRegion, $"{c.Name}: tensors cover {covered} of {c.ParameterRegion}");

            c.CpuForward();
            double first = c.CpuTrainingPass(0);
            Assert.True(double.IsFinite(first) && first > 0, $"{c.Name}: loss {first}");
            if (classes == 65) Assert.True(Math.Abs(first - Math.Log(classes)) < 0.3, $"{c.Name}: initial loss {first}, ln {classes} = {Math.Log(classes)}");
            Assert.Contains(c.Arena.AsSpan(c.GradientOffset, c.ParameterRegion).ToArray(), g => g != 0);

            var adamW = c.NewAdamW();
            float[] before = c.Arena.AsSpan(0, c.ParameterRegion).ToArray();
            double loss = first;
            for (int step = 0; step < 5; step++)
            {
                c.CpuApply(adamW);
                loss = c.CpuTrainingPass((ulong)step + 1);
            }

            Assert.NotEqual(before, c.Arena.AsSpan(0, c.ParameterRegion).ToArray());
            Assert.True(loss < first, $"{c.Name}: loss {first} then {loss} after 5 AdamW steps on one batch");
        }
    }

    [Fact]
    public void The_pytorch_scripts_are_copied_next_to_the_runner()
    {
        string folder = Path.Combine(AppContext.BaseDirectory, "torch");
        foreach (string script in new[] { "torch_mlp.py", "torch_chargpt.py" })
            Assert.Contains("--device", File.ReadAllText(Path.Combine(folder, script)), StringComparison.Ordinal);
    }

    private static (int Code, string Output, string Error) Run(string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        int code = RunnerProgram.Run(args, output, error);
        return (code, output.ToString(), error.ToString());
    }
}
