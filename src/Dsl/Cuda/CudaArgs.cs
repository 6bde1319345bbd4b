using System.Runtime.InteropServices;

namespace Dsl.Cuda;

/// <summary>
/// The run-time values every kernel receives by value (the C struct <c>DslArgs</c> of the generated
/// source has the same layout): the batch, the dropout seed and step, and the optimizer's scalars,
/// derived on the host exactly as the CPU optimizers derive them.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
public struct CudaArgs
{
    /// <summary>Rows in this step (batch × sequence).</summary>
    public int Rows;

    /// <summary>Examples in this step.</summary>
    public int Batch;

    /// <summary>1 in training (dropout on), 0 otherwise.</summary>
    public int Training;

    /// <summary>1 when weight decay applies to every tensor, not only matrices.</summary>
    public int DecayAll;

    /// <summary>The engine's seed.</summary>
    public ulong Seed;

    /// <summary>The engine's dropout step (selects the masks).</summary>
    public ulong DropoutStep;

    /// <summary>Learning rate (SGD).</summary>
    public float LearningRate;

    /// <summary>β₁ (AdamW) or the momentum (SGD).</summary>
    public float Beta1;

    /// <summary>1 − β₁.</summary>
    public float OneMinusBeta1;

    /// <summary>β₂.</summary>
    public float Beta2;

    /// <summary>1 − β₂.</summary>
    public float OneMinusBeta2;

    /// <summary>ε.</summary>
    public float Epsilon;

    /// <summary>1 − lr·weight decay (1 without decay).</summary>
    public float Decay;

    /// <summary>lr / (1 − β₁ᵗ).</summary>
    public float StepSize;

    /// <summary>√(1 − β₂ᵗ).</summary>
    public float SqrtBiasCorrection2;

    /// <summary>Global-norm clipping threshold, 0 for none.</summary>
    public float MaxGradientNorm;

    /// <summary>The arguments of a forward, loss or backward launch.</summary>
    public static CudaArgs ForPass(int rows, int batch, bool training, ulong seed, ulong dropoutStep) =>
        new() { Rows = rows, Batch = batch, Training = training ? 1 : 0, Seed = seed, DropoutStep = dropoutStep };

    /// <summary>The arguments of the SGD update, derived as <see cref="Optimizers.Sgd"/> derives them.</summary>
    public static CudaArgs ForSgd(Optimizers.Sgd sgd)
    {
        System.ArgumentNullException.ThrowIfNull(sgd);
        return new()
        {
            LearningRate = (float)sgd.LearningRate,
            Beta1 = (float)sgd.Momentum,
            Decay = sgd.WeightDecay > 0 ? (float)(1.0 - (sgd.LearningRate * sgd.WeightDecay)) : 1f,
            MaxGradientNorm = (float)sgd.MaxGradientNorm,
        };
    }

    /// <summary>The arguments of the AdamW update for its next step (t = Steps + 1), derived as
    /// <see cref="Optimizers.AdamW"/> derives them.</summary>
    public static CudaArgs ForAdamW(Optimizers.AdamW adamW)
    {
        System.ArgumentNullException.ThrowIfNull(adamW);
        return ForAdamW(adamW, adamW.Steps + 1);
    }

    /// <summary>The arguments of the AdamW update number <paramref name="step"/> (1-based), for a caller that
    /// counts the steps itself because the update runs on the device, not in <see cref="Optimizers.AdamW.Step{T}"/>.</summary>
    /// <exception cref="System.ArgumentOutOfRangeException"><paramref name="step"/> is below 1.</exception>
    public static CudaArgs ForAdamW(Optimizers.AdamW adamW, long step)
    {
        System.ArgumentNullException.ThrowIfNull(adamW);
        System.ArgumentOutOfRangeException.ThrowIfLessThan(step, 1L);
        long t = step;
        double biasCorrection1 = 1.0 - System.Math.Pow(adamW.Beta1, t);
        double biasCorrection2 = 1.0 - System.Math.Pow(adamW.Beta2, t);
        return new()
        {
            DecayAll = adamW.DecayAll ? 1 : 0,
            LearningRate = (float)adamW.LearningRate,
            Beta1 = (float)adamW.Beta1,
            OneMinusBeta1 = (float)(1.0 - adamW.Beta1),
            Beta2 = (float)adamW.Beta2,
            OneMinusBeta2 = (float)(1.0 - adamW.Beta2),
            Epsilon = (float)adamW.Epsilon,
            Decay = adamW.WeightDecay > 0 ? (float)(1.0 - (adamW.LearningRate * adamW.WeightDecay)) : 1f,
            StepSize = (float)(adamW.LearningRate / biasCorrection1),
            SqrtBiasCorrection2 = (float)System.Math.Sqrt(biasCorrection2),
            MaxGradientNorm = (float)adamW.MaxGradientNorm,
        };
    }

    /// <summary>The update scalars of <paramref name="lion"/>: β₁, β₂ and their complements, the learning rate, the
    /// decay factor 1 − lr·λ (1 without weight decay), decayAll and the clipping threshold, as the CPU optimizer
    /// derives them.</summary>
    /// <param name="lion">The optimizer whose hyper-parameters the kernel uses.</param>
    /// <returns>The arguments of the Lion launch list.</returns>
    public static CudaArgs ForLion(Optimizers.Lion lion)
    {
        System.ArgumentNullException.ThrowIfNull(lion);
        return new()
        {
            DecayAll = lion.DecayAll ? 1 : 0,
            LearningRate = (float)lion.LearningRate,
            Beta1 = (float)lion.Beta1,
            OneMinusBeta1 = (float)(1.0 - lion.Beta1),
            Beta2 = (float)lion.Beta2,
            OneMinusBeta2 = (float)(1.0 - lion.Beta2),
            Decay = lion.WeightDecay > 0 ? (float)(1.0 - (lion.LearningRate * lion.WeightDecay)) : 1f,
            MaxGradientNorm = (float)lion.MaxGradientNorm,
        };
    }
}
