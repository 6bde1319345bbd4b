using System;
using System.Collections.Generic;

namespace Dsl.Cuda;

/// <summary>
/// A model's CUDA form, generated from the same plan as its CPU engine: the CUDA C source (every
/// kernel reads and writes slices of one device arena at the plan's offsets) and the launch lists
/// that run it, matrix products going to cuBLAS (cuBLASLt where a Dense's bias/GELU is fused into the product). The device arena is the CPU arena followed by a
/// small scratch tail (the gradient norm and the per-row losses).
/// </summary>
public sealed class CudaProgram
{
    /// <summary>Creates the description (called by generated code).</summary>
    /// <param name="model">The model's name.</param>
    /// <param name="source">The CUDA C source.</param>
    /// <param name="arenaLength">Device arena length in floats (the CPU arena plus the scratch tail).</param>
    /// <param name="normOffset">Where the gradient-norm kernel leaves ‖g‖₂.</param>
    /// <param name="lossOffset">Where the loss kernel leaves the per-row losses.</param>
    /// <param name="lossDivisor">Per row: the mean loss is Σ row losses / (rows × this).</param>
    /// <param name="maxRows">Largest number of rows a pass holds (MaxBatch × Sequence).</param>
    /// <param name="outputWidth">Features per output row (the width of MSE targets).</param>
    /// <param name="forward">The forward launches.</param>
    /// <param name="loss">The fused loss forward and backward.</param>
    /// <param name="backward">The backward launches.</param>
    /// <param name="gradientNorm">The global gradient norm (runs before either update).</param>
    /// <param name="sgd">The SGD update.</param>
    /// <param name="adamW">The AdamW update.</param>
    /// <param name="unsupported">Steps the CUDA emitter does not emit yet (empty when complete).</param>
    /// <param name="pooled">The model mean-pools its sequence: the loss has one row per example.</param>
    /// <param name="lion">The Lion update (empty for a program printed before it existed).</param>
    /// <param name="adversarialPerturb">FGM, after a clean pass: save the gradients, back the table up and perturb it (empty without [Adversarial]).</param>
    /// <param name="adversarialRestore">FGM, after the perturbed pass: add the saved gradients and restore the table.</param>
    /// <param name="multiTask">The tasks of a multi-task loss (Ops.MultiTask), or null for a single loss.</param>
    public CudaProgram(string model, string source, int arenaLength, int normOffset, int lossOffset, int lossDivisor, int maxRows, int outputWidth,
        CudaLaunch[] forward, CudaLaunch[] loss, CudaLaunch[] backward, CudaLaunch[] gradientNorm, CudaLaunch[] sgd, CudaLaunch[] adamW, string[] unsupported,
        bool pooled = false, CudaLaunch[]? lion = null, CudaLaunch[]? adversarialPerturb = null, CudaLaunch[]? adversarialRestore = null,
        CudaMultiTask? multiTask = null)
    {
        MultiTask = multiTask;
        AdversarialPerturb = adversarialPerturb ?? System.Array.Empty<CudaLaunch>();
        AdversarialRestore = adversarialRestore ?? System.Array.Empty<CudaLaunch>();
        Pooled = pooled;
        Lion = lion ?? System.Array.Empty<CudaLaunch>();
        Model = model;
        Source = source;
        ArenaLength = arenaLength;
        NormOffset = normOffset;
        LossOffset = lossOffset;
        LossDivisor = lossDivisor;
        MaxRows = maxRows;
        OutputWidth = outputWidth;
        Forward = forward;
        Loss = loss;
        Backward = backward;
        GradientNorm = gradientNorm;
        Sgd = sgd;
        AdamW = adamW;
        Unsupported = unsupported;
    }

    /// <summary>The model's name.</summary>
    public string Model { get; }

    /// <summary>The CUDA C source (compiles with NVRTC, and with clang-14 through its own prelude).</summary>
    public string Source { get; }

    /// <summary>Device arena length in floats.</summary>
    public int ArenaLength { get; }

    /// <summary>Arena offset of ‖g‖₂ after <see cref="GradientNorm"/>.</summary>
    public int NormOffset { get; }

    /// <summary>Arena offset of the per-row losses after <see cref="Loss"/>.</summary>
    public int LossOffset { get; }

    /// <summary>The mean loss is Σ row losses / (rows × LossDivisor): 1 for cross-entropy, the width for MSE.</summary>
    public int LossDivisor { get; }

    /// <summary>Largest number of rows a pass holds.</summary>
    public int MaxRows { get; }

    /// <summary>Features per output row.</summary>
    public int OutputWidth { get; }

    /// <summary>The forward schedule.</summary>
    public IReadOnlyList<CudaLaunch> Forward { get; }

    /// <summary>The fused loss (value and ∂loss/∂output).</summary>
    public IReadOnlyList<CudaLaunch> Loss { get; }

    /// <summary>The backward schedule.</summary>
    public IReadOnlyList<CudaLaunch> Backward { get; }

    /// <summary>The global gradient norm.</summary>
    public IReadOnlyList<CudaLaunch> GradientNorm { get; }

    /// <summary>The SGD (momentum) update.</summary>
    public IReadOnlyList<CudaLaunch> Sgd { get; }

    /// <summary>The AdamW update.</summary>
    public IReadOnlyList<CudaLaunch> AdamW { get; }

    /// <summary>Steps of the plan the CUDA emitter does not emit yet ("AttentionForward (Blocks0.Attn)");
    /// a model with any cannot run on a GPU.</summary>
    public IReadOnlyList<string> Unsupported { get; }

    /// <summary>Whether the model mean-pools its sequence, so the loss (and the launches after the pool) have one
    /// row per example: the mean loss is Σ of the first batch row losses / (batch × <see cref="LossDivisor"/>).</summary>
    public bool Pooled { get; }

    /// <summary>The Lion update: sign of an interpolated momentum (reads the global norm for clipping).</summary>
    public IReadOnlyList<CudaLaunch> Lion { get; }

    /// <summary>FGM ([Adversarial]), run after a clean training pass: saves the gradient region, backs the embedding
    /// table up and adds r = ε·g/‖g‖ to it (g the table's clean gradient). Then a second training pass with the same
    /// arguments and <see cref="AdversarialRestore"/> (see <see cref="CudaSession.AdversarialPass"/>). Empty without FGM.</summary>
    public IReadOnlyList<CudaLaunch> AdversarialPerturb { get; }

    /// <summary>FGM, after the perturbed pass: adds the saved clean gradients to the perturbed ones and copies the
    /// table back bit for bit. Empty without FGM.</summary>
    public IReadOnlyList<CudaLaunch> AdversarialRestore { get; }

    /// <summary>Whether the model trains with FGM: a training step is <see cref="CudaSession.AdversarialPass"/>, not a plain pass.</summary>
    public bool Adversarial => AdversarialPerturb.Count > 0;

    /// <summary>The tasks of a multi-task loss (Ops.MultiTask): <see cref="Loss"/> then holds every task's loss launches,
    /// and a training pass weighs them on the host (see <see cref="CudaMultiTask"/>); null for a single loss.</summary>
    public CudaMultiTask? MultiTask { get; }

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
