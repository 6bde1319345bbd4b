using System;
using System.Linq;
using Dsl.Cuda;
using Dsl.Optimizers;
using Dsl.Runtime;
using Dsl.Tests.EndToEnd;
using Xunit;

namespace Dsl.Tests.Cuda;

/// <summary>
/// The generated CUDA kernels' numbers, checked on the CPU: the same source compiled as C++ (see
/// dsl_emulate.h) runs the model's launch lists, with a column-major reference for the cuBLAS calls,
/// and must match the CPU engine's forward output, loss, parameter gradients, gradient norm and
/// parameters after optimizer steps, within 1e-4 relative.
/// </summary>
public sealed partial class CudaEmulationTests
{
    private const double Tolerance = 1e-4;

    /// <summary>What the check needs from a model's float engine.</summary>
    private sealed record Subject(
        CudaProgram Program, float[] Arena, ulong Seed, Func<int, double> TrainingPass, Action<Optimizer> ApplyOptimizer, Action<ulong> SetDropoutStep,
        int InputOffset, int InputWidth, int OutputOffset, int OutputWidth, int GradientOffset, ParameterTensor[] Tensors)
    {
        /// <summary>The subject for a generated engine: its arena, seed, optimizer and dropout step through
        /// <see cref="IEngine{T}"/>, its layout from the engine type's constants (InputOffset is −1 and
        /// InputFeatures 1 for a token model), <paramref name="pass"/> its training pass on the test's targets.</summary>
        public static Subject Of(CudaProgram program, IEngine<float> engine, Func<int, double> pass)
        {
            var type = engine.GetType();
            int Constant(string name) => (int)(type.GetField(name) ?? throw new MissingFieldException(type.Name, name)).GetValue(null)!;
            return new Subject(program, engine.Arena, engine.Seed, pass, engine.ApplyOptimizer, s => engine.DropoutStep = s,
                Constant("InputOffset"), Constant("InputFeatures"), Constant("OutputOffset"), Constant("OutputFeatures"), Constant("GradientOffset"),
                engine.ParameterTensors.ToArray());
        }
    }

    [Fact]
    public void AllOps_matches_the_cpu_engine_with_adamw_and_clipping()
    {
        const int batch = 4;
        int[] labels = { 2, 0, 1, 2 };
        var engine = new AllOps.Engine<float>(seed: 11);
        var subject = Subject.Of(AllOps.CudaProgram, engine, b => engine.TrainingPass(b, labels));
        // A clipping threshold below the gradient norm, so the clipped path runs.
        var adamW = new AdamW(learningRate: 0.01, weightDecay: 0.1) { MaxGradientNorm = 0.05 };
        Check(subject, batch, labels, Array.Empty<float>(), adamW, o => CudaArgs.ForAdamW((AdamW)o), AllOps.CudaProgram.AdamW);
    }

    [Fact]
    public void CumaxNet_matches_the_cpu_engine()
    {
        // cumax's row kernels (one thread per row, prefix then suffix sums), its input gradient accumulated from two readers.
        const int batch = 3;
        int[] labels = { 1, 2, 0 };
        var engine = new CumaxNet.Engine<float>(seed: 17);
        var subject = Subject.Of(CumaxNet.CudaProgram, engine, b => engine.TrainingPass(b, labels));
        Check(subject, batch, labels, Array.Empty<float>(), new AdamW(learningRate: 0.01), o => CudaArgs.ForAdamW((AdamW)o), CumaxNet.CudaProgram.AdamW, steps: 2);
    }

    [Fact]
    public void Regressor_matches_the_cpu_engine_with_sgd()
    {
        const int batch = 5;
        var random = new SeededRandom(21);
        float[] targets = Enumerable.Range(0, batch * Regressor.OutputFeatures).Select(_ => (float)random.NextGaussian()).ToArray();
        var engine = new Regressor.Engine<float>(seed: 12);
        var subject = Subject.Of(Regressor.CudaProgram, engine, b => engine.TrainingPass(b, targets));
        var sgd = new Sgd(0.05, momentum: 0.9, weightDecay: 0.01);
        Check(subject, batch, Array.Empty<int>(), targets, sgd, o => CudaArgs.ForSgd((Sgd)o), Regressor.CudaProgram.Sgd);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void WideMlp_matches_the_cpu_engine_on_a_partial_batch(bool cublasLt)
    {
        // The Fashion-MNIST shape (784 → 256 → 256 → 10, dropout, GELU) on fewer rows than MaxBatch.
        const int batch = 6;
        int[] labels = { 3, 9, 0, 1, 7, 7 };
        var engine = new WideMlp.Engine<float>(seed: 13);
        var subject = Subject.Of(WideMlp.CudaProgram, engine, b => engine.TrainingPass(b, labels));
        var emulator = Check(subject, batch, labels, Array.Empty<float>(), new AdamW(learningRate: 1e-3), o => CudaArgs.ForAdamW((AdamW)o), WideMlp.CudaProgram.AdamW, steps: 2, cublasLt: cublasLt);
        // Hidden2 (GELU_AUX_BIAS) and Classes (BIAS) each step; Hidden1's ReLU stays a kernel.
        Assert.Equal(cublasLt ? 2 * 2 : 0, emulator.FusedProducts);
        Assert.Equal(emulator.FusedProducts, emulator.SkippedKernels);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void TinyGpt_matches_the_cpu_engine(bool cublasLt)
    {
        // Token and position embeddings, causal attention, LayerNorm without bias and the fused
        // residual add, a head tied to the embedding.
        const int batch = 2;
        int rows = batch * TinyGpt.Sequence;
        var engine = new TinyGpt.Engine<float>(seed: 14);
        for (int r = 0; r < rows; r++) engine.Tokens[r] = (r * 3 + 1) % 7;
        int[] labels = Enumerable.Range(0, rows).Select(r => (r * 5 + 2) % 7).ToArray();
        var subject = Subject.Of(TinyGpt.CudaProgram, engine, b => engine.TrainingPass(b, labels));
        var emulator = Check(subject, batch, labels, Array.Empty<float>(), new AdamW(learningRate: 0.01) { MaxGradientNorm = 1 }, o => CudaArgs.ForAdamW((AdamW)o), TinyGpt.CudaProgram.AdamW,
            sequence: TinyGpt.Sequence, ids: (int[])engine.Tokens.Clone(), cublasLt: cublasLt);
        // Each block's MLP up-projection (no bias, GELU: GELU_AUX), two blocks, three steps.
        Assert.Equal(cublasLt ? 2 * 3 : 0, emulator.FusedProducts);
    }

    [Fact]
    public void A_recomputed_stack_with_dropout_matches_the_cpu_engine()
    {
        // [Recompute]: the backward launches run each block's forward kernels again (the same dropout masks) first.
        const int batch = 3;
        int rows = batch * DropGptRecompute.Sequence;
        var engine = new DropGptRecompute.Engine<float>(seed: 18);
        for (int r = 0; r < rows; r++) engine.Tokens[r] = (r * 5 + 3) % 7;
        int[] labels = Enumerable.Range(0, rows).Select(r => (r * 3 + 1) % 7).ToArray();
        var subject = new Subject(DropGptRecompute.CudaProgram, engine.Arena, engine.Seed, b => engine.TrainingPass(b, labels), engine.ApplyOptimizer, s => engine.DropoutStep = s,
            -1, 1, DropGptRecompute.Engine<float>.OutputOffset, DropGptRecompute.OutputFeatures, DropGptRecompute.Engine<float>.GradientOffset, DropGptRecompute.Engine<float>.Tensors.ToArray());
        Assert.Contains(DropGptRecompute.CudaProgram.Backward, l => l.Name.EndsWith("_dropout", StringComparison.Ordinal));
        Check(subject, batch, labels, Array.Empty<float>(), new AdamW(learningRate: 0.01) { MaxGradientNorm = 1 }, o => CudaArgs.ForAdamW((AdamW)o), DropGptRecompute.CudaProgram.AdamW,
            sequence: DropGptRecompute.Sequence, ids: (int[])engine.Tokens.Clone());
    }

    [Fact]
    public void CausalRope_matches_the_cpu_engine()
    {
        const int batch = 2;
        int rows = batch * CausalRope.Sequence;
        int[] labels = Enumerable.Range(0, rows).Select(r => r % 3).ToArray();
        var engine = new CausalRope.Engine<float>(seed: 15);
        var subject = Subject.Of(CausalRope.CudaProgram, engine, b => engine.TrainingPass(b, labels));
        Check(subject, batch, labels, Array.Empty<float>(), new Sgd(0.05), o => CudaArgs.ForSgd((Sgd)o), CausalRope.CudaProgram.Sgd, sequence: CausalRope.Sequence);
    }

    [Fact]
    public void AlibiNet_matches_the_cpu_engine()
    {
        // ALiBi's per-head slopes (three heads: the interleaved ones) in the forward and both backward kernels.
        const int batch = 2;
        int rows = batch * AlibiNet.Sequence;
        int[] labels = Enumerable.Range(0, rows).Select(r => (r + 2) % 3).ToArray();
        var engine = new AlibiNet.Engine<float>(seed: 18);
        var subject = Subject.Of(AlibiNet.CudaProgram, engine, b => engine.TrainingPass(b, labels));
        // One step: every output, loss, gradient and updated parameter agrees. At the next step one element, ∂Norm.bias[0]
        // (−7.47e-6, 1800 times below its tensor's largest), differs by 4.5e-8: float rounding of a 12-row sum that
        // cancels, where a wrong bias is off at the first step (the next test).
        Check(subject, batch, labels, Array.Empty<float>(), new Sgd(0.05), o => CudaArgs.ForSgd((Sgd)o), AlibiNet.CudaProgram.Sgd, steps: 1, sequence: AlibiNet.Sequence);
    }

    [Fact]
    public void Alibi_without_the_bias_in_the_key_gradient_kernel_fails_the_check()
    {
        // The ∂k, ∂v kernel recomputing p without ALiBi: the check must see it at the first step.
        var good = AlibiNet.CudaProgram;
        const string biased = " - slope * (float)(i > j ? i - j : j - i) - lses[ii]";
        Assert.Contains(biased, good.Source, StringComparison.Ordinal);
        var bad = good with { Model = "AlibiNetMutated", Source = good.Source.Replace(biased, " - lses[ii]", StringComparison.Ordinal) };
        const int batch = 2;
        int rows = batch * AlibiNet.Sequence;
        int[] labels = Enumerable.Range(0, rows).Select(r => (r + 2) % 3).ToArray();
        var engine = new AlibiNet.Engine<float>(seed: 18);
        var subject = Subject.Of(bad, engine, b => engine.TrainingPass(b, labels));
        var e = Assert.ThrowsAny<Xunit.Sdk.XunitException>(() => Check(subject, batch, labels, Array.Empty<float>(), new Sgd(0.05), o => CudaArgs.ForSgd((Sgd)o), bad.Sgd, steps: 1, sequence: AlibiNet.Sequence));
        Assert.Contains("step 0", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void WindowKeySize_matches_the_cpu_engine()
    {
        // A window, key size ≠ value size, a fixed scale, partial RoPE, RMSNorm; one example of two.
        const int batch = 1;
        int rows = batch * WindowKeySize.Sequence;
        int[] labels = Enumerable.Range(0, rows).Select(r => (r + 1) % 3).ToArray();
        var engine = new WindowKeySize.Engine<float>(seed: 16);
        var subject = Subject.Of(WindowKeySize.CudaProgram, engine, b => engine.TrainingPass(b, labels));
        // SGD: the key bias's gradient is zero in exact arithmetic, and AdamW would blow its rounding noise up to a full step.
        Check(subject, batch, labels, Array.Empty<float>(), new Sgd(0.05), o => CudaArgs.ForSgd((Sgd)o), WindowKeySize.CudaProgram.Sgd, sequence: WindowKeySize.Sequence);
    }

    [Fact]
    public void DeepNormStack_matches_the_cpu_engine()
    {
        // Non-causal attention, DeepNorm skips, LayerNorm after the residual add, three repeats.
        const int batch = 2;
        int rows = batch * DeepNormStack.Sequence;
        int[] labels = Enumerable.Range(0, rows).Select(r => (r * 2) % 3).ToArray();
        var engine = new DeepNormStack.Engine<float>(seed: 17);
        var subject = Subject.Of(DeepNormStack.CudaProgram, engine, b => engine.TrainingPass(b, labels));
        Check(subject, batch, labels, Array.Empty<float>(), new Sgd(0.05, weightDecay: 0.01), o => CudaArgs.ForSgd((Sgd)o), DeepNormStack.CudaProgram.Sgd, sequence: DeepNormStack.Sequence);
    }

    [Fact]
    public void LongAttention_matches_the_cpu_engine_across_tiles()
    {
        // 70 positions: three tiles of 32, the last partial; a causal layer and a non-causal window of
        // 35 with entropy-invariant scaling and key size ≠ value size.
        const int batch = 2;
        int rows = batch * LongAttention.Sequence;
        int[] labels = Enumerable.Range(0, rows).Select(r => (r * 3) % 4).ToArray();
        var engine = new LongAttention.Engine<float>(seed: 18);
        var subject = Subject.Of(LongAttention.CudaProgram, engine, b => engine.TrainingPass(b, labels));
        Check(subject, batch, labels, Array.Empty<float>(), new Sgd(0.05), o => CudaArgs.ForSgd((Sgd)o), LongAttention.CudaProgram.Sgd, steps: 2, sequence: LongAttention.Sequence);
    }

    [Fact]
    public void EntropyTalkingHeads_matches_the_cpu_engine()
    {
        // Talking heads (pre- and post-softmax head mixing) with causal entropy-invariant scaling; the mix
        // gradients are summed over every query of the batch.
        const int batch = 2;
        int rows = batch * EntropyTalkingHeads.Sequence;
        int[] labels = Enumerable.Range(0, rows).Select(r => (r * 2 + 1) % 3).ToArray();
        var engine = new EntropyTalkingHeads.Engine<float>(seed: 20);
        var subject = Subject.Of(EntropyTalkingHeads.CudaProgram, engine, b => engine.TrainingPass(b, labels));
        Check(subject, batch, labels, Array.Empty<float>(), new Sgd(0.05), o => CudaArgs.ForSgd((Sgd)o), EntropyTalkingHeads.CudaProgram.Sgd, sequence: EntropyTalkingHeads.Sequence);
    }

    [Fact]
    public void WindowedTalkingHeads_matches_the_cpu_engine_across_blocks()
    {
        const int batch = 2;
        int rows = batch * WindowedTalkingHeads.Sequence;
        int[] labels = Enumerable.Range(0, rows).Select(r => (r * 3 + 1) % 4).ToArray();
        var engine = new WindowedTalkingHeads.Engine<float>(seed: 23);
        var subject = Subject.Of(WindowedTalkingHeads.CudaProgram, engine, b => engine.TrainingPass(b, labels));
        Check(subject, batch, labels, Array.Empty<float>(), new Sgd(0.05), o => CudaArgs.ForSgd((Sgd)o), WindowedTalkingHeads.CudaProgram.Sgd, steps: 2, sequence: WindowedTalkingHeads.Sequence);
    }

    [Fact]
    public void LinearBoth_matches_the_cpu_engine()
    {
        // Causal and global linear attention (φ = elu + 1), key size ≠ value size, mean squared error.
        const int batch = 2;
        int rows = batch * LinearBoth.Sequence;
        var random = new SeededRandom(22);
        float[] targets = Enumerable.Range(0, rows * LinearBoth.OutputFeatures).Select(_ => (float)random.NextGaussian()).ToArray();
        var engine = new LinearBoth.Engine<float>(seed: 19);
        var subject = Subject.Of(LinearBoth.CudaProgram, engine, b => engine.TrainingPass(b, targets));
        Check(subject, batch, Array.Empty<int>(), targets, new Sgd(0.05), o => CudaArgs.ForSgd((Sgd)o), LinearBoth.CudaProgram.Sgd, sequence: LinearBoth.Sequence);
    }

    private static readonly int[] s_lossLabels = { 3, 0, 1, 2, 3, 1 };

    /// <summary>The loss models of LossModels.cs (same layers: 5 → 7 tanh → 4, six rows): each row loss's fused kernel.</summary>
    public static TheoryData<string> RowLossModels() => new(s_rowLoss.Keys);

    private static readonly System.Collections.Generic.Dictionary<string, Func<Subject>> s_rowLoss = new(StringComparer.Ordinal)
    {
        ["FocalNet"] = () =>
        {
            var e = new FocalNet.Engine<float>(seed: 31);
            return Subject.Of(FocalNet.CudaProgram, e, b => e.TrainingPass(b, s_lossLabels));
        },
        ["FocalHalfNet"] = () =>
        {
            var e = new FocalHalfNet.Engine<float>(seed: 32);
            return Subject.Of(FocalHalfNet.CudaProgram, e, b => e.TrainingPass(b, s_lossLabels));
        },
        ["SmoothedNet"] = () =>
        {
            var e = new SmoothedNet.Engine<float>(seed: 33);
            return Subject.Of(SmoothedNet.CudaProgram, e, b => e.TrainingPass(b, s_lossLabels));
        },
        ["AdjustedNet"] = () =>
        {
            var e = new AdjustedNet.Engine<float>(seed: 34);
            return Subject.Of(AdjustedNet.CudaProgram, e, b => e.TrainingPass(b, s_lossLabels));
        },
        ["AdjustedAtRunTimeNet"] = () =>
        {
            var e = new AdjustedAtRunTimeNet.Engine<float>(seed: 35);
            return Subject.Of(AdjustedAtRunTimeNet.CudaProgram, e, b => e.TrainingPass(b, s_lossLabels));
        },
        ["TaiLrNet"] = () =>
        {
            var e = new TaiLrNet.Engine<float>(seed: 36);
            return Subject.Of(TaiLrNet.CudaProgram, e, b => e.TrainingPass(b, s_lossLabels));
        },
        ["FloodBelowNet"] = () =>
        {
            var e = new FloodBelowNet.Engine<float>(seed: 37);
            return Subject.Of(FloodBelowNet.CudaProgram, e, b => e.TrainingPass(b, s_lossLabels));
        },
        ["FloodAboveNet"] = () =>
        {
            var e = new FloodAboveNet.Engine<float>(seed: 38);
            return Subject.Of(FloodAboveNet.CudaProgram, e, b => e.TrainingPass(b, s_lossLabels));
        },
        ["FloodedFocalNet"] = () =>
        {
            var e = new FloodedFocalNet.Engine<float>(seed: 39);
            return Subject.Of(FloodedFocalNet.CudaProgram, e, b => e.TrainingPass(b, s_lossLabels));
        },
    };

    [Theory]
    [MemberData(nameof(RowLossModels))]
    public void Row_losses_match_the_cpu_engine(string model)
    {
        var subject = s_rowLoss[model]();
        Check(subject, s_lossLabels.Length, s_lossLabels, Array.Empty<float>(), new Sgd(0.1, momentum: 0.9), o => CudaArgs.ForSgd((Sgd)o), subject.Program.Sgd, steps: 2);
    }

    [Fact]
    public void Lion_matches_the_cpu_optimizer_with_clipping()
    {
        var subject = s_rowLoss["FocalNet"]();
        // Large steps on purpose, so that three steps move the parameters measurably (DSL315 would advise 1e-3).
#pragma warning disable DSL315
        var lion = new Lion(learningRate: 0.01, weightDecay: 0.5) { MaxGradientNorm = 0.05 };
#pragma warning restore DSL315
        Check(subject, s_lossLabels.Length, s_lossLabels, Array.Empty<float>(), lion, o => CudaArgs.ForLion((Lion)o), FocalNet.CudaProgram.Lion, steps: 3);
    }

    [Fact]
    public void CoSent_through_mean_pooling_matches_the_cpu_engine()
    {
        const int batch = 8;
        var engine = new CoSentPairs.Engine<float>(seed: 41);
        int[] ids = PairIds(batch, CoSentPairs.Sequence, 11);
        ids.CopyTo(engine.Tokens, 0);
        float[] scores = { 4.2f, 1.0f, 3.0f, 1.0f }; // a tie: (1, 3) is no ordered pair
        var subject = Subject.Of(CoSentPairs.CudaProgram, engine, b => engine.TrainingPass(b, scores));
        Check(subject, batch, Array.Empty<int>(), scores, new AdamW(learningRate: 0.01), o => CudaArgs.ForAdamW((AdamW)o), CoSentPairs.CudaProgram.AdamW,
            sequence: CoSentPairs.Sequence, ids: ids, pooled: true);
    }

    [Fact]
    public void Sequence_classification_through_mean_pooling_matches_the_cpu_engine()
    {
        const int batch = 8;
        var engine = new PooledClassifier.Engine<float>(seed: 43);
        int[] ids = PairIds(batch, PooledClassifier.Sequence, 13);
        ids.CopyTo(engine.Tokens, 0);
        int[] labels = { 0, 2, 1, 1, 0, 2, 2, 1 }; // one label per sequence
        var subject = Subject.Of(PooledClassifier.CudaProgram, engine, b => engine.TrainingPass(b, labels));
        Check(subject, batch, labels, Array.Empty<float>(), new AdamW(learningRate: 0.01), o => CudaArgs.ForAdamW((AdamW)o), PooledClassifier.CudaProgram.AdamW,
            sequence: PooledClassifier.Sequence, ids: ids, pooled: true);
    }

    [Fact]
    public void CosineMse_through_mean_pooling_matches_the_cpu_engine()
    {
        const int batch = 8;
        var engine = new CosineMsePairs.Engine<float>(seed: 42);
        int[] ids = PairIds(batch, CosineMsePairs.Sequence, 11);
        ids.CopyTo(engine.Tokens, 0);
        float[] scores = { 0.9f, -0.2f, 0.4f, 0.1f };
        var subject = Subject.Of(CosineMsePairs.CudaProgram, engine, b => engine.TrainingPass(b, scores));
        Check(subject, batch, Array.Empty<int>(), scores, new Sgd(0.1), o => CudaArgs.ForSgd((Sgd)o), CosineMsePairs.CudaProgram.Sgd,
            sequence: CosineMsePairs.Sequence, ids: ids, pooled: true);
    }

    /// <summary>Token ids with pads (0) at the ends of some sentences and one all-pad sentence (its mean is 0).</summary>
    private static int[] PairIds(int batch, int sequence, int vocabulary)
    {
        var ids = new int[batch * sequence];
        for (int b = 0; b < batch; b++)
        {
            int length = b == 5 ? 0 : sequence - (b % 3);
            for (int t = 0; t < length; t++) ids[(b * sequence) + t] = 1 + ((b * 7 + t * 3) % (vocabulary - 1));
        }

        return ids;
    }

    [Fact]
    public void A_wrong_kernel_fails_the_check()
    {
        // The check can fail: the same model with one constant of the GELU derivative changed.
        var good = AllOps.CudaProgram;
        Assert.Contains("0.134145f", good.Source, StringComparison.Ordinal);
        var bad = good with { Model = "AllOpsMutated", Source = good.Source.Replace("0.134145f", "0.13f", StringComparison.Ordinal) };
        int[] labels = { 2, 0, 1, 2 };
        var engine = new AllOps.Engine<float>(seed: 11);
        var subject = Subject.Of(bad, engine, b => engine.TrainingPass(b, labels));
        var e = Assert.ThrowsAny<Xunit.Sdk.XunitException>(() => Check(subject, 4, labels, Array.Empty<float>(), new AdamW(), o => CudaArgs.ForAdamW((AdamW)o), bad.AdamW, steps: 1));
        Assert.Contains("∂", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_wrong_pair_loss_kernel_fails_the_check()
    {
        // The pooled pair-loss check can fail: CoSENT with its per-pair cosine gradient halved.
        var good = CoSentPairs.CudaProgram;
        Assert.Contains("dc[i] = g;", good.Source, StringComparison.Ordinal);
        var bad = good with { Model = "CoSentPairsMutated", Source = good.Source.Replace("dc[i] = g;", "dc[i] = 0.5 * g;", StringComparison.Ordinal) };
        const int batch = 8;
        var engine = new CoSentPairs.Engine<float>(seed: 41);
        int[] ids = PairIds(batch, CoSentPairs.Sequence, 11);
        ids.CopyTo(engine.Tokens, 0);
        float[] scores = { 4.2f, 1.0f, 3.0f, 1.0f };
        var subject = Subject.Of(bad, engine, b => engine.TrainingPass(b, scores));
        var e = Assert.ThrowsAny<Xunit.Sdk.XunitException>(() => Check(subject, batch, Array.Empty<int>(), scores, new Sgd(0.1), o => CudaArgs.ForSgd((Sgd)o), bad.Sgd,
            steps: 1, sequence: CoSentPairs.Sequence, ids: ids, pooled: true));
        Assert.Contains("∂", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_wrong_talking_heads_kernel_fails_the_check()
    {
        // The talking-heads check can fail: λ·∂Ĵ scaled by 1.01 (∂q, ∂k and so the mixes' inputs go wrong).
        var good = EntropyTalkingHeads.CudaProgram;
        Assert.Contains("sum *= lambda;", good.Source, StringComparison.Ordinal);
        var bad = good with
        {
            Model = "EntropyTalkingHeadsMutated",
            Source = good.Source.Replace("sum *= lambda;", "sum *= 1.01f * lambda;", StringComparison.Ordinal),
        };
        const int batch = 2;
        int rows = batch * EntropyTalkingHeads.Sequence;
        int[] labels = Enumerable.Range(0, rows).Select(r => (r * 2 + 1) % 3).ToArray();
        var engine = new EntropyTalkingHeads.Engine<float>(seed: 20);
        var subject = Subject.Of(bad, engine, b => engine.TrainingPass(b, labels));
        var e = Assert.ThrowsAny<Xunit.Sdk.XunitException>(() => Check(subject, batch, labels, Array.Empty<float>(), new Sgd(0.05), o => CudaArgs.ForSgd((Sgd)o), bad.Sgd,
            steps: 1, sequence: EntropyTalkingHeads.Sequence));
        Assert.Contains("∂", e.Message, StringComparison.Ordinal);
    }

    private static CudaEmulator Check(Subject s, int batch, int[] labels, float[] targets, Optimizer optimizer, Func<Optimizer, CudaArgs> argsFor,
        System.Collections.Generic.IReadOnlyList<CudaLaunch> update, int steps = 3, int sequence = 1, int[]? ids = null, bool pooled = false, Action<int, float[]>? afterPass = null, bool adversarial = false,
        bool cublasLt = true, Action<int, CudaEmulator>? afterEmulatedPass = null)
    {
        var program = s.Program;
        int rows = batch * sequence;
        int outputRows = pooled ? batch : rows;
        ids ??= Array.Empty<int>();
        var random = new SeededRandom(5);
        if (s.InputOffset >= 0)
        {
            for (int i = 0; i < rows * s.InputWidth; i++) s.Arena[s.InputOffset + i] = (float)((random.NextDouble() * 2) - 1);
        }

        var emulator = new CudaEmulator(program, cublasLt);
        float[] device = new float[program.ArenaLength];
        s.Arena.CopyTo(device, 0);

        for (int step = 0; step < steps; step++)
        {
            s.SetDropoutStep((ulong)step);
            double expectedLoss = s.TrainingPass(batch);
            double loss = adversarial
                ? emulator.AdversarialPass(device, rows, batch, ids, labels, targets, s.Seed, (ulong)step)
                : emulator.TrainingPass(device, rows, batch, ids, labels, targets, s.Seed, (ulong)step);
            Close($"step {step}: loss", expectedLoss, loss);
            float gradientScale = MaxAbs(s.Arena.AsSpan(s.GradientOffset, s.GradientOffset)); // the gradient region is as long as the parameter region before it
            Close($"step {step}: output", s.Arena.AsSpan(s.OutputOffset, outputRows * s.OutputWidth), device.AsSpan(s.OutputOffset, outputRows * s.OutputWidth));
            var failures = new System.Collections.Generic.List<string>();
            foreach (var t in s.Tensors)
                Collect(failures, $"step {step}: ∂{t.Name}", s.Arena.AsSpan(s.GradientOffset + t.Offset, t.Length), device.AsSpan(s.GradientOffset + t.Offset, t.Length), gradientScale);
            Assert.True(failures.Count == 0, string.Join("\n", failures));
            afterPass?.Invoke(step, device);
            afterEmulatedPass?.Invoke(step, emulator);

            float parameterScale = MaxAbs(s.Arena.AsSpan(0, s.GradientOffset));
            var args = argsFor(optimizer);
            s.ApplyOptimizer(optimizer);
            emulator.Run(program.GradientNorm, device, ids, labels, targets, args);
            emulator.Run(update, device, ids, labels, targets, args);
            Close($"step {step}: gradient norm", optimizer.LastGradientNorm, device[program.NormOffset]);
            foreach (var t in s.Tensors)
                Collect(failures, $"step {step}: {t.Name} after the update", s.Arena.AsSpan(t.Offset, t.Length), device.AsSpan(t.Offset, t.Length), parameterScale);
            Assert.True(failures.Count == 0, string.Join("\n", failures));

            // The next step starts from the CPU's state, so each step checks the kernels from the same
            // parameters and moments rather than compounding float rounding across steps.
            s.Arena.CopyTo(device, 0);
        }

        return emulator;
    }

    private static void Close(string what, double expected, double actual) =>
        Assert.True(Math.Abs(expected - actual) <= Tolerance * Math.Max(Math.Abs(expected), 1e-3), $"{what}: CPU {expected:R}, emulated CUDA {actual:R}");

    private static float MaxAbs(ReadOnlySpan<float> values)
    {
        float max = 0;
        foreach (float v in values) max = Math.Max(max, Math.Abs(v));
        return max;
    }

    private static void Close(string what, ReadOnlySpan<float> expected, ReadOnlySpan<float> actual)
    {
        var failures = new System.Collections.Generic.List<string>();
        Collect(failures, what, expected, actual, 0);
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    /// <summary>Element-wise relative error, with a floor at 1% of the tensor's largest magnitude and at
    /// 1e-3 of the whole region's (<paramref name="regionScale"/>): an element that cancels to near zero
    /// (a sum of terms of both signs, rounded in a different order on each side; or a gradient that is
    /// zero in exact arithmetic, such as a key bias's) is compared at a scale where float rounding of
    /// its terms no longer dominates. Reports the first mismatch of the tensor.</summary>
    private static void Collect(System.Collections.Generic.List<string> failures, string what, ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, float regionScale)
    {
        float scale = MaxAbs(expected);
        double floor = Math.Max(Math.Max(scale * 1e-2, regionScale * 1e-3), 1e-12);
        for (int i = 0; i < expected.Length; i++)
        {
            double error = Math.Abs(expected[i] - actual[i]);
            if (error > Tolerance * Math.Max(Math.Abs(expected[i]), floor))
            {
                failures.Add($"{what}[{i}]: CPU {expected[i]:R}, emulated CUDA {actual[i]:R} (relative error {error / Math.Max(Math.Abs(expected[i]), floor):E2}, tensor scale {scale:R})");
                return;
            }
        }
    }
}
