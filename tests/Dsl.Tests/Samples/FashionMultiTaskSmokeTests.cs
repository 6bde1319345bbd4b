using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Dsl.Runtime;
using Dsl.Training;
using FashionMultiTask;
using Xunit;

namespace Dsl.Tests.Samples;

/// <summary>The FashionMultiTask sample's data preparation and training loop, on a subset of the real
/// Fashion-MNIST for one epoch under each of the four weightings.</summary>
public sealed class FashionMultiTaskSmokeTests
{
    [Fact]
    public void A_thumbnail_is_the_mean_of_each_4x4_block()
    {
        var image = new float[TaskData.ImageFeatures];
        for (int r = 0; r < 28; r++)
            for (int c = 0; c < 28; c++)
                image[(r * 28) + c] = ((r * 31) + (c * 7)) % 17 / 16f;
        var thumbnail = new float[TaskData.ThumbnailFeatures];
        TaskData.Thumbnail(image, thumbnail);
        for (int r = 0; r < 7; r++)
        {
            for (int c = 0; c < 7; c++)
            {
                double sum = 0;
                for (int k = 0; k < 16; k++) sum += image[(((4 * r) + (k / 4)) * 28) + (4 * c) + (k % 4)];
                Assert.Equal(sum / 16, thumbnail[(r * 7) + c], 6);
            }
        }
    }

    private static TrainerOptions Quiet(int epochs, ulong seed) => new() { Epochs = epochs, Seed = seed, Progress = ProgressDisplay.None, ValidationName = "test" };

    [Fact]
    public void One_epoch_on_a_subset_beats_chance_and_lowers_the_thumbnail_error_under_every_weighting()
    {
        // CI installs the package; a missing install is a failure here, as in the IO tests, never a silent skip.
        Assert.True(Directory.Exists(Dsl.IO.FashionMnist.DefaultDirectory),
            $"{Dsl.IO.FashionMnist.DefaultDirectory} is missing. Install it with: sudo apt-get install dataset-fashion-mnist");
        var (trainImages, testImages) = Dsl.IO.FashionMnist.Load();
        TaskData train = TaskData.From(trainImages, 64 * MultiTaskTraining.BatchSize), test = TaskData.From(testImages, 2000);
        // The raw pixels stay untouched and the thumbnails keep the image's mean (pooling preserves it).
        Assert.Equal(trainImages.Images.AsSpan(0, 784).ToArray().Average(), train.Thumbnails.AsSpan(0, 49).ToArray().Average(), 5);
        Assert.Equal(0f, train.Thumbnails.Min()); // black corners
        Assert.InRange(train.Thumbnails.Max(), 0.5f, 1f);

        IReadOnlyDictionary<string, double>? initial = null;
        foreach (Weighting weighting in Weighting.All)
        {
            IMultiTaskModel<float> model = weighting.Create(7);
            var trainer = MultiTaskTraining.Create(model, Quiet(1, 7), scheduleSteps: 64);
            var before = trainer.Evaluate(test.ToDataset());
            // Identical layers and seed: identical initial parameters, so identical per-task scores, to the bit.
            initial ??= before;
            Assert.Equal(initial["y_loss"], before["y_loss"]);
            Assert.Equal(initial["thumb_loss"], before["thumb_loss"]);
            Assert.Equal(initial["accuracy"], before["accuracy"]);

            var result = trainer.Fit(train.ToDataset(), test.ToDataset());
            Assert.True(double.IsFinite(result.Epochs[0].TrainLoss), $"{weighting.Name}: combined training loss {result.Epochs[0].TrainLoss}");
            var after = result.LastValidation!;
            string at = $"{weighting.Name}: {string.Join(", ", before.Select(p => $"{p.Key} {p.Value}"))} → {string.Join(", ", after.Metrics.Select(p => $"{p.Key} {p.Value}"))}";
            Assert.True(after["accuracy"] > 0.6, at); // chance is 0.1
            Assert.True(after["y_loss"] < 0.5 * before["y_loss"], at);
            Assert.True(after["thumb_loss"] < 0.2 * before["thumb_loss"], at);
            Assert.True(result.Epochs[0].TaskLosses!["thumb"] > 0, at);
        }
    }

    [Fact]
    public void A_training_step_of_the_sample_models_through_the_trainer_allocates_nothing()
    {
        // Random data of the real shapes: the loop gathers batches into its own buffers and steps the model;
        // 40 more steps inside the same epoch allocate nothing more than 10.
        var random = new SeededRandom(3);
        const int images = 60 * MultiTaskTraining.BatchSize;
        var pixels = new float[images * TaskData.ImageFeatures];
        for (int i = 0; i < pixels.Length; i++) pixels[i] = (float)random.NextDouble();
        var labels = new int[images];
        for (int i = 0; i < labels.Length; i++) labels[i] = i % 10;
        TaskDataset<float> data = TaskData.From(new Dsl.IO.LabelledImages(pixels, labels, labels.Length, TaskData.ImageFeatures)).ToDataset();
        foreach (Weighting weighting in Weighting.All)
        {
            var model = weighting.Create(1);
            long Allocated(long steps)
            {
                var options = Quiet(1, 1);
                options.MaxSteps = steps;
                var trainer = MultiTaskTraining.Create(model, options, scheduleSteps: 60);
                long before = GC.GetAllocatedBytesForCurrentThread(), helpers = WorkerPool.HelperAllocatedBytesForCurrentThread;
                trainer.Fit(data);
                return GC.GetAllocatedBytesForCurrentThread() - before + (WorkerPool.HelperAllocatedBytesForCurrentThread - helpers);
            }

            for (int i = 0; i < 3; i++) Allocated(50); // past tiering
            Assert.Equal(Allocated(10), Allocated(50));
        }
    }
}
