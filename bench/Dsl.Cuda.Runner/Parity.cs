using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;

namespace Dsl.Cuda.Runner;

/// <summary>
/// GPU against CPU engine, per model: the forward output (no dropout), the training loss, every parameter's
/// gradient, then <c>steps</c> AdamW updates with clipping (the loss of each step, then every parameter and the
/// optimizer state after the last). Both sides start from the same arena, use the same batch and the same dropout
/// masks (same seed and dropout step), so they differ only by floating-point order.
/// </summary>
/// <remarks>
/// The error of an element is |gpu − cpu| / max(|cpu|, 1e-2 · max|cpu over the tensor|, 1e-7): relative where the
/// value matters, and relative to 1 % of the tensor's largest value where the value is near zero (a gradient that
/// should be 0 and is 1e-9 is not a failure). A group passes when its largest error is at most 1e-4.
/// </remarks>
internal static class Parity
{
    /// <summary>The largest relative error a group may have.</summary>
    public const double Tolerance = 1e-4;

    /// <summary>The fraction of a tensor's largest magnitude below which errors are measured against it.</summary>
    public const double RelativeFloor = 1e-2;

    /// <summary>The absolute floor of the denominator (an all-zero tensor).</summary>
    public const double AbsoluteFloor = 1e-7;

    /// <summary>Runs the parity check on the selected models; <see cref="RunnerProgram.Failed"/> if any group fails.</summary>
    public static int Run(Options options, TextWriter output)
    {
        bool pass = true;
        if (options.Includes("mlp")) pass &= Check(new MlpCase(seed: 1), options.Steps, options.CublasLt, output);
        if (options.Includes("chargpt")) pass &= Check(new GptCase(seed: 1337), options.Steps, options.CublasLt, output);
        output.WriteLine(pass ? "parity: PASS" : "parity: FAIL");
        return pass ? RunnerProgram.Ok : RunnerProgram.Failed;
    }

    private static bool Check(ModelCase c, int steps, bool cublasLt, TextWriter output)
    {
        output.WriteLine($"== {c.Name}: tolerance {Tolerance:g} relative (floor {RelativeFloor:g} x tensor max, {AbsoluteFloor:g} absolute)");
        using var session = CudaSession.Open(c.Program, c.Arena, useCublasLt: cublasLt);
        output.WriteLine(Options.MatmulPath(session));
        var report = new Report(output);
        c.Stage(session);

        // Forward without dropout.
        c.CpuForward();
        session.Run(c.Program.Forward, CudaArgs.ForPass(c.Rows, c.Batch, training: false, c.Seed, 0));
        report.Compare("forward output", session, c.Arena, c.OutputOffset, c.Rows * c.OutputWidth);

        // Training pass: loss and gradients.
        var adamW = c.NewAdamW();
        var losses = new List<(double Cpu, double Gpu)>();
        for (int step = 0; step < steps; step++)
        {
            double cpu = c.CpuTrainingPass((ulong)step);
            double gpu = session.TrainingPass(c.Rows, c.Batch, c.Seed, (ulong)step);
            losses.Add((cpu, gpu));
            if (step == 0)
            {
                report.Scalar("loss", cpu, gpu);
                foreach (var t in c.Tensors) report.Compare("gradient " + t.Name, session, c.Arena, c.GradientOffset + t.Offset, t.Length, "gradients");
            }

            var args = CudaArgs.ForAdamW(adamW);
            c.CpuApply(adamW);
            session.Run(c.Program.GradientNorm, args);
            session.Run(c.Program.AdamW, args);
        }

        double worstLoss = 0;
        foreach (var (cpu, gpu) in losses) worstLoss = Math.Max(worstLoss, Math.Abs(gpu - cpu) / Math.Max(Math.Abs(cpu), AbsoluteFloor));
        report.Line($"loss over {steps} AdamW steps", worstLoss, $"first {losses[0].Cpu:g6}, last CPU {losses[^1].Cpu:g9} GPU {losses[^1].Gpu:g9}");
        foreach (var t in c.Tensors) report.Compare($"parameter {t.Name} after {steps} steps", session, c.Arena, t.Offset, t.Length, "parameters");
        int slots = adamW.StateSlots;
        for (int s = 0; s < slots; s++)
            foreach (var t in c.Tensors)
                report.Compare($"AdamW state {s} {t.Name}", session, c.Arena, c.StateOffset + (s * c.ParameterRegion) + t.Offset, t.Length, "optimizer state");
        return report.Finish();
    }

    /// <summary>Prints one line per tensor (only the worst per group unless it fails) and the group summary.</summary>
    private sealed class Report(TextWriter output)
    {
        private readonly Dictionary<string, (double Worst, string Where)> _groups = new(StringComparer.Ordinal);
        private readonly List<string> _order = new();
        private bool _pass = true;

        public void Scalar(string what, double cpu, double gpu) =>
            Line(what, Math.Abs(gpu - cpu) / Math.Max(Math.Abs(cpu), AbsoluteFloor), $"CPU {cpu:g9} GPU {gpu:g9}");

        public void Compare(string what, CudaSession session, float[] arena, int offset, int length, string? group = null)
        {
            float[] gpu = new float[length];
            session.Download(gpu, offset);
            double scale = 0;
            for (int i = 0; i < length; i++) scale = Math.Max(scale, Math.Abs(arena[offset + i]));
            double worst = 0;
            int at = 0;
            for (int i = 0; i < length; i++)
            {
                double cpu = arena[offset + i];
                double error = Math.Abs(gpu[i] - cpu) / Math.Max(Math.Max(Math.Abs(cpu), RelativeFloor * scale), AbsoluteFloor);
                if (!(error <= worst)) { worst = error; at = i; }
            }

            string detail = $"worst [{at}]: CPU {arena[offset + at]:g9} GPU {gpu[at]:g9}";
            if (group is null) Line(what, worst, detail);
            else Add(group, what, worst, detail);
        }

        public void Line(string what, double worst, string detail)
        {
            bool ok = worst <= Tolerance;
            _pass &= ok;
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {(ok ? "PASS" : "FAIL")}  {what,-44} max rel err {worst,10:e2}  ({detail})"));
        }

        private void Add(string group, string what, double worst, string detail)
        {
            if (!(worst <= Tolerance)) Line(what, worst, detail);
            if (!_groups.TryGetValue(group, out var current)) _order.Add(group);
            if (!_groups.ContainsKey(group) || !(worst <= current.Worst)) _groups[group] = (worst, $"{what}; {detail}");
        }

        public bool Finish()
        {
            foreach (string group in _order)
            {
                var (worst, where) = _groups[group];
                Line(group + " (all tensors)", worst, where);
            }

            return _pass;
        }
    }
}
