using System;
using System.Collections.Generic;

namespace Dsl.Cuda;

/// <summary>
/// A model's CUDA form, generated from the same plan as its CPU engine: the CUDA C source (every
/// kernel reads and writes slices of one device arena at the plan's offsets) and the launch lists
/// that run it, matrix products going to cuBLAS (cuBLASLt where a Dense's bias/GELU is fused into the
/// product). The device arena is the CPU arena followed by a small scratch tail (the gradient norm and
/// the per-row losses). Generated code sets the members it needs (<c>new CudaProgram(name, source) { … }</c>);
/// a test derives a variant with <c>with</c>.
/// </summary>
/// <param name="Model">The model's name.</param>
/// <param name="Source">The CUDA C source (compiles with NVRTC, and with clang-14 through its own prelude).</param>
public sealed record CudaProgram(string Model, string Source)
{
    /// <summary>Device arena length in floats (the CPU arena plus the scratch tail).</summary>
    public int ArenaLength { get; init; }

    /// <summary>Arena offset of ‖g‖₂ after <see cref="GradientNorm"/>.</summary>
    public int NormOffset { get; init; }

    /// <summary>Arena offset of the per-row losses after <see cref="Loss"/>.</summary>
    public int LossOffset { get; init; }

    /// <summary>The mean loss is Σ row losses / (rows × LossDivisor): 1 for cross-entropy, the width for MSE.</summary>
    public int LossDivisor { get; init; } = 1;

    /// <summary>Largest number of rows a pass holds (MaxBatch × Sequence).</summary>
    public int MaxRows { get; init; }

    /// <summary>Features per output row (the width of MSE targets).</summary>
    public int OutputWidth { get; init; }

    /// <summary>The forward schedule.</summary>
    public IReadOnlyList<CudaLaunch> Forward { get; init; } = [];

    /// <summary>The fused loss (value and ∂loss/∂output).</summary>
    public IReadOnlyList<CudaLaunch> Loss { get; init; } = [];

    /// <summary>The backward schedule.</summary>
    public IReadOnlyList<CudaLaunch> Backward { get; init; } = [];

    /// <summary>The global gradient norm (runs before either update).</summary>
    public IReadOnlyList<CudaLaunch> GradientNorm { get; init; } = [];

    /// <summary>The SGD (momentum) update.</summary>
    public IReadOnlyList<CudaLaunch> Sgd { get; init; } = [];

    /// <summary>The AdamW update.</summary>
    public IReadOnlyList<CudaLaunch> AdamW { get; init; } = [];

    /// <summary>The Lion update: sign of an interpolated momentum (reads the global norm for clipping).</summary>
    public IReadOnlyList<CudaLaunch> Lion { get; init; } = [];

    /// <summary>Steps of the plan the CUDA emitter does not emit yet ("AttentionForward (Blocks0.Attn)");
    /// a model with any cannot run on a GPU.</summary>
    public IReadOnlyList<string> Unsupported { get; init; } = [];

    /// <summary>Whether the model mean-pools its sequence, so the loss (and the launches after the pool) have one
    /// row per example: the mean loss is Σ of the first batch row losses / (batch × <see cref="LossDivisor"/>).</summary>
    public bool Pooled { get; init; }

    /// <summary>Whether the loss is a pair loss (Ops.CoSent, Ops.CosineMse): its targets are one score per pair of
    /// sentences, not labels.</summary>
    public bool PairTargets { get; init; }

    /// <summary>FGM ([Adversarial]), run after a clean training pass: saves the gradient region, backs the embedding
    /// table up and adds r = ε·g/‖g‖ to it (g the table's clean gradient). Then a second training pass with the same
    /// arguments and <see cref="AdversarialRestore"/> (see <see cref="CudaSession.AdversarialPass"/>). Empty without FGM.</summary>
    public IReadOnlyList<CudaLaunch> AdversarialPerturb { get; init; } = [];

    /// <summary>FGM, after the perturbed pass: adds the saved clean gradients to the perturbed ones and copies the
    /// table back bit for bit. Empty without FGM.</summary>
    public IReadOnlyList<CudaLaunch> AdversarialRestore { get; init; } = [];

    /// <summary>Whether the model trains with FGM: a training step is <see cref="CudaSession.AdversarialPass"/>, not a plain pass.</summary>
    public bool Adversarial => AdversarialPerturb.Count > 0;

    /// <summary>The tasks of a multi-task loss (Ops.MultiTask): <see cref="Loss"/> then holds every task's loss launches,
    /// and a training pass weighs them on the host (see <see cref="CudaMultiTask"/>); null for a single loss.</summary>
    public CudaMultiTask? MultiTask { get; init; }

    /// <summary>The model's name (the source is long).</summary>
    public override string ToString() => $"CudaProgram {Model}";

    /// <summary>How many per-row losses a pass of <paramref name="rows"/> rows over <paramref name="batch"/> examples leaves.</summary>
    public int LossRows(int rows, int batch) => Pooled ? batch : rows;

    /// <summary>Every kernel name the launch lists use, once each, in order of first use.</summary>
    public IEnumerable<string> KernelNames()
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var list in new[] { Forward, Loss, Backward, GradientNorm, Sgd, AdamW, Lion, AdversarialPerturb, AdversarialRestore })
        {
            foreach (var launch in list)
            {
                if (launch.Gemm is null && seen.Add(launch.Name)) yield return launch.Name;
            }
        }

        if (MultiTask is null) yield break;
        foreach (var task in MultiTask.Tasks)
        {
            if (seen.Add(task.Scale.Name)) yield return task.Scale.Name;
        }
    }
}
