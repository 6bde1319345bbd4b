using System;
using System.Collections.Generic;
using System.CommandLine;
using System.Globalization;
using System.IO;
using Dsl.Runtime;

namespace Dsl.Training;

/// <summary>
/// The command-line options every training program shares, parsed with System.CommandLine (help,
/// errors that name the option, POSIX and Windows forms) and applied to <see cref="TrainerOptions"/>:
/// <c>--epochs N --steps N --seed N --threads N --data PATH --out DIR --checkpoint PATH
/// --checkpoint-every N --resume PATH --progress auto|live|lines|quiet</c>, plus the program's own.
/// </summary>
/// <remarks>
/// <code>
/// var cli = new TrainingCommandLine("Trains an MLP on Fashion-MNIST.", new TrainerOptions { Epochs = 15, OutputDirectory = "runs/fashion-mnist" });
/// var device = cli.Add("--device", "cpu", "cpu or cuda", "cpu", "cuda");
/// if (!cli.TryParse(args, out int exit)) return exit;
/// TrainerOptions options = cli.Options;   // the defaults with the parsed values applied
/// </code>
/// </remarks>
public sealed class TrainingCommandLine
{
    private readonly RootCommand _root;
    private readonly TrainerOptions _defaults;
    private Dsl.Distributed.ICommunicator? _communicator;
    private ParseResult? _parsed;

    /// <summary>The command line of a program described by <paramref name="description"/>; <paramref name="defaults"/>
    /// supplies every default the help shows. <paramref name="stepsAlias"/> adds a second name for --steps (e.g. "--iters").</summary>
    public TrainingCommandLine(string description, TrainerOptions defaults, string? defaultData = null, string? stepsAlias = null)
    {
        ArgumentNullException.ThrowIfNull(defaults);
        _defaults = defaults;
        Epochs = new Option<int>("--epochs") { Description = "Epochs to train", DefaultValueFactory = _ => defaults.Epochs };
        Steps = new Option<long>("--steps") { Description = "Stop after this many steps in all (0: the epochs decide)", DefaultValueFactory = _ => defaults.MaxSteps };
        if (stepsAlias is not null) Steps.Aliases.Add(stepsAlias);
        Seed = new Option<ulong>("--seed") { Description = "Seed of the model's initialisation, dropout and data order", DefaultValueFactory = _ => defaults.Seed };
        Threads = new Option<int>("--threads") { Description = "Worker threads (default: all cores; DSL_THREADS caps it too)", DefaultValueFactory = _ => 0 };
        Data = new Option<string?>("--data") { Description = "Where the data set is", DefaultValueFactory = _ => defaultData };
        Out = new Option<string?>("--out") { Description = "Run folder: metrics.jsonl, loss.svg, model.safetensors, best.safetensors", DefaultValueFactory = _ => defaults.OutputDirectory };
        CheckpointPath = new Option<string?>("--checkpoint") { Description = "Write the full training state here (end of each epoch, or every --checkpoint-every steps)", DefaultValueFactory = _ => defaults.CheckpointPath };
        CheckpointEvery = new Option<long>("--checkpoint-every") { Description = "Checkpoint every N steps (0: at the end of each epoch)", DefaultValueFactory = _ => defaults.CheckpointEvery };
        Resume = new Option<string?>("--resume") { Description = "Continue the run saved in this checkpoint, exactly", DefaultValueFactory = _ => null };
        Progress = new Option<ProgressDisplay>("--progress") { Description = "auto (live line on a terminal, plain lines otherwise), live, lines or quiet", DefaultValueFactory = _ => defaults.Progress };
        Ddp = new Option<bool>("--ddp") { Description = "Data parallel over MPI (start with mpirun -np N; implied under mpirun): each rank trains on its share of every batch" };
        _root = new RootCommand(description) { Epochs, Steps, Seed, Threads, Data, Out, CheckpointPath, CheckpointEvery, Resume, Progress, Ddp };
    }

    /// <summary>--ddp.</summary>
    public Option<bool> Ddp { get; }

    /// <summary>--epochs N.</summary>
    public Option<int> Epochs { get; }
    /// <summary>--steps N.</summary>
    public Option<long> Steps { get; }
    /// <summary>--seed N.</summary>
    public Option<ulong> Seed { get; }
    /// <summary>--threads N.</summary>
    public Option<int> Threads { get; }
    /// <summary>--data PATH.</summary>
    public Option<string?> Data { get; }
    /// <summary>--out DIR.</summary>
    public Option<string?> Out { get; }
    /// <summary>--checkpoint PATH.</summary>
    public Option<string?> CheckpointPath { get; }
    /// <summary>--checkpoint-every N.</summary>
    public Option<long> CheckpointEvery { get; }
    /// <summary>--resume PATH.</summary>
    public Option<string?> Resume { get; }
    /// <summary>--progress MODE.</summary>
    public Option<ProgressDisplay> Progress { get; }

    /// <summary>Adds a program-specific option; with <paramref name="allowed"/>, only those values are accepted.</summary>
    public Option<T> Add<T>(string name, T defaultValue, string description, params string[] allowed)
    {
        var option = new Option<T>(name) { Description = description, DefaultValueFactory = _ => defaultValue };
        if (allowed.Length > 0) option.AcceptOnlyFromAmong(allowed);
        _root.Options.Add(option);
        return option;
    }

    /// <summary>
    /// Parses <paramref name="args"/>. Returns false when the program should exit with
    /// <paramref name="exitCode"/> instead of training: --help (0, help printed) or a bad command line
    /// (2, the errors and the help printed). On success applies --threads to the shared worker pool.
    /// </summary>
    public bool TryParse(string[] args, out int exitCode)
    {
        _parsed = _root.Parse(args);
        if (_parsed.Errors.Count > 0)
        {
            foreach (var error in _parsed.Errors) Console.Error.WriteLine(error.Message);
            Console.Error.WriteLine("Run with --help for the options.");
            exitCode = 2;
            return false;
        }

        if (_parsed.Action is not null)
        {
            exitCode = _parsed.Invoke();
            return false;
        }

        int threads = _parsed.GetValue(Threads);
        if (threads < 0)
        {
            Console.Error.WriteLine($"--threads {threads}: must be positive");
            exitCode = 2;
            return false;
        }

        if (threads > 0) WorkerPool.Shared.Threads = threads;
        bool ddp = _parsed.GetValue(Ddp);
        if (ddp || Dsl.Distributed.Communicator.LaunchedByMpi)
        {
            try
            {
                _communicator = Dsl.Distributed.Communicator.FromEnvironment(requireMpi: true);
            }
            catch (Dsl.Distributed.MpiUnavailableException e)
            {
                Console.Error.WriteLine($"--ddp: {e.Message}");
                exitCode = 1;
                return false;
            }

            // Rank 0 alone speaks for the run.
            if (_communicator.Rank != 0) Console.SetOut(TextWriter.Null);
        }

        exitCode = 0;
        return true;
    }

    /// <summary>The parsed value of <paramref name="option"/>.</summary>
    /// <exception cref="InvalidOperationException">Before a successful <see cref="TryParse"/>.</exception>
    public T Get<T>(Option<T> option) => Parsed.GetValue(option)!;

    /// <summary>The defaults with the parsed standard options applied (a new object each call).</summary>
    public TrainerOptions Options
    {
        get
        {
            var d = _defaults;
            return new TrainerOptions
            {
                Epochs = Get(Epochs), MaxSteps = Get(Steps), BatchSize = d.BatchSize, Order = d.Order, DropLast = d.DropLast, Seed = Get(Seed),
                LearningRate = d.LearningRate, MaxGradientNorm = d.MaxGradientNorm, EvaluateEvery = d.EvaluateEvery, EvaluateAtStart = d.EvaluateAtStart,
                ValidationName = d.ValidationName, Monitor = d.Monitor, MaximizeMonitor = d.MaximizeMonitor, Patience = d.Patience, MinDelta = d.MinDelta,
                KeepBest = d.KeepBest, OutputDirectory = Get(Out), CheckpointPath = Get(CheckpointPath), CheckpointEvery = Get(CheckpointEvery),
                ResumeFrom = Get(Resume), LogEvery = d.LogEvery, PrintEvery = d.PrintEvery, Progress = Get(Progress), Output = d.Output, RunName = d.RunName,
                Communicator = _communicator ?? d.Communicator,
            };
        }
    }

    private ParseResult Parsed => _parsed ?? throw new InvalidOperationException("call TryParse first");
}
