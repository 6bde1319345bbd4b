using System;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Xml.Linq;
using Dsl.Optimizers;
using Dsl.Runtime;
using Dsl.Tests.Checkpoints;
using Dsl.Tests.IO;
using Dsl.Training;
using Xunit;

namespace Dsl.Tests.Training;

/// <summary>The training loop: exact resume from a checkpoint in the middle of an epoch, early stopping
/// and the kept best model, the run folder and the progress lines.</summary>
public sealed class TrainerTests
{
    private const int Examples = 200, Features = 12, Classes = 5;

    private static (ArrayDataset<float, int> Train, ArrayDataset<float, int> Validation) Data()
    {
        var random = new SeededRandom(77);
        ArrayDataset<float, int> Make(int n)
        {
            var x = new float[n * Features];
            var y = new int[n];
            for (int i = 0; i < x.Length; i++) x[i] = (float)random.NextGaussian();
            for (int r = 0; r < n; r++) y[r] = (x[r * Features] > 0 ? 1 : 0) + (x[(r * Features) + 1] > 0 ? 2 : 0) + (x[(r * Features) + 2] > 1 ? 1 : 0);
            return new ArrayDataset<float, int>(x, Features, y, 1);
        }

        return (Make(Examples), Make(64));
    }

    private static TrainerOptions Options(string? outDir, BatchOrder order = BatchOrder.Shuffle) => new()
    {
        Epochs = 3, Order = order, MaxSteps = order == BatchOrder.Sample ? 36 : 0, Seed = 5,
        LearningRate = step => 3e-3 / (1 + (0.1 * step)), MaxGradientNorm = 2.0,
        OutputDirectory = outDir, Progress = ProgressDisplay.None, EvaluateEvery = order == BatchOrder.Sample ? 10 : 0,
    };

    [Theory]
    [InlineData(BatchOrder.Shuffle)]
    [InlineData(BatchOrder.Sample)]
    public void A_run_stopped_mid_epoch_and_resumed_matches_the_uninterrupted_run_bit_for_bit(BatchOrder order)
    {
        using var dir = new TempDirectory();
        var (train, validation) = Data();

        var straight = new ResumeDropout(3);
        var straightResult = new Trainer(straight, new AdamW(3e-3), Options(dir.File("straight"), order)).Fit(train, validation);
        Assert.Equal(36, straightResult.Steps); // 200 / 16 = 12 steps per epoch, 3 epochs (or the step budget)

        // Stop after 17 steps (inside epoch 2), then resume in a model built from another seed.
        string state = dir.File("state.safetensors");
        var first = new ResumeDropout(3);
        var options = Options(dir.File("resumed"), order);
        options.MaxSteps = 17;
        options.CheckpointPath = state;
        new Trainer(first, new AdamW(3e-3), options).Fit(train, validation);

        var resumed = new ResumeDropout(42);
        var resumedOptions = Options(dir.File("resumed"), order);
        resumedOptions.ResumeFrom = state;
        var resumedResult = new Trainer(resumed, new AdamW(3e-3), resumedOptions).Fit(train, validation);

        Assert.Equal(17, resumedResult.ResumedAt);
        Assert.Equal(36, resumedResult.Steps);
        Assert.True(straight.Compiled.Parameters.SequenceEqual(resumed.Compiled.Parameters), "parameters differ");
        if (order == BatchOrder.Shuffle)
        {
            // Epochs 2 and 3 finished in the resumed process; their mean losses are the same numbers.
            Assert.Equal(straightResult.Epochs.Skip(1).Select(e => e.TrainLoss), resumedResult.Epochs.Select(e => e.TrainLoss));
        }

        Assert.Equal(straightResult.LastValidation!.Metrics, resumedResult.LastValidation!.Metrics);
        // The resumed run folder holds the whole run: the same records, timing aside, plus the
        // evaluation the interrupted process made where it stopped.
        Assert.Equal(Records(dir.File("straight")), Records(dir.File("resumed")).Where(r => !r.Contains("step=17,", StringComparison.Ordinal)));
        Assert.Contains(Records(dir.File("resumed")), r => r.StartsWith("kind=eval,step=17,", StringComparison.Ordinal));
    }

    /// <summary>metrics.jsonl without its timing fields (and the train records, whose interval follows the budget).</summary>
    private static string[] Records(string folder) => File.ReadAllLines(Path.Combine(folder, RunFolder.MetricsFile))
        .Select(line => JsonDocument.Parse(line).RootElement)
        .Where(r => r.GetProperty("kind").GetString() is "eval" or "epoch")
        .Select(r => string.Join(",", r.EnumerateObject().Where(p => p.Name is not ("seconds" or "samples_per_second" or "elapsed_seconds")).Select(p => $"{p.Name}={p.Value}")))
        .ToArray();

    [Fact]
    public void Early_stopping_ends_the_run_after_patience_evaluations_without_improvement_and_keeps_the_best_parameters()
    {
        using var dir = new TempDirectory();
        var (train, validation) = Data();
        var model = new ResumePlain(1);
        var options = Options(dir.File("run"));
        options.Epochs = 10;
        options.Monitor = "evaluations";
        options.Patience = 2;
        int calls = 0;
        float[]? afterFirst = null;
        var trainer = new Trainer(model, new AdamW(3e-3), options);
        // A metric that only gets worse: the first evaluation stays the best.
        trainer.AddMetric<int>("evaluations", (outputs, labels) =>
        {
            if (calls == 0) afterFirst = model.Compiled.Parameters.ToArray();
            return ++calls;
        });
        var result = trainer.Fit(train, validation);

        Assert.True(result.StoppedEarly);
        Assert.Equal(3, result.Epochs.Count);
        Assert.Equal(12, result.Best!.Step);
        var best = new ResumePlain(9);
        best.Load(Path.Combine(dir.File("run"), "best.safetensors"));
        Assert.True(afterFirst.AsSpan().SequenceEqual(best.Compiled.Parameters));
        Assert.InRange(result.LastValidation!["accuracy"], 0, 1);
    }

    [Fact]
    public void The_run_folder_holds_metrics_records_and_a_loss_plot_and_redirected_progress_is_plain_lines()
    {
        using var dir = new TempDirectory();
        var (train, validation) = Data();
        var output = new StringWriter();
        var options = Options(dir.File("run"));
        options.Progress = ProgressDisplay.Lines;
        options.PrintEvery = 6;
        options.Output = output;
        options.ValidationName = "test";
        new Trainer(new ResumePlain(1), new Sgd(0.05), options).Fit(train, validation);

        string[] lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(6, lines.Count(l => l.StartsWith("epoch 1/3  step ", StringComparison.Ordinal) || l.StartsWith("epoch 2/3  step ", StringComparison.Ordinal) || l.StartsWith("epoch 3/3  step ", StringComparison.Ordinal)));
        Assert.Matches(@"^epoch 2/3  step 18/36  loss \d\.\d{4}  lr \d\.\d\de-0\d  \d+ samples/s  ETA \d+:\d\d$", lines.Single(l => l.Contains("step 18/36", StringComparison.Ordinal)));
        Assert.Matches(@"^epoch  3/3  train loss \d\.\d{4}  \d+ samples/s  test loss \d\.\d{4}  test accuracy \d\.\d{4}", lines.Single(l => l.StartsWith("epoch  3/3", StringComparison.Ordinal)));

        var records = File.ReadAllLines(Path.Combine(dir.File("run"), RunFolder.MetricsFile)).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal("run", records[0].GetProperty("kind").GetString());
        Assert.Equal(3, records.Count(r => r.GetProperty("kind").GetString() == "epoch"));
        Assert.Equal(3, records.Count(r => r.GetProperty("kind").GetString() == "eval" && r.GetProperty("split").GetString() == "test"));
        Assert.Equal(36, records.Count(r => r.GetProperty("kind").GetString() == "train")); // auto interval: max(1, 36 / 200)

        var svg = XDocument.Parse(File.ReadAllText(Path.Combine(dir.File("run"), RunFolder.PlotFile)));
        XNamespace ns = "http://www.w3.org/2000/svg";
        var polylines = svg.Descendants(ns + "polyline").ToList();
        Assert.Equal(2, polylines.Count); // train loss, test loss
        Assert.Equal(36, polylines[0].Attribute("points")!.Value.Split(' ').Length);
        Assert.Contains(svg.Descendants(ns + "text"), t => t.Value == "test loss");
        Assert.True(File.Exists(Path.Combine(dir.File("run"), "model.safetensors")));
    }

    [Fact]
    public void Resuming_with_another_data_order_is_refused_naming_the_difference()
    {
        using var dir = new TempDirectory();
        var (train, validation) = Data();
        var options = Options(null);
        options.MaxSteps = 5;
        options.CheckpointPath = dir.File("state.safetensors");
        new Trainer(new ResumePlain(1), new AdamW(1e-3), options).Fit(train, validation);
        var other = Options(null);
        other.Seed = 6;
        other.ResumeFrom = options.CheckpointPath;
        var e = Assert.Throws<Dsl.IO.InvalidDataException>(() => new Trainer(new ResumePlain(1), new AdamW(1e-3), other).Fit(train, validation));
        Assert.Contains("data seed 5; this run has 6", e.Message);
    }

    [Fact]
    public void The_plot_is_a_fixed_function_of_its_data_with_round_ticks()
    {
        var series = new[] { new PlotSeries("train loss", new[] { (0.0, 2.3), (10.0, 1.1), (20.0, double.NaN), (30.0, 0.7) }, "#1f77b4") };
        string a = SvgPlot.Render("run", "step", "loss", series), b = SvgPlot.Render("run", "step", "loss", series);
        Assert.Equal(a, b);
        Assert.Contains(">0.6<", a);
        Assert.Contains(">2.4<", a);
        Assert.Contains(">30<", a);
        var (low, high, step) = SvgPlot.Ticks(0.7, 2.3);
        Assert.Equal(0.6, low, 12);
        Assert.Equal(2.4, high, 12);
        Assert.Equal(0.2, step, 12);
        Assert.Equal((0.0, 30.0, 5.0), SvgPlot.Ticks(0, 30));
        XDocument.Parse(SvgPlot.Render("a<b & \"c\"", "x", "y", Array.Empty<PlotSeries>()));
    }
}
