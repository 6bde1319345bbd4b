using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using Dsl.Optimizers;
using Dsl.Runtime;
using Dsl.Training;
using DslMlp;

// Trains Classifier on a CSV file: numeric feature columns, then the label (any text) in the last
// column; a first row that is not numeric is taken as a header. 80 % of the rows (a seeded shuffle)
// train, 20 % validate. `dotnet run -- --smoke` trains on generated data and checks that it learns.
var cli = new TrainingCommandLine(
    "Trains an MLP classifier on a CSV file (features…, label).",
    new TrainerOptions { Epochs = 30, Seed = 1, OutputDirectory = "runs/classifier" },
    defaultData: "data.csv");
var smokeOption = cli.Add("--smoke", false, "Train briefly on generated data (three Gaussian clusters) and exit 1 unless the model learns them");
var rateOption = cli.Add("--lr", 3e-3, "Peak learning rate of AdamW (cosine decay to 1 % over --epochs)");
if (!cli.TryParse(args, out int exit)) return exit;
TrainerOptions options = cli.Options;
bool smoke = cli.Get(smokeOption);
string path = cli.Get(cli.Data)!;
if (smoke)
{
    path = Path.Combine(Path.GetTempPath(), $"dsl-mlp-smoke-{Environment.ProcessId}.csv");
    File.WriteAllLines(path, Csv.Generated(600, Classifier.InputFeatures, Classifier.OutputFeatures, seed: 7));
    options.Epochs = 15;
}

Csv data;
try
{
    data = Csv.Load(path, Classifier.InputFeatures, Classifier.OutputFeatures);
}
catch (Exception e) when (e is IOException or FormatException)
{
    Console.Error.WriteLine(e.Message);
    return 1;
}

var (train, validation) = data.Split(0.8, options.Seed);
Console.WriteLine($"{path}: {data.Count} rows, {Classifier.InputFeatures} features, classes {string.Join(", ", data.ClassNames)}; {train.Count} train / {validation.Count} validation");

double peak = cli.Get(rateOption);
long total = (long)options.Epochs * Math.Max(1, train.Count / Classifier.MaxBatch);
options.LearningRate = step => LearningRateSchedule.WarmupCosine(step, Math.Min(50, total / 10), total, peak, peak / 100);
options.DropLast = train.Count >= Classifier.MaxBatch;
var model = new Classifier(options.Seed);
float before = model.Evaluate(validation.Inputs, validation.Labels);
var result = new Trainer(model, new AdamW(peak, weightDecay: 0.01), options).Fit(train.AsDataset(), validation.AsDataset());
double accuracy = result.LastValidation?["accuracy"] ?? double.NaN, after = result.LastValidation?["loss"] ?? double.NaN;
Console.WriteLine($"validation loss {before:F4} → {after:F4}, accuracy {accuracy:F4}");
if (smoke)
{
    File.Delete(path);
    bool passed = after < 0.5 * before && accuracy > 0.8;
    Console.WriteLine(passed ? "smoke test passed" : "smoke test FAILED: the model did not learn the generated clusters");
    return passed ? 0 : 1;
}

return 0;

/// <summary>A CSV of numeric features and a text label per row, standardized with the training rows' statistics.</summary>
internal sealed class Csv
{
    private Csv(float[] inputs, int[] labels, string[] classNames) => (Inputs, Labels, ClassNames) = (inputs, labels, classNames);

    public float[] Inputs { get; }
    public int[] Labels { get; }
    public string[] ClassNames { get; }
    public int Count => Labels.Length;
    public static int Features => Classifier.InputFeatures;

    public ArrayDataset<float, int> AsDataset() => new(Inputs, Features, Labels, 1);

    /// <summary>Reads the file; every message names the file, the line and what is wrong.</summary>
    public static Csv Load(string path, int features, int classes)
    {
        if (!File.Exists(path)) throw new IOException($"{path} does not exist: pass --data FILE.csv (or run with --smoke)");
        var inputs = new List<float>();
        var labels = new List<string>();
        string[] lines = File.ReadAllLines(path);
        for (int n = 0; n < lines.Length; n++)
        {
            if (lines[n].Trim().Length == 0) continue;
            string[] cells = lines[n].Split(',');
            if (cells.Length != features + 1)
                throw new FormatException($"{path}:{n + 1}: {cells.Length} columns; the model takes {features} features and a label (change Input in Model.cs to match your data)");
            var values = new float[features];
            bool numeric = true;
            for (int c = 0; c < features; c++) numeric &= float.TryParse(cells[c], NumberStyles.Float, CultureInfo.InvariantCulture, out values[c]);
            if (!numeric)
            {
                if (labels.Count == 0 && inputs.Count == 0) continue; // a header
                throw new FormatException($"{path}:{n + 1}: a feature is not a number");
            }

            inputs.AddRange(values);
            labels.Add(cells[features].Trim());
        }

        string[] names = labels.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToArray();
        if (names.Length > classes)
            throw new FormatException($"{path}: {names.Length} distinct labels; the model's last Dense layer has Out = {classes} (change it in Model.cs)");
        if (labels.Count == 0) throw new FormatException($"{path}: no data rows");
        var ids = labels.Select(l => Array.IndexOf(names, l)).ToArray();
        return new Csv(inputs.ToArray(), ids, names);
    }

    /// <summary>A seeded shuffle, the first <paramref name="fraction"/> for training; both standardized with the training part's mean and deviation.</summary>
    public (Csv Train, Csv Validation) Split(double fraction, ulong seed)
    {
        var order = Enumerable.Range(0, Count).ToArray();
        new SeededRandom(seed).Shuffle(order);
        int cut = Math.Max(1, (int)(Count * fraction));
        Csv Take(IEnumerable<int> rows)
        {
            var r = rows.ToArray();
            var x = new float[r.Length * Features];
            for (int i = 0; i < r.Length; i++) Inputs.AsSpan(r[i] * Features, Features).CopyTo(x.AsSpan(i * Features));
            return new Csv(x, r.Select(i => Labels[i]).ToArray(), ClassNames);
        }

        Csv train = Take(order.Take(cut)), validation = Take(order.Skip(cut));
        for (int f = 0; f < Features; f++)
        {
            double mean = 0, square = 0;
            for (int i = 0; i < train.Count; i++) mean += train.Inputs[(i * Features) + f];
            mean /= train.Count;
            for (int i = 0; i < train.Count; i++) square += Math.Pow(train.Inputs[(i * Features) + f] - mean, 2);
            double deviation = Math.Sqrt(square / train.Count) + 1e-8;
            foreach (var set in new[] { train, validation })
            {
                for (int i = 0; i < set.Count; i++) set.Inputs[(i * Features) + f] = (float)((set.Inputs[(i * Features) + f] - mean) / deviation);
            }
        }

        return (train, validation);
    }

    /// <summary>Generated rows for the smoke test: each class a Gaussian cluster around its own centre.</summary>
    public static IEnumerable<string> Generated(int rows, int features, int classes, ulong seed)
    {
        var random = new SeededRandom(seed);
        var centres = new double[classes * features];
        for (int i = 0; i < centres.Length; i++) centres[i] = 3 * random.NextGaussian();
        yield return string.Join(",", Enumerable.Range(0, features).Select(f => $"x{f}").Append("label"));
        for (int r = 0; r < rows; r++)
        {
            int c = r % classes;
            var cells = Enumerable.Range(0, features).Select(f => (centres[(c * features) + f] + random.NextGaussian()).ToString("R", CultureInfo.InvariantCulture));
            yield return string.Join(",", cells.Append($"class{c}"));
        }
    }
}
