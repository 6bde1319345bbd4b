using System;
using System.IO;
using System.Linq;
using Dsl.Runtime;
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

    [Fact]
    public void One_epoch_on_a_subset_beats_chance_and_lowers_the_thumbnail_error_under_every_weighting()
    {
        // CI installs the package; a missing install is a failure here, as in the IO tests, never a silent skip.
        Assert.True(Directory.Exists(Dsl.IO.FashionMnist.DefaultDirectory),
            $"{Dsl.IO.FashionMnist.DefaultDirectory} is missing. Install it with: sudo apt-get install dataset-fashion-mnist");
        var (trainImages, testImages) = Dsl.IO.FashionMnist.Load();
        TaskData train = TaskData.From(trainImages, 64 * MultiTaskTrainer.BatchSize), test = TaskData.From(testImages, 2000);
        // The raw pixels stay untouched and the thumbnails keep the image's mean (pooling preserves it).
        Assert.Equal(trainImages.Images.AsSpan(0, 784).ToArray().Average(), train.Thumbnails.AsSpan(0, 49).ToArray().Average(), 5);
        Assert.Equal(0f, train.Thumbnails.Min()); // black corners
        Assert.InRange(train.Thumbnails.Max(), 0.5f, 1f);

        TaskScores? initial = null;
        foreach (Weighting weighting in Weighting.All)
        {
            IMultiTaskModel model = weighting.Create(7);
            TaskScores before = TaskScores.Of(model, test);
            // Identical layers and seed: identical initial parameters, so identical scores, to the bit.
            initial ??= before;
            Assert.Equal(initial, before);

            var trainer = new MultiTaskTrainer(model, train, epochs: 1, seed: 7);
            double loss = trainer.RunEpoch();
            Assert.True(double.IsFinite(loss), $"{weighting.Name}: combined training loss {loss}");
            TaskScores after = TaskScores.Of(model, test);
            string at = $"{weighting.Name}: {before} → {after}";
            Assert.True(after.Accuracy > 0.6, at); // chance is 0.1
            Assert.True(after.CrossEntropy < 0.5 * before.CrossEntropy, at);
            Assert.True(after.ThumbnailMse < 0.2 * before.ThumbnailMse, at);
        }
    }

    [Fact]
    public void An_epoch_of_the_sample_trainer_allocates_nothing()
    {
        // Random data of the real shapes: the loop copies batches into its own buffers and steps the model.
        var random = new SeededRandom(3);
        var images = new float[2 * MultiTaskTrainer.BatchSize * TaskData.ImageFeatures];
        for (int i = 0; i < images.Length; i++) images[i] = (float)random.NextDouble();
        var labels = new int[2 * MultiTaskTrainer.BatchSize];
        for (int i = 0; i < labels.Length; i++) labels[i] = i % 10;
        TaskData data = TaskData.From(new Dsl.IO.LabelledImages(images, labels, labels.Length, TaskData.ImageFeatures));
        foreach (Weighting weighting in Weighting.All)
        {
            var trainer = new MultiTaskTrainer(weighting.Create(1), data, epochs: 40, seed: 1);
            for (int i = 0; i < 20; i++) trainer.RunEpoch(); // past tiering
            long before = GC.GetAllocatedBytesForCurrentThread();
            long helpers = WorkerPool.HelperAllocatedBytesForCurrentThread;
            for (int i = 0; i < 10; i++) trainer.RunEpoch();
            Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
            Assert.Equal(0, WorkerPool.HelperAllocatedBytesForCurrentThread - helpers);
        }
    }
}
