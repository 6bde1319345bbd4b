using System;
using System.IO;
using System.Linq;
using System.Text;
using Dsl.Optimizers;
using Dsl.Runtime;
using Dsl.Training;
using DslGpt;

// Trains Gpt on the bytes of a text file (the first 90 % train, the last 10 % validate), then samples
// from it. `dotnet run -- --smoke` trains briefly on sample.txt and checks that the loss falls.
var cli = new TrainingCommandLine(
    "Trains a small byte-level GPT on any text file and samples from it.",
    new TrainerOptions { MaxSteps = 1000, Seed = 1, OutputDirectory = "runs/gpt", EvaluateEvery = 100, CheckpointEvery = 100 },
    defaultData: Path.Combine(AppContext.BaseDirectory, "sample.txt"),
    stepsAlias: "--iters");
var smokeOption = cli.Add("--smoke", false, "Train 80 steps on sample.txt and exit 1 unless the validation loss falls below 70 % of its start");
var sampleOption = cli.Add("--sample", 200, "Bytes to sample at the end");
if (!cli.TryParse(args, out int exit)) return exit;
TrainerOptions options = cli.Options;
bool smoke = cli.Get(smokeOption);
string path = cli.Get(cli.Data)!;
if (smoke) options.MaxSteps = 80;
if (!File.Exists(path))
{
    Console.Error.WriteLine($"{path} does not exist: pass --data FILE (any text file)");
    return 1;
}

int[] ids = File.ReadAllBytes(path).Select(b => (int)b).ToArray();
int cut = (int)(ids.Length * 0.9), block = Gpt.Sequence;
if (cut < block + 1 || ids.Length - cut < block + 1)
{
    Console.Error.WriteLine($"{path} has {ids.Length} bytes; at least {10 * (block + 1)} are needed for both splits");
    return 1;
}

var train = new TokenWindows(ids[..cut], block);
var validationWindows = new TokenWindows(ids[cut..], block);
// A fixed validation sample: up to 64 windows spread over the split.
int count = Math.Min(64, validationWindows.Count);
var picks = Enumerable.Range(0, count).Select(i => (int)((long)i * validationWindows.Count / count)).ToArray();
var vx = new int[count * block];
var vy = new int[count * block];
validationWindows.Gather(picks, vx, vy);
var validation = new ArrayDataset<int, int>(vx, block, vy, block);
Console.WriteLine($"{path}: {ids.Length:N0} bytes, {cut:N0} train / {ids.Length - cut:N0} validation; {Gpt.ParameterCount:N0} parameters; {WorkerPool.Shared.Threads} thread(s)");

options.Order = BatchOrder.Sample;
options.EvaluateAtStart = true;
options.MaxGradientNorm = 1.0;
long steps = options.MaxSteps;
options.LearningRate = step => LearningRateSchedule.WarmupCosine(step, Math.Min(100, steps / 10), steps, 1e-3, 1e-4);
var model = new Gpt(options.Seed);
var result = new Trainer(model, new AdamW(1e-3, beta2: 0.99, weightDecay: 0.1), options).Fit(train, validation);
double first = result.Evaluations.First(e => e.Split == options.ValidationName)["loss"];
double last = result.LastValidation!["loss"];
Console.WriteLine($"validation loss {first:F4} → {last:F4}");

// Sampling: the model is causal, so a context shorter than the block is right-padded and read at its last position.
var random = new SeededRandom(options.Seed);
var context = new System.Collections.Generic.List<int>(Encoding.UTF8.GetBytes("\n").Select(b => (int)b));
var window = new int[block];
var logits = new float[block * Gpt.OutputFeatures];
for (int n = 0; n < cli.Get(sampleOption); n++)
{
    int length = Math.Min(block, context.Count);
    Array.Clear(window);
    for (int i = 0; i < length; i++) window[i] = context[context.Count - length + i];
    model.Predict(window, logits);
    var row = logits.AsSpan((length - 1) * Gpt.OutputFeatures, Gpt.OutputFeatures);
    double max = double.NegativeInfinity;
    foreach (float v in row) max = Math.Max(max, v / 0.8);
    var p = new double[row.Length];
    double sum = 0;
    for (int c = 0; c < row.Length; c++) sum += p[c] = Math.Exp((row[c] / 0.8) - max);
    double u = random.NextDouble() * sum;
    int next = row.Length - 1;
    for (int c = 0; c < row.Length; c++)
    {
        u -= p[c];
        if (u <= 0)
        {
            next = c;
            break;
        }
    }

    context.Add(next);
}

Console.WriteLine("--- sampled ---");
Console.WriteLine(Encoding.UTF8.GetString(context.Skip(1).Select(i => (byte)i).ToArray()));
Console.WriteLine("---");
if (smoke)
{
    bool passed = last < 0.7 * first;
    Console.WriteLine(passed ? "smoke test passed" : "smoke test FAILED: the validation loss did not fall enough");
    return passed ? 0 : 1;
}

return 0;
