using System;
using System.IO;
using System.Linq;
using Dsl;
using Dsl.IO;
using Dsl.Optimizers;
using Dsl.Runtime;
using Dsl.Training;

namespace CharGpt;

/// <summary>
/// Trains nanoGPT's CPU "baby GPT" on tinyshakespeare, characters as tokens (first 90 % train, last
/// 10 % validation): AdamW (lr 1e-3, β2 0.99, weight decay 0.1 on matrices), 100 warm-up iterations
/// then cosine decay to 1e-4 at iteration 2000, gradient clipping at 1.0, through
/// <see cref="Trainer"/>: a progress line, train/val loss every 250 iterations (mean over a fixed set of
/// 20 batches each), the loss over the whole validation split at the end, 300 sampled characters, a run
/// folder (--out) and full-state checkpoints (--checkpoint, --resume). --device cuda trains with the
/// generated CUDA program (docs/cuda.md); evaluation and sampling then run on the CPU from the
/// downloaded parameters; without a usable GPU it says what is missing and exits, never falling back.
/// </summary>
internal static class Program
{
    private const int Batch = 12, Block = 64;

    private static int Main(string[] args)
    {
        var cli = new TrainingCommandLine(
            "Trains nanoGPT's baby GPT (4 layers, 4 heads, width 128, block 64) on a character corpus (tinyshakespeare by default).",
            new TrainerOptions { MaxSteps = 2000, Seed = 1337, OutputDirectory = "runs/chargpt", EvaluateEvery = 250, CheckpointEvery = 250 },
            stepsAlias: "--iters");
        var variantOption = cli.Add("--variant", "gpt", "gpt (nanoGPT's configuration) or rope (RoPE, RMSNorm and SquarePlus)", "gpt", "rope");
        var evalBatchesOption = cli.Add("--eval-batches", 20, "Fixed batches per split in the periodic train/val estimate");
        var sampleOption = cli.Add("--sample", 300, "Characters to sample at the end");
        var device = cli.Add("--device", "cpu", "cpu, or cuda to train with the generated CUDA program", "cpu", "cuda");
        var recomputeOption = cli.Add("--recompute", false, "Recompute each block's activations in its backward ([Recompute] on the stack; gpt variant): a smaller arena, the same losses");
        if (!cli.TryParse(args, out int exit)) return exit;
        TrainerOptions options = cli.Options;
        string variant = cli.Get(variantOption);
        int evalBatches = cli.Get(evalBatchesOption), sampleLength = cli.Get(sampleOption);
        bool cuda = cli.Get(device) == "cuda";
        bool recompute = cli.Get(recomputeOption);
        if (recompute && variant != "gpt")
        {
            Console.Error.WriteLine("--recompute is declared on the gpt variant (CharGptRecompute): run it without --variant rope.");
            return 2;
        }

        ulong seed = options.Seed;
        if (cuda && (options.CheckpointPath is not null || options.ResumeFrom is not null))
        {
            Console.Error.WriteLine("--device cuda keeps the optimizer state on the GPU, which full-state checkpoints do not read yet: train on the CPU to use --checkpoint or --resume.");
            return 2;
        }

        string? data = cli.Get(cli.Data) ?? FindData();
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

        ICharModel model = recompute ? new CharGptRecompute(seed) : variant == "gpt" ? new CharGpt(seed) : new CharGptRope(seed);
        string modelName = recompute ? nameof(CharGptRecompute) : variant == "gpt" ? nameof(CharGpt) : nameof(CharGptRope);
        long arenaBytes = recompute ? CharGptRecompute.ArenaBytes : variant == "gpt" ? CharGpt.ArenaBytes : CharGptRope.ArenaBytes;
        var supervised = (ISupervisedModel<int, int>)model;
        float[] arena = supervised.Engine.Arena;
        int parameterRegion = supervised.Engine.Parameters.Length;
        Dsl.Cuda.CudaTrainer? gpu = null;
        if (cuda)
        {
            try
            {
                gpu = Dsl.Cuda.CudaTrainer.ForTokens(recompute ? CharGptRecompute.CudaProgram : variant == "gpt" ? CharGpt.CudaProgram : CharGptRope.CudaProgram, arena, Block, seed);
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
        int vocabulary = supervised.OutputFeatures;
        int parameters = variant == "gpt" ? CharGpt.ParameterCount : CharGptRope.ParameterCount;
        if (corpus.VocabularySize != vocabulary)
        {
            Console.Error.WriteLine($"{corpus.Source} has {corpus.VocabularySize} distinct characters; the model is declared with Vocabulary = {vocabulary}. Change the [Embedding] and head to match.");
            return 1;
        }

        Console.WriteLine($"{corpus.Source}: {corpus.Tokens.Length:N0} characters, vocabulary {corpus.VocabularySize}, {corpus.Train.Length:N0} train / {corpus.Validation.Length:N0} val");
        Console.WriteLine($"model {modelName}: {parameters:N0} parameters; batch {Batch} × block {Block}; {options.MaxSteps} iterations; {WorkerPool.Shared.Threads} thread(s)");
        Console.WriteLine(recompute
            ? $"arena {arenaBytes} bytes ({CharGptRecompute.ArenaBytesWithoutRecompute} without --recompute)"
            : $"arena {arenaBytes} bytes");

        // Fixed evaluation batches (the same ones at every evaluation, so the curve is comparable).
        var evalRandom = new SeededRandom(seed ^ 0x5EED);
        var trainEval = EvalSet(corpus.Train, evalBatches, evalRandom);
        var valEval = EvalSet(corpus.Validation, evalBatches, evalRandom);

        // nanoGPT's sampler: every window start drawn uniformly from one generator seeded with the seed,
        // the same draws as CharCorpus.SampleBatch made in this sample before it used the Trainer.
        options.Order = BatchOrder.Sample;
        options.EvaluateAtStart = true;
        options.LearningRate = step => LearningRateSchedule.WarmupCosine(step, 100, 2000, 1e-3, 1e-4);
        options.MaxGradientNorm = 1.0;
        options.RunName = recompute ? "CharGpt (gpt, recompute)" : $"CharGpt ({variant})";
        var optimizer = new AdamW(1e-3, beta1: 0.9, beta2: 0.99, weightDecay: 0.1);
        var trainer = new Trainer(model as IModel ?? throw new InvalidOperationException(), optimizer, options);
        trainer.AddSplit("train", new ArrayDataset<int, int>(trainEval.Inputs, Block, trainEval.Targets, Block));
        TrainStep<int, int>? step = null;
        if (gpu is not null)
        {
            step = (x, y, o) => (float)gpu.TrainStep(x, y, o);
            trainer.BeforeEvaluate = PullParameters;
        }

        var result = trainer.Fit(new TokenWindows(corpus.Train.ToArray(), Block), new ArrayDataset<int, int>(valEval.Inputs, Block, valEval.Targets, Block), step);

        int windows = CharCorpus.WindowCount(corpus.Validation.Length, Block);
        var allInputs = new int[windows * Block];
        var allTargets = new int[windows * Block];
        CharCorpus.Windows(corpus.Validation, 0, windows, Block, allInputs, allTargets);
        PullParameters();
        gpu?.Dispose();
        double fullVal = model.Evaluate(allInputs, allTargets);
        Console.WriteLine($"final: val loss over the whole validation split ({windows} windows of {Block}, {windows * Block:N0} characters): {fullVal:F4}");
        var reached = result.Evaluations.FirstOrDefault(e => e.Split == options.ValidationName && e["loss"] <= 1.88);
        Console.WriteLine(reached is not null
            ? $"estimated val loss first ≤ 1.88 at iteration {reached.Step}; {result.Steps} iterations in {result.Elapsed.TotalSeconds:F1} s"
            : $"estimated val loss never reached 1.88; {result.Steps} iterations in {result.Elapsed.TotalSeconds:F1} s");
        Console.WriteLine($"memory: {ProcessMemory.Describe((long)((IModel)model).Engine.Arena.Length * sizeof(float))}");

        Console.WriteLine($"--- {sampleLength} characters sampled (temperature 0.8, seed {seed}) ---");
        Console.WriteLine(Sample(model, corpus, vocabulary, sampleLength, seed));
        Console.WriteLine("---");
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
