using System;
using System.Linq;
using CoSentEncoder;
using Dsl.IO;
using Dsl.Optimizers;
using Dsl.Tests.IO;
using Dsl.Training;
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
        foreach (ISupervisedModel<int, float> model in new ISupervisedModel<int, float>[] { new CoSentModel(seed: 1), new CosineMseModel(seed: 1) })
        {
            for (int i = 0; i < 40; i++) model.TrainStep(ids, scores, optimizer); // past tiering (a method is recompiled after 30 calls)
            var (allocated, helperAllocated) = Allocations.PerWindow(() => model.TrainStep(ids, scores, optimizer), 10);
            Assert.Equal(0, allocated);
            Assert.Equal(0, helperAllocated);
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
    public void A_few_steps_of_each_loss_through_the_trainer_lower_the_loss_and_give_a_spearman_correlation()
    {
        var (trainPairs, devPairs, _) = StsBenchmark.Load(StsBenchmarkFactAttribute.Directory);
        var vocabulary = StsData.BuildVocabulary(trainPairs);
        Assert.InRange(vocabulary.Count, 1000, StsData.Vocabulary);
        var dev = StsData.Encode(devPairs.Take(300).ToList(), vocabulary);
        // Two batches of training pairs, each seen four times in 4 epochs: their loss must fall.
        var train = StsData.Encode(trainPairs.Take(2 * StsData.PairsPerBatch).ToList(), vocabulary);
        foreach (var (model, scale) in new (ISupervisedModel<int, float>, float)[] { (new CoSentModel(seed: 3), 1f), (new CosineMseModel(seed: 3), 1f / StsBenchmark.MaxScore) })
        {
            var probe = train.ToDataset(scale);
            var options = PairTraining.Defaults();
            options.Epochs = 4;
            options.OutputDirectory = null;
            options.Progress = ProgressDisplay.None;
            var trainer = PairTraining.Create(model, options);
            double before = trainer.Evaluate(probe)["loss"];
            var result = trainer.Fit(probe, dev.ToDataset(scale));
            double after = trainer.Evaluate(probe)["loss"];
            string name = model.Engine.ModelName;
            Assert.Equal(8, result.Steps);
            Assert.True(after < before, $"{name}: probe loss went from {before} to {after}");
            Assert.InRange(result.LastValidation![PairTraining.Spearman], -1, 1); // NaN fails too
        }
    }
}
