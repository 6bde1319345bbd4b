using System;
using System.Globalization;
using System.IO;
using Spectre.Console;

namespace Dsl.Training;

/// <summary>A snapshot of a run for the progress display.</summary>
internal readonly record struct ProgressState(long Step, long TotalSteps, int Epoch, int Epochs, double Loss, double LearningRate, double SamplesPerSecond, TimeSpan Eta, long Skipped)
{
    /// <summary>"epoch 2/15  step 812/7020  loss 0.4123  lr 9.81e-04  12345 samples/s  ETA 0:01:23".</summary>
    public string Text(bool withEpoch)
    {
        var c = CultureInfo.InvariantCulture;
        string epoch = withEpoch ? $"epoch {Epoch.ToString(c)}/{Epochs.ToString(c)}  " : "";
        string skipped = Skipped > 0 ? $"  skipped {Skipped.ToString(c)}" : "";
        return string.Create(c, $"{epoch}step {Step}/{TotalSteps}  loss {Loss:F4}  lr {LearningRate:0.00e+00}  {SamplesPerSecond:F0} samples/s  ETA {Format(Eta)}{skipped}");
    }

    internal static string Format(TimeSpan t) => t < TimeSpan.Zero || t.TotalDays > 99 ? "?" : t.TotalHours >= 1 ? t.ToString(@"h\:mm\:ss", CultureInfo.InvariantCulture) : t.ToString(@"m\:ss", CultureInfo.InvariantCulture);
}

/// <summary>Shows a run's progress: a live line on a terminal, or plain lines.</summary>
internal abstract class ProgressView
{
    /// <summary>Runs the training loop inside the display (a live display must own the terminal meanwhile).</summary>
    public abstract void Run(Action loop);

    /// <summary>The step's state; called every step, so displays throttle themselves.</summary>
    public abstract void Update(in ProgressState state);

    /// <summary>A permanent line (epoch summary, evaluation, a note).</summary>
    public abstract void Line(string text);

    /// <summary>The display the options ask for.</summary>
    public static ProgressView Create(TrainerOptions options, long printEvery, bool withEpoch, bool silent = false)
    {
        var mode = silent ? ProgressDisplay.None : options.Progress; // silent: a data-parallel rank other than 0
        if (mode == ProgressDisplay.Auto)
        {
            bool terminal = options.Output is null && !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive;
            mode = terminal ? ProgressDisplay.Live : ProgressDisplay.Lines;
        }

        return mode switch
        {
            ProgressDisplay.Live => new LiveView(withEpoch),
            ProgressDisplay.None => new LinesView(TextWriter.Null, 0, withEpoch),
            ProgressDisplay.Quiet => new LinesView(options.Output ?? Console.Out, 0, withEpoch),
            _ => new LinesView(options.Output ?? Console.Out, printEvery, withEpoch),
        };
    }
}

/// <summary>Plain lines every N steps (for logs and redirected output).</summary>
internal sealed class LinesView : ProgressView
{
    private readonly TextWriter _output;
    private readonly long _every;
    private readonly bool _withEpoch;

    public LinesView(TextWriter output, long every, bool withEpoch) => (_output, _every, _withEpoch) = (output, every, withEpoch);

    public override void Run(Action loop) => loop();

    public override void Update(in ProgressState state)
    {
        if (_every > 0 && (state.Step % _every == 0 || state.Step == state.TotalSteps))
        {
            _output.WriteLine(state.Text(_withEpoch));
            _output.Flush();
        }
    }

    public override void Line(string text)
    {
        _output.WriteLine(text);
        _output.Flush();
    }
}

/// <summary>
/// Spectre.Console's progress display: one live line (our text, a bar, the percentage) redrawn in
/// place at most ten times a second; permanent lines are written above it, and the live line is
/// cleared when the loop ends.
/// </summary>
internal sealed class LiveView : ProgressView
{
    private readonly bool _withEpoch;
    private ProgressTask? _task;
    private long _lastTicks;

    public LiveView(bool withEpoch) => _withEpoch = withEpoch;

    public override void Run(Action loop)
    {
        AnsiConsole.Progress()
            .AutoClear(true)
            .HideCompleted(true)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn { Width = 24 }, new PercentageColumn())
            .Start(context =>
            {
                _task = context.AddTask("starting", autoStart: true, maxValue: 1);
                loop();
                _task.StopTask();
            });
    }

    public override void Update(in ProgressState state)
    {
        if (_task is null) return;
        long now = Environment.TickCount64;
        if (now - _lastTicks < 100 && state.Step != state.TotalSteps) return;
        _lastTicks = now;
        _task.MaxValue = Math.Max(1, state.TotalSteps);
        _task.Value = state.Step;
        _task.Description = Markup.Escape(state.Text(_withEpoch));
    }

    public override void Line(string text) => AnsiConsole.WriteLine(text);
}
