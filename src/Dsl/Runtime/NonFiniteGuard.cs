using System;
using System.Globalization;
using System.Numerics;

namespace Dsl.Runtime;

/// <summary>
/// The non-finite guard of a model's <c>TrainStep</c>, on by default. After each step's forward and
/// backward it looks at the loss and the global gradient norm (which the optimizer measures anyway,
/// for clipping) before anything is updated: when either is NaN or ±∞ the update is skipped, so the
/// parameters and the optimizer state stay bitwise what they were, and <see cref="LastStepSkipped"/>
/// says so. After <see cref="MaxConsecutiveSkips"/> skipped steps in a row, <c>TrainStep</c> replays
/// that batch through a checking pass and throws <see cref="NonFiniteTrainingException"/> naming the
/// first input row, parameter, layer output or gradient that holds the bad value.
/// </summary>
/// <remarks>Costs two comparisons per step when nothing goes wrong; the checking pass runs only after
/// a detection. Dynamic loss scaling (mixed precision) will skip its overflowed steps through the same
/// path (<see cref="Optimizers.Optimizer.TryStep{T}"/>).</remarks>
public sealed class NonFiniteGuard
{
    private int _maxConsecutiveSkips = 3;

    /// <summary>Whether steps are guarded (default true). Off, a NaN step updates the parameters as it would without a guard.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Skipped steps in a row after which <c>TrainStep</c> throws (default 3, at least 1).</summary>
    /// <exception cref="ArgumentOutOfRangeException">Set below 1.</exception>
    public int MaxConsecutiveSkips
    {
        get => _maxConsecutiveSkips;
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1);
            _maxConsecutiveSkips = value;
        }
    }

    /// <summary><c>TrainStep</c> calls seen (applied or skipped).</summary>
    public long Steps { get; private set; }

    /// <summary>Steps whose update was skipped, in all.</summary>
    public long SkippedSteps { get; private set; }

    /// <summary>Skipped steps since the last applied one.</summary>
    public int ConsecutiveSkips { get; private set; }

    /// <summary>Whether the last step's update was skipped.</summary>
    public bool LastStepSkipped { get; private set; }

    /// <summary>The last step's loss.</summary>
    public double LastLoss { get; private set; }

    /// <summary>The last step's global gradient norm (before clipping).</summary>
    public double LastGradientNorm { get; private set; }

    /// <summary>Records a step (<paramref name="applied"/>: its update ran); true when it was the
    /// <see cref="MaxConsecutiveSkips"/>-th skip in a row, and the step must stop training.</summary>
    public bool Record(bool applied, double loss, double gradientNorm)
    {
        Steps++;
        LastLoss = loss;
        LastGradientNorm = gradientNorm;
        LastStepSkipped = !applied;
        if (applied)
        {
            ConsecutiveSkips = 0;
            return false;
        }

        SkippedSteps++;
        ConsecutiveSkips++;
        return ConsecutiveSkips >= _maxConsecutiveSkips;
    }

    /// <summary>The exception that stops training, from the replay's <paramref name="finding"/> (null: the replay found nothing).</summary>
    public NonFiniteTrainingException Failure(string model, NonFiniteFinding? finding)
    {
        string values = $"loss {Format(LastLoss)}, gradient norm {Format(LastGradientNorm)}";
        string cause = finding is null
            ? "Replaying the batch found every input, parameter, output and gradient finite (the bad value did not recur)."
            : finding.InBatch
                ? $"The input batch is the cause: {finding}."
                : $"The input batch is finite; the first non-finite value in the replay of the batch: {finding}.";
        string hint = finding?.InBatch == true ? "Clean or skip that example." : "Lower the learning rate, clip gradients (MaxGradientNorm), or check the initialisation.";
        string message = $"{model}: training stopped at step {Steps.ToString(CultureInfo.InvariantCulture)}: {ConsecutiveSkips.ToString(CultureInfo.InvariantCulture)} steps in a row had a non-finite loss or gradient ({values}), so their updates were skipped and the parameters are those of step {(Steps - ConsecutiveSkips).ToString(CultureInfo.InvariantCulture)}. {cause} {hint}";
        return new NonFiniteTrainingException(message, Steps, finding);
    }

    /// <summary>Index of the first NaN or ±∞ in <paramref name="values"/>, or −1.</summary>
    public static int FirstNonFinite<T>(ReadOnlySpan<T> values) where T : IFloatingPointIeee754<T>
    {
        for (int i = 0; i < values.Length; i++)
        {
            if (!T.IsFinite(values[i])) return i;
        }

        return -1;
    }

    private static string Format(double value) =>
        double.IsNaN(value) ? "NaN" : double.IsPositiveInfinity(value) ? "+∞" : double.IsNegativeInfinity(value) ? "−∞" : value.ToString("G6", CultureInfo.InvariantCulture);
}

/// <summary>Training stopped: several steps in a row were non-finite (see <see cref="NonFiniteGuard"/>).</summary>
public sealed class NonFiniteTrainingException : Exception
{
    /// <summary>Creates the exception.</summary>
    public NonFiniteTrainingException(string message, long step, NonFiniteFinding? finding)
        : base(message)
    {
        Step = step;
        Finding = finding;
    }

    /// <summary>The model's <c>TrainStep</c> call (1-based) that stopped training.</summary>
    public long Step { get; }

    /// <summary>Where the replay first found a non-finite value, or null.</summary>
    public NonFiniteFinding? Finding { get; }

    /// <summary>Whether the batch itself (an input or a target) held the non-finite value.</summary>
    public bool BatchIsCause => Finding?.InBatch == true;
}
