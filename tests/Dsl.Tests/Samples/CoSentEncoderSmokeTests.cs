using System;
using System.Linq;
using CoSentEncoder;
using Dsl.IO;
using Dsl.Optimizers;
using Dsl.Tests.IO;
using Xunit;

namespace Dsl.Tests.Samples;

/// <summary>The CoSentEncoder sample's training loop for a few steps on the real STS benchmark.</summary>
public sealed class CoSentEncoderSmokeTests
{
    [Fact]
    public void A_training_step_of_the_sample_encoders_allocates_nothing()
    {
        // The sample's real configuration (64 pairs of 32 words, an 8192-word table), random ids with pads.
        var random = new Dsl.Runtime.SeededRandom(5);
        var ids = new int[2 * StsData.PairsPerBatch * StsData.Sequence];
        for (int e = 0; e < 2 * StsData.PairsPerBatch; e++)
        {
            int length = 1 + (int)(random.NextDouble() * StsData.Sequence);
            for (int t = 0; t < length; t++) ids[e * StsData.Sequence + t] = 1 + (int)(random.NextDouble() * (StsData.Vocabulary - 1));
        }

        var scores = new float[StsData.PairsPerBatch];
        for (int i = 0; i < scores.Length; i++) scores[i] = (float)(random.NextDouble() * 5);
        var optimizer = new AdamW(1e-3);
        foreach (IPairEncoder model in new IPairEncoder[] { new CoSentModel(seed: 1), new CosineMseModel(seed: 1) })
        {
            for (int i = 0; i < 40; i++) model.TrainStep(ids, scores, optimizer); // past tiering (a method is recompiled after 30 calls)
            long before = GC.GetAllocatedBytesForCurrentThread();
            long helpers = Dsl.Runtime.WorkerPool.HelperAllocatedBytesForCurrentThread;
            for (int i = 0; i < 10; i++) model.TrainStep(ids, scores, optimizer);
            Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
            Assert.Equal(0, Dsl.Runtime.WorkerPool.HelperAllocatedBytesForCurrentThread - helpers);
        }
    }

    [Fact]
    public void The_encoders_cuda_programs_name_the_pair_loss_launch_the_device_pair_step_looks_for()
    {
        // CudaTrainer tells a pair model (one score per pair) from a labelled token model by these launch names;
        // --device cuda of the sample depends on it.
        Assert.Contains(CoSentModel.CudaProgram.Loss, l => l.Name == "loss_cosent");
        Assert.Contains(CosineMseModel.CudaProgram.Loss, l => l.Name == "loss_cosine_mse");
        Assert.DoesNotContain(CoSentModel.CudaProgram.Loss, l => l.Name == "loss_cosine_mse");
        Assert.Empty(CoSentModel.CudaProgram.Unsupported);
        Assert.Empty(CosineMseModel.CudaProgram.Unsupported);
    }

    [StsBenchmarkFact]
    public void A_few_steps_of_each_loss_lower_the_loss_and_give_a_spearman_correlation()
    {
        var (trainPairs, devPairs, _) = StsBenchmark.Load(StsBenchmarkFactAttribute.Directory);
        var vocabulary = StsData.BuildVocabulary(trainPairs);
        Assert.InRange(vocabulary.Count, 1000, StsData.Vocabulary);
        var dev = StsData.Encode(devPairs.Take(300).ToList(), vocabulary);
        // Two batches of training pairs, each seen four times in 8 steps: their loss must fall.
        var train = StsData.Encode(trainPairs.Take(2 * StsData.PairsPerBatch).ToList(), vocabulary);
        var probe = train;

        var cosent = new CoSentModel(seed: 3);
        float before = cosent.Evaluate(probe.Ids, probe.Scores);
        var trainer = new PairTrainer(cosent, new AdamW(1e-3), train, 1f, seed: 3);
        for (int i = 0; i < 8; i++) trainer.Step();
        float after = cosent.Evaluate(probe.Ids, probe.Scores);
        Assert.True(after < before, $"CoSENT probe loss went from {before} to {after}");

        var mse = new CosineMseModel(seed: 3);
        float[] unit = Array.ConvertAll(probe.Scores, s => s / StsBenchmark.MaxScore);
        float mseBefore = mse.Evaluate(probe.Ids, unit);
        var mseTrainer = new PairTrainer(mse, new AdamW(1e-3), train, 1f / StsBenchmark.MaxScore, seed: 3);
        for (int i = 0; i < 8; i++) mseTrainer.Step();
        float mseAfter = mse.Evaluate(probe.Ids, unit);
        Assert.True(mseAfter < mseBefore, $"cosine-MSE probe loss went from {mseBefore} to {mseAfter}");

        foreach (IPairEncoder model in new IPairEncoder[] { cosent, mse })
            Assert.InRange(PairTrainer.Spearman(model, dev, CoSentModel.OutputFeatures), -1, 1); // NaN fails too
    }
}
