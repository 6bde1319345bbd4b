using System;
using System.Linq;
using Dsl.Cuda;
using Dsl.Optimizers;
using Xunit;

namespace Dsl.Tests.Cuda;

/// <summary>
/// cuBLASLt epilogues: which Dense forward products the emitter marks, and both matmul paths (the fused
/// cublasLtMatmul reference, and cublasSgemm followed by the bias/activation kernel) against the CPU engine.
/// </summary>
public sealed partial class CudaEmulationTests
{
    private static readonly int[] s_epilogueLabels = { 4, 0, 2, 3 };

    private static Subject EpilogueSubject(CudaProgram program)
    {
        var e = new EpilogueMlp.Engine<float>(seed: 61);
        // Non-zero biases from the first step (they start at zero), so a bias read from the wrong place shows at once.
        var random = new Dsl.Runtime.SeededRandom(62);
        foreach (var t in EpilogueMlp.Engine<float>.Tensors)
        {
            if (!t.Name.EndsWith(".bias", StringComparison.Ordinal)) continue;
            for (int i = 0; i < t.Length; i++) e.Arena[t.Offset + i] = (float)((random.NextDouble() - 0.5) * 0.5);
        }

        return new Subject(program, e.Arena, e.Seed, b => e.TrainingPass(b, s_epilogueLabels), e.ApplyOptimizer, s => e.DropoutStep = s,
            EpilogueMlp.Engine<float>.InputOffset, EpilogueMlp.InputFeatures, EpilogueMlp.Engine<float>.OutputOffset, EpilogueMlp.OutputFeatures,
            EpilogueMlp.Engine<float>.GradientOffset, EpilogueMlp.Engine<float>.Tensors.ToArray());
    }

    private static int ProductIndex(CudaProgram program, string layer) =>
        program.Forward.ToList().FindIndex(l => l.Gemm is not null && l.Comment.StartsWith(layer + ": y = x·Wᵀ", StringComparison.Ordinal));

    [Fact]
    public void Dense_forward_products_are_marked_with_the_epilogues_cublaslt_offers()
    {
        var program = EpilogueMlp.CudaProgram;
        var tensors = EpilogueMlp.Engine<float>.Tensors.ToArray();
        int Offset(string name) => tensors.Single(t => t.Name == name).Offset;

        void Fused(string layer, CudaEpilogue epilogue, string? bias, bool keepsZ)
        {
            int i = ProductIndex(program, layer);
            Assert.True(i >= 0, layer);
            var gemm = program.Forward[i].Gemm!;
            Assert.Equal(epilogue, gemm.Epilogue);
            Assert.Equal(bias is null ? -1 : Offset(bias), gemm.Bias);
            Assert.Equal(keepsZ, gemm.Aux >= 0);
            // The kernel doing the same on the cublasSgemm path follows the product and is skipped when it is fused.
            Assert.True(program.Forward[i + 1] is { Gemm: null, UnlessFused: true } next && next.Name.EndsWith("_dense_epilogue", StringComparison.Ordinal), layer);
        }

        void NotFused(string layer, bool hasKernel)
        {
            int i = ProductIndex(program, layer);
            Assert.True(i >= 0, layer);
            Assert.Equal(CudaEpilogue.None, program.Forward[i].Gemm!.Epilogue);
            if (hasKernel) Assert.True(program.Forward[i + 1] is { UnlessFused: false } next && next.Name.EndsWith("_dense_epilogue", StringComparison.Ordinal), layer);
        }

        Fused("Up", CudaEpilogue.GeluBias, "Up.bias", keepsZ: true);
        Fused("Mid", CudaEpilogue.Gelu, null, keepsZ: true);
        NotFused("Narrow", hasKernel: true);
        NotFused("Exact", hasKernel: true);
        NotFused("Plain", hasKernel: false);
        Fused("Head", CudaEpilogue.Bias, "Head.bias", keepsZ: false);
        Assert.Equal(CublasLtEpilogue.GeluAuxBias, program.Forward[ProductIndex(program, "Up")].Gemm!.ToCublasLt(4).Epilogue);
        Assert.Equal(CublasLtEpilogue.GeluAux, program.Forward[ProductIndex(program, "Mid")].Gemm!.ToCublasLt(4).Epilogue);
        Assert.Equal(CublasLtEpilogue.Bias, program.Forward[ProductIndex(program, "Head")].Gemm!.ToCublasLt(4).Epilogue);
        Assert.Contains("CUBLASLT_EPILOGUE_GELU_AUX_BIAS", program.Source, StringComparison.Ordinal);
        // Only forward products fuse; the backward is unchanged.
        Assert.All(program.Backward, l => Assert.False(l.UnlessFused || l.Gemm is { Epilogue: not CudaEpilogue.None }, l.Name));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void EpilogueMlp_matches_the_cpu_engine_on_both_matmul_paths(bool cublasLt)
    {
        var subject = EpilogueSubject(EpilogueMlp.CudaProgram);
        var emulator = Check(subject, s_epilogueLabels.Length, s_epilogueLabels, Array.Empty<float>(), new AdamW(learningRate: 0.01) { MaxGradientNorm = 0.5 },
            o => CudaArgs.ForAdamW((AdamW)o), EpilogueMlp.CudaProgram.AdamW, steps: 2, cublasLt: cublasLt);
        Assert.Equal(cublasLt ? 3 * 2 : 0, emulator.FusedProducts);
        Assert.Equal(emulator.FusedProducts, emulator.SkippedKernels);
    }

    /// <summary>The fused path's check can fail: one product's epilogue changed in the launch list (the GELU dropped, the
    /// bias read one element on, z not kept for the backward, a GELU added).</summary>
    [Theory]
    [InlineData("Up", "no GELU")]
    [InlineData("Up", "bias one element on")]
    [InlineData("Mid", "z not kept")]
    [InlineData("Head", "GELU after the bias")]
    public void A_wrong_epilogue_fails_the_check(string layer, string mutation)
    {
        var good = EpilogueMlp.CudaProgram;
        var forward = good.Forward.ToArray();
        int i = ProductIndex(good, layer);
        var gemm = forward[i].Gemm!;
        forward[i] = forward[i] with
        {
            Gemm = mutation switch
            {
                "no GELU" => gemm with { Epilogue = CudaEpilogue.Bias, Aux = -1 },
                "bias one element on" => gemm with { Bias = gemm.Bias + 1 },
                "z not kept" => gemm with { Aux = -1 },
                _ => gemm with { Epilogue = CudaEpilogue.GeluBias },
            },
        };
        var bad = good with { Model = "EpilogueMlpMutated", Forward = forward };
        var e = Assert.ThrowsAny<Xunit.Sdk.XunitException>(() => Check(EpilogueSubject(bad), s_epilogueLabels.Length, s_epilogueLabels, Array.Empty<float>(), new Sgd(0.05),
            o => CudaArgs.ForSgd((Sgd)o), bad.Sgd, steps: 1));
        Assert.Contains("emulated CUDA", e.Message, StringComparison.Ordinal);
    }
}
