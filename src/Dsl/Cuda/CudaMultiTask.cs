using System;
using System.Collections.Generic;
using System.Globalization;

namespace Dsl.Cuda;

/// <summary>A target parameter of a multi-task [Loss] method, and where its values are staged.</summary>
/// <param name="Name">The parameter's name.</param>
/// <param name="IsLabels">Class labels (ints, one per row); otherwise a float tensor of <paramref name="Width"/> per row.</param>
/// <param name="Width">Values per row: 1 for labels, the predicting head's width for a tensor.</param>
/// <param name="Offset">Its first value in the labels (ints) or targets (floats) staging buffer; each target holds up to MaxRows rows.</param>
public sealed record CudaTaskTarget(string Name, bool IsLabels, int Width, int Offset);

/// <summary>One task of a multi-task program.</summary>
/// <param name="Title">"SoftmaxCrossEntropy on y".</param>
/// <param name="Target">Index of its target in <see cref="CudaMultiTask.Targets"/>.</param>
/// <param name="LossOffset">Arena offset of its per-row losses (after its loss launches, flooding included).</param>
/// <param name="LossDivisor">Its mean loss is Σ row losses / (rows × this): 1 for a classification loss, the width for MSE.</param>
/// <param name="Weight">α_i of <see cref="TaskWeighting.Sum"/>: 1, or the explicit weights of <c>Ops.MultiTask(double[], …)</c> (1 for the other weightings).</param>
/// <param name="Scale">The launch that multiplies the task's head gradient by its factor ∂L/∂L_i (read from the arena at <see cref="CudaMultiTask.FactorOffset"/> + task).</param>
public sealed record CudaTask(string Title, int Target, int LossOffset, int LossDivisor, double Weight, CudaLaunch Scale);

/// <summary>
/// The multi-task part of a <see cref="CudaProgram"/> (Ops.MultiTask): the program's <see cref="CudaProgram.Loss"/>
/// launches leave each task's per-row losses at its <see cref="CudaTask.LossOffset"/> and its unweighted gradient in its
/// head's ∂; the host then reads the losses back, computes L and each factor ∂L/∂L_i with <c>Dsl.Kernels.MultiTask</c>
/// (in double, as the CPU engine does), writes the factors to <see cref="FactorOffset"/> (and ∂L/∂s_i into the gradient
/// region for <see cref="TaskWeighting.Uncertainty"/>), runs each task's <see cref="CudaTask.Scale"/> and then the backward.
/// </summary>
public sealed class CudaMultiTask
{
    /// <summary>Creates the description (called by generated code).</summary>
    public CudaMultiTask(TaskWeighting weighting, CudaTaskTarget[] targets, CudaTask[] tasks, int factorOffset, int logVarianceOffset, int logVarianceGradientOffset)
    {
        ArgumentNullException.ThrowIfNull(targets);
        ArgumentNullException.ThrowIfNull(tasks);
        Weighting = weighting;
        Targets = targets;
        Tasks = tasks;
        FactorOffset = factorOffset;
        LogVarianceOffset = logVarianceOffset;
        LogVarianceGradientOffset = logVarianceGradientOffset;
        var scale = new CudaLaunch[tasks.Length];
        for (int i = 0; i < tasks.Length; i++) scale[i] = tasks[i].Scale;
        Scale = scale;
    }

    /// <summary>Every task's <see cref="CudaTask.Scale"/>, in order: run after the factors are written, before the backward.</summary>
    public IReadOnlyList<CudaLaunch> Scale { get; }

    /// <summary>How the losses combine.</summary>
    /// <remarks><see cref="TaskWeighting.Sum"/> also stands for explicit weights: each task's <see cref="CudaTask.Weight"/> is its α_i.</remarks>
    public TaskWeighting Weighting { get; }

    /// <summary>The [Loss] method's target parameters, in declaration order.</summary>
    public IReadOnlyList<CudaTaskTarget> Targets { get; }

    /// <summary>The tasks, in Ops.MultiTask's order.</summary>
    public IReadOnlyList<CudaTask> Tasks { get; }

    /// <summary>Arena offset of the task factors the scale launches read (one float per task).</summary>
    public int FactorOffset { get; }

    /// <summary>Arena offset of s_i (tasks.log_variance) for <see cref="TaskWeighting.Uncertainty"/>, else −1.</summary>
    public int LogVarianceOffset { get; }

    /// <summary>Arena offset of ∂L/∂s_i in the gradient region for <see cref="TaskWeighting.Uncertainty"/>, else −1.</summary>
    public int LogVarianceGradientOffset { get; }

    /// <summary>Ints of the labels buffer and floats of the targets buffer that hold every target for <paramref name="maxRows"/> rows.</summary>
    public (int Labels, int Targets) StagingLengths(int maxRows)
    {
        int labels = 0, targets = 0;
        foreach (var t in Targets)
        {
            if (t.IsLabels) labels = Math.Max(labels, t.Offset + maxRows);
            else targets = Math.Max(targets, t.Offset + (t.Width * maxRows));
        }

        return (labels, targets);
    }

    /// <summary>The target named <paramref name="name"/>, or −1.</summary>
    public int TargetIndex(string name)
    {
        for (int i = 0; i < Targets.Count; i++)
        {
            if (string.Equals(Targets[i].Name, name, StringComparison.Ordinal)) return i;
        }

        return -1;
    }
}

/// <summary>
/// The host side of a multi-task pass, shared by <see cref="CudaSession"/> (and the CPU emulation check): from the
/// per-row losses the loss launches left, each task's loss L_i, the combined loss and the factors ∂L/∂L_i, and, for
/// <see cref="TaskWeighting.Uncertainty"/>, ∂L/∂s_i. Holds L_i⁰ of <see cref="TaskWeighting.InitialLoss"/>.
/// No method allocates.
/// </summary>
public sealed class CudaTaskWeights
{
    private readonly CudaMultiTask _spec;
    private readonly double[] _losses;
    private readonly double[] _scales;
    private readonly double[] _initial;
    private readonly double[] _weights;

    /// <summary>State for <paramref name="spec"/>'s tasks (L_i⁰ not recorded yet).</summary>
    public CudaTaskWeights(CudaMultiTask spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        _spec = spec;
        int count = spec.Tasks.Count;
        _losses = new double[count];
        _scales = new double[count];
        _initial = new double[count];
        _weights = new double[count];
        for (int i = 0; i < count; i++) _weights[i] = spec.Tasks[i].Weight;
    }

    /// <summary>Each task's own loss L_i from the last pass.</summary>
    public ReadOnlySpan<double> TaskLosses => _losses;

    /// <summary>Each task's factor ∂L/∂L_i in the last pass (what its gradient was scaled by in a training pass).</summary>
    public ReadOnlySpan<double> TaskWeights => _scales;

    /// <summary>L_i⁰ of <see cref="TaskWeighting.InitialLoss"/> (0 until the first training pass records it); settable to resume a run.</summary>
    public Span<double> InitialTaskLosses => _initial;

    /// <summary>
    /// From <paramref name="slots"/> (the arena from the program's first task's loss offset: each task's
    /// <paramref name="lossRows"/> row losses at its own offset), sets <see cref="TaskLosses"/> and <see cref="TaskWeights"/> and
    /// returns the combined loss. For <see cref="TaskWeighting.Uncertainty"/> reads s_i from <paramref name="logVariance"/> and,
    /// when <paramref name="training"/>, writes ∂L/∂s_i to <paramref name="logVarianceGradient"/>. When <paramref name="training"/>,
    /// writes each factor (as float) to <paramref name="factors"/>; InitialLoss records L_i⁰ only then.
    /// </summary>
    /// <exception cref="InvalidOperationException">InitialLoss: a task's first loss is 0 or not finite.</exception>
    public double Combine(ReadOnlySpan<float> slots, int lossRows, ReadOnlySpan<float> logVariance, Span<float> logVarianceGradient, Span<float> factors, bool training)
    {
        var tasks = _spec.Tasks;
        int first = tasks[0].LossOffset;
        for (int t = 0; t < tasks.Count; t++)
        {
            double total = 0;
            var rows = slots.Slice(tasks[t].LossOffset - first, lossRows);
            foreach (float loss in rows) total += loss;
            _losses[t] = lossRows == 0 ? 0 : total / ((double)lossRows * tasks[t].LossDivisor);
        }

        double combined = _spec.Weighting switch
        {
            TaskWeighting.InitialLoss => Kernels.MultiTask.InitialLoss(_losses, _initial, record: training, _scales),
            TaskWeighting.LogSum => Kernels.MultiTask.LogSum(_losses, _scales),
            TaskWeighting.Uncertainty => Kernels.MultiTask.Uncertainty<float>(_losses, logVariance, training ? logVarianceGradient : default, _scales),
            _ => Kernels.MultiTask.Fixed(_losses, _weights, _scales),
        };
        if (training)
        {
            for (int t = 0; t < tasks.Count; t++) factors[t] = (float)_scales[t];
        }

        return combined;
    }

    /// <summary>How many floats from the first task's loss offset hold every task's <paramref name="lossRows"/> row losses.</summary>
    internal int SlotSpan(int lossRows) => _spec.Tasks[^1].LossOffset - _spec.Tasks[0].LossOffset + lossRows;

    internal static string Describe(CudaTaskTarget target) =>
        target.IsLabels ? $"labels '{target.Name}' (one int per row)" : $"tensor '{target.Name}' ({target.Width.ToString(CultureInfo.InvariantCulture)} floats per row)";
}
