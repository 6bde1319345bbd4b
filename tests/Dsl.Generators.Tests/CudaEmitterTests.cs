using System;
using Dsl.Generators.Emit;
using Xunit;

namespace Dsl.Generators.Tests;

/// <summary>The CUDA emitter's output file and its number spelling (the kernels' numbers are checked
/// in tests/Dsl.Tests/Cuda).</summary>
public sealed class CudaEmitterTests
{
    [Theory]
    [InlineData(3.0, "3.0f")]
    [InlineData(0.5, "0.5f")]
    [InlineData(1e-5, "1E-05f")]
    [InlineData(0.1, "0.1f")]
    [InlineData(-2.0, "-2.0f")]
    [InlineData(-0.0, "-0.0f")]
    [InlineData(double.NaN, "DSL_NAN")]
    [InlineData(double.PositiveInfinity, "DSL_INF")]
    [InlineData(double.NegativeInfinity, "(-DSL_INF)")]
    [InlineData(1e300, "DSL_INF")]
    public void Float_literals_are_valid_c(double value, string expected) => Assert.Equal(expected, CudaLiterals.Float(value));

    [Theory]
    [InlineData(4.0, "4.0")]
    [InlineData(0.05, "0.05")]
    [InlineData(1e-7, "1E-07")]
    public void Double_literals_are_valid_c(double value, string expected) => Assert.Equal(expected, CudaLiterals.Double(value));

    [Fact]
    public void ULong_literals_carry_their_suffix() => Assert.Equal("9007199254740992ULL", CudaLiterals.ULong(1UL << 53));

    [Fact]
    public void A_valid_model_gets_a_cuda_file_with_its_kernels_and_launch_lists()
    {
        var (_, _, run) = GeneratorHarness.Run(GeneratorHarness.Compile(Models.Mlp));
        string cuda = GeneratorHarness.Generated(run)["Samples.Mlp.Cuda.g.cs"];
        Assert.Contains("public const string CudaSource = ", cuda, StringComparison.Ordinal);
        Assert.Contains("DSL_KERNEL(loss_softmax_cross_entropy)", cuda, StringComparison.Ordinal);
        Assert.Contains("DSL_KERNEL(optimizer_adamw)", cuda, StringComparison.Ordinal);
        Assert.Contains("new global::Dsl.Cuda.CudaGemm(", cuda, StringComparison.Ordinal);
    }

    [Fact]
    public void An_invalid_model_gets_no_cuda_file()
    {
        var (_, _, run) = GeneratorHarness.Run(GeneratorHarness.Compile(Models.Mlp.Replace("Out = 16", "Out = 0", StringComparison.Ordinal)));
        Assert.DoesNotContain(GeneratorHarness.Generated(run).Keys, k => k.EndsWith(".Cuda.g.cs", StringComparison.Ordinal));
    }

    [Fact]
    public void The_cuda_file_is_deterministic()
    {
        string First() => GeneratorHarness.Generated(GeneratorHarness.Run(GeneratorHarness.Compile(Models.Residual)).Run)["Samples.Deep.Regressor.Cuda.g.cs"];
        string first = First();
        Assert.Equal(first, First());
        Assert.DoesNotContain("\r", first, StringComparison.Ordinal);
    }
}
