using System;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using Dsl.IO;
using Dsl.Optimizers;
using Dsl.Runtime;

namespace CharGpt;

/// <summary>
/// Trains nanoGPT's CPU "baby GPT" on tinyshakespeare, characters as tokens (first 90 % train, last
/// 10 % validation): AdamW (lr 1e-3, β2 0.99, weight decay 0.1 on matrices), 100 warm-up iterations
/// then cosine decay to 1e-4 at iteration 2000, gradient clipping at 1.0. Prints a progress line,
/// train/val loss every 250 iterations (mean over a fixed set of 20 batches each), the loss over the
/// whole validation split at the end, 300 sampled characters and saves a checkpoint.
/// Options: --variant gpt|rope, --iters N, --threads N, --seed N, --data PATH, --checkpoint PATH,
/// --eval-interval N, --eval-batches N, --sample N, --device cpu|cuda (cuda trains with the generated
/// CUDA program, docs/cuda.md; evaluation and sampling then run on the CPU from the downloaded
/// parameters; without a usable GPU it says what is missing and exits, never falling back silently).
/// </summary>
internal static class Program
{
    private const int Batch = 12, Block = 64;

    private static int Main(string[] args)
    {
        string variant = "gpt";
        int iterations = 2000, evalInterval = 250, evalBatches = 20, sampleLength = 300;
        ulong seed = 1337;
        string? data = null, checkpoint = null;
        bool cuda = false;
        for (int i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            int NextInt() => int.Parse(Next(), CultureInfo.InvariantCulture);
            switch (args[i])
            {
                case "--variant": variant = Next(); break;
                case "--iters": iterations = NextInt(); break;
                case "--threads": WorkerPool.Shared.Threads = NextInt(); break;
                case "--seed": seed = ulong.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--data": data = Next(); break;
                case "--checkpoint": checkpoint = Next(); break;
                case "--eval-interval": evalInterval = NextInt(); break;
                case "--eval-batches": evalBatches = NextInt(); break;
                case "--sample": sampleLength = NextInt(); break;
                case "--device":
                    string device = Next();
                    if (device is not ("cpu" or "cuda"))
                    {
                        Console.Error.WriteLine($"--device {device}: expected cpu or cuda");
                        return 2;
                    }

                    cuda = device == "cuda";
                    break;
                default:
                    Console.Error.WriteLine($"unknown option {args[i]}; options: --variant gpt|rope --iters N --threads N --seed N --data PATH --checkpoint PATH --eval-interval N --eval-batches N --sample N --device cpu|cuda");
                    return 2;
            }
        }

        if (variant is not ("gpt" or "rope"))
        {
            Console.Error.WriteLine($"--variant must be gpt or rope, was '{variant}'");
            return 2;
        }

        data ??= FindData();
        CharCorpus corpus;
        try
        {
            corpus = CharCorpus.Load(data ?? "tinyshakespeare/input.txt");
        }
        catch (DatasetNotFoundException e)
        {
            Console.Error.WriteLine(e.Message + " Pass --data PATH (the repository expects ../shared/data/tinyshakespeare/input.txt).");
            return 1;
        }

        ICharModel model = variant == "gpt" ? new CharGpt(seed) : new CharGptRope(seed);
        float[] arena = model is CharGpt gpt ? gpt.Compiled.Arena : ((CharGptRope)model).Compiled.Arena;
        int parameterRegion = variant == "gpt" ? CharGpt.Engine<float>.ParameterRegion : CharGptRope.Engine<float>.ParameterRegion;
        Dsl.Cuda.CudaTrainer? gpu = null;
        if (cuda)
        {
            try
            {
                gpu = Dsl.Cuda.CudaTrainer.ForTokens(variant == "gpt" ? CharGpt.CudaProgram : CharGptRope.CudaProgram, arena, Block, seed);
            }
            catch (Dsl.Cuda.Interop.CudaUnavailableException e)
            {
                Console.Error.WriteLine($"--device cuda: {e.Message} Run without --device cuda (or with --device cpu) to train on the CPU.");
                return 1;
            }

            Console.WriteLine("training on the GPU (the generated CUDA program); evaluation and sampling on the CPU");
        }

        // With --device cuda the parameters live on the device: bring them into the model before it evaluates, samples or saves.
        void PullParameters() => gpu?.Session.Download(arena.AsSpan(0, parameterRegion), 0);
        int vocabulary = variant == "gpt" ? CharGpt.OutputFeatures : CharGptRope.OutputFeatures;
        int parameters = variant == "gpt" ? CharGpt.ParameterCount : CharGptRope.ParameterCount;
        if (corpus.VocabularySize != vocabulary)
        {
            Console.Error.WriteLine($"{corpus.Source} has {corpus.VocabularySize} distinct characters; the model is declared with Vocabulary = {vocabulary}. Change the [Embedding] and head to match.");
            return 1;
        }

        checkpoint ??= $"chargpt-{variant}.safetensors";
        Console.WriteLine($"{corpus.Source}: {corpus.Tokens.Length:N0} characters, vocabulary {corpus.VocabularySize}, {corpus.Train.Length:N0} train / {corpus.Validation.Length:N0} val");
        Console.WriteLine($"model {(variant == "gpt" ? nameof(CharGpt) : nameof(CharGptRope))}: {parameters:N0} parameters; batch {Batch} × block {Block}; {iterations} iterations; {WorkerPool.Shared.Threads} thread(s)");

        // Fixed evaluation batches (the same ones at every evaluation, so the curve is comparable).
        var evalRandom = new SeededRandom(seed ^ 0x5EED);
        var trainEval = EvalSet(corpus.Train, evalBatches, evalRandom);
        var valEval = EvalSet(corpus.Validation, evalBatches, evalRandom);

        var optimizer = new AdamW(1e-3, beta1: 0.9, beta2: 0.99, weightDecay: 0.1) { MaxGradientNorm = 1.0 };
        var inputs = new int[Batch * Block];
        var targets = new int[Batch * Block];
        var random = new SeededRandom(seed);
        var clock = Stopwatch.StartNew();
        double reachedAt = double.NaN;
        int reachedIteration = -1;
        double recentLoss = 0;
        var window = Stopwatch.StartNew();
        int windowStart = 0;
        for (int iteration = 0; iteration <= iterations; iteration++)
        {
            if (iteration % evalInterval == 0 || iteration == iterations)
            {
                PullParameters();
                double train = model.Evaluate(trainEval.Inputs, trainEval.Targets);
                double val = model.Evaluate(valEval.Inputs, valEval.Targets);
                if (val <= 1.88 && reachedIteration < 0)
                {
                    reachedIteration = iteration;
                    reachedAt = clock.Elapsed.TotalSeconds;
                }

                Console.WriteLine($"\riter {iteration,5}: train loss {train:F4}, val loss {val:F4} ({evalBatches} fixed batches each)   {clock.Elapsed.TotalSeconds,6:F1} s        ");
                window.Restart();
                windowStart = iteration;
            }

            if (iteration == iterations) break;
            optimizer.LearningRate = LearningRateSchedule.WarmupCosine(iteration, 100, 2000, 1e-3, 1e-4);
            CharCorpus.SampleBatch(corpus.Train, inputs, targets, Batch, Block, random);
            float loss = gpu is null ? model.TrainStep(inputs, targets, optimizer) : (float)gpu.TrainStep(inputs, targets, optimizer);
            recentLoss = iteration == windowStart ? loss : 0.9 * recentLoss + 0.1 * loss;
            if (iteration % 10 == 9)
            {
                double rate = (iteration + 1 - windowStart) / window.Elapsed.TotalSeconds;
                int done = 30 * (iteration + 1) / iterations;
                Console.Write($"\r[{new string('#', done)}{new string('.', 30 - done)}] iter {iteration + 1,5}/{iterations}  loss {recentLoss:F4}  lr {optimizer.LearningRate:E2}  {(gpu is null ? $"|g| {optimizer.LastGradientNorm:F2}  " : "")}{rate:F1} it/s   ");
            }
        }

        double seconds = clock.Elapsed.TotalSeconds;
        int windows = CharCorpus.WindowCount(corpus.Validation.Length, Block);
        var allInputs = new int[windows * Block];
        var allTargets = new int[windows * Block];
        CharCorpus.Windows(corpus.Validation, 0, windows, Block, allInputs, allTargets);
        PullParameters();
        gpu?.Dispose();
        double fullVal = model.Evaluate(allInputs, allTargets);
        Console.WriteLine($"final: val loss over the whole validation split ({windows} windows of {Block}, {windows * Block:N0} characters): {fullVal:F4}");
        Console.WriteLine(reachedIteration >= 0
            ? $"estimated val loss first ≤ 1.88 at iteration {reachedIteration} ({reachedAt:F1} s); training took {seconds:F1} s ({iterations / seconds:F1} it/s)"
            : $"estimated val loss never reached 1.88; training took {seconds:F1} s ({iterations / seconds:F1} it/s)");

        Console.WriteLine($"--- {sampleLength} characters sampled (temperature 0.8, seed {seed}) ---");
        Console.WriteLine(Sample(model, corpus, vocabulary, sampleLength, seed));
        Console.WriteLine("---");
        model.Save(checkpoint);
        Console.WriteLine($"checkpoint saved to {checkpoint}");
        return 0;
    }

    private static (int[] Inputs, int[] Targets) EvalSet(ReadOnlySpan<int> split, int batches, SeededRandom random)
    {
        var inputs = new int[batches * Batch * Block];
        var targets = new int[inputs.Length];
        CharCorpus.SampleBatch(split, inputs, targets, batches * Batch, Block, random);
        return (inputs, targets);
    }

    /// <summary>Autoregressive sampling from a newline: the model is causal, so a context shorter than
    /// the block is right-padded and the logits are read at its last position.</summary>
    private static string Sample(ICharModel model, CharCorpus corpus, int vocabulary, int length, ulong seed)
    {
        var random = new SeededRandom(seed);
        var context = new System.Collections.Generic.List<int>(corpus.Encode("\n"));
        var window = new int[Block];
        var logits = new float[Block * vocabulary];
        var probabilities = new double[vocabulary];
        for (int n = 0; n < length; n++)
        {
            int count = Math.Min(Block, context.Count);
            Array.Clear(window);
            for (int i = 0; i < count; i++) window[i] = context[context.Count - count + i];
            model.Predict(window, logits);
            var row = logits.AsSpan((count - 1) * vocabulary, vocabulary);
            double max = double.NegativeInfinity;
            foreach (float v in row) max = Math.Max(max, v / 0.8);
            double sum = 0;
            for (int c = 0; c < vocabulary; c++) sum += probabilities[c] = Math.Exp(row[c] / 0.8 - max);
            double u = random.NextDouble() * sum;
            int next = vocabulary - 1;
            for (int c = 0; c < vocabulary; c++)
            {
                u -= probabilities[c];
                if (u <= 0)
                {
                    next = c;
                    break;
                }
            }

            context.Add(next);
        }

        return corpus.Decode(context.ToArray().AsSpan(1));
    }

    /// <summary>tinyshakespeare from the shared data folder next to the repository, searched upwards
    /// from the working directory.</summary>
    private static string? FindData()
    {
        for (var dir = new DirectoryInfo(Directory.GetCurrentDirectory()); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "shared", "data", "tinyshakespeare", "input.txt");
            if (File.Exists(candidate)) return candidate;
        }

        return null;
    }
}
