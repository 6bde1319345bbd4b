using System;
using System.Runtime.CompilerServices;
using Dsl.Optimizers;

[assembly: InternalsVisibleTo("Dsl.Cuda.Tests")]

namespace Dsl.Cuda.Runner;

/// <summary>One model driven the same way on the CPU engine (<c>Engine&lt;float&gt;</c>) and on the GPU.</summary>
internal abstract class ModelCase
{
    /// <summary>The name printed in reports.</summary>
    public abstract string Name { get; }

    /// <summary>The generated CUDA program.</summary>
    public abstract CudaProgram Program { get; }

    /// <summary>Rows in a step (batch × sequence).</summary>
    public abstract int Rows { get; }

    /// <summary>Examples in a step.</summary>
    public abstract int Batch { get; }

    /// <summary>The CPU engine's arena (parameters, gradients, optimizer state, activations).</summary>
    public abstract float[] Arena { get; }

    /// <summary>The seed of the CPU engine (initialisation and dropout masks).</summary>
    public abstract ulong Seed { get; }

    /// <summary>The parameter tensors: names, offsets, lengths.</summary>
    public abstract ReadOnlySpan<ParameterTensor> Tensors { get; }

    /// <summary>Where the gradients start in the arena.</summary>
    public abstract int GradientOffset { get; }

    /// <summary>Where the optimizer state starts.</summary>
    public abstract int StateOffset { get; }

    /// <summary>The parameter region's length (the state holds a multiple of it).</summary>
    public abstract int ParameterRegion { get; }

    /// <summary>Where the forward's output starts.</summary>
    public abstract int OutputOffset { get; }

    /// <summary>Values per output row.</summary>
    public abstract int OutputWidth { get; }

    /// <summary>The labels of the step.</summary>
    public abstract int[] Labels { get; }

    /// <summary>The forward pass without dropout on the CPU.</summary>
    public abstract void CpuForward();

    /// <summary>Forward, loss and backward on the CPU with dropout masks <paramref name="dropoutStep"/>; the mean loss.</summary>
    public abstract double CpuTrainingPass(ulong dropoutStep);

    /// <summary>One optimizer update on the CPU.</summary>
    public abstract void CpuApply(Optimizer optimizer);

    /// <summary>Stages the step's token ids and labels on the device (inputs travel in the arena).</summary>
    public abstract void Stage(CudaSession session);

    /// <summary>The AdamW of the case (the sample's hyper-parameters, with clipping).</summary>
    public abstract AdamW NewAdamW();

    /// <summary>A deterministic pseudo-random integer in [0, <paramref name="bound"/>) from <paramref name="i"/>.</summary>
    protected static int Hash(int i, int bound)
    {
        uint h = unchecked(((uint)i * 2654435761u) ^ 0x9E3779B9u);
        h ^= h >> 15;
        h = unchecked(h * 2246822519u);
        h ^= h >> 13;
        return (int)(h % (uint)bound);
    }
}

/// <summary>samples/FashionMnist's MLP (784-1024-1024-10, ReLU, dropout 0.2, softmax cross-entropy), full batch of 128.</summary>
internal sealed class MlpCase : ModelCase
{
    private readonly FashionMnist.FashionMlp.Engine<float> _engine;
    private readonly int[] _labels;

    /// <summary>Initialises the engine from <paramref name="seed"/> and fills a batch of Gaussian inputs.</summary>
    public MlpCase(ulong seed)
    {
        _engine = new FashionMnist.FashionMlp.Engine<float>(seed);
        var random = new Dsl.Runtime.SeededRandom(seed + 1);
        Span<float> input = _engine.Input;
        for (int i = 0; i < Rows * FashionMnist.FashionMlp.InputFeatures; i++) input[i] = (float)random.NextGaussian();
        _labels = new int[Rows];
        for (int r = 0; r < Rows; r++) _labels[r] = Hash(r, FashionMnist.FashionMlp.OutputFeatures);
    }

    public override string Name => "mlp (FashionMlp 784-1024-1024-10, batch 128)";
    public override CudaProgram Program => FashionMnist.FashionMlp.CudaProgram;
    public override int Rows => FashionMnist.FashionMlp.Engine<float>.MaxRows;
    public override int Batch => Rows;
    public override float[] Arena => _engine.Arena;
    public override ulong Seed => _engine.Seed;
    public override ReadOnlySpan<ParameterTensor> Tensors => FashionMnist.FashionMlp.Engine<float>.Tensors;
    public override int GradientOffset => FashionMnist.FashionMlp.Engine<float>.GradientOffset;
    public override int StateOffset => FashionMnist.FashionMlp.Engine<float>.StateOffset;
    public override int ParameterRegion => FashionMnist.FashionMlp.Engine<float>.ParameterRegion;
    public override int OutputOffset => FashionMnist.FashionMlp.Engine<float>.OutputOffset;
    public override int OutputWidth => FashionMnist.FashionMlp.OutputFeatures;
    public override int[] Labels => _labels;
    public override void CpuForward() => _engine.Forward(Batch, training: false);

    public override double CpuTrainingPass(ulong dropoutStep)
    {
        _engine.DropoutStep = dropoutStep;
        return _engine.TrainingPass(Batch, _labels);
    }

    public override void CpuApply(Optimizer optimizer) => _engine.ApplyOptimizer(optimizer);
    public override void Stage(CudaSession session) => session.Stage(ReadOnlySpan<int>.Empty, _labels, ReadOnlySpan<float>.Empty);
    public override AdamW NewAdamW() => new(learningRate: 1e-3, weightDecay: 0.01) { MaxGradientNorm = 1.0 };
}

/// <summary>samples/CharGpt's model (4 blocks, 128 wide, 4 heads, 64 positions, vocabulary 65, tied head), batch 12.</summary>
internal sealed class GptCase : ModelCase
{
    private readonly CharGpt.CharGpt.Engine<float> _engine;
    private readonly int[] _labels;

    /// <summary>Initialises the engine from <paramref name="seed"/> and fills a batch of pseudo-random tokens.</summary>
    public GptCase(ulong seed)
    {
        _engine = new CharGpt.CharGpt.Engine<float>(seed);
        _labels = new int[Rows];
        for (int r = 0; r < Rows; r++)
        {
            _engine.Tokens[r] = Hash(r, 65);
            _labels[r] = Hash(r + 1, 65);
        }
    }

    public override string Name => "chargpt (CharGpt 4x128, 4 heads, 64 positions, batch 12)";
    public override CudaProgram Program => CharGpt.CharGpt.CudaProgram;
    public override int Rows => CharGpt.CharGpt.Engine<float>.MaxRows;
    public override int Batch => CharGpt.CharGpt.Engine<float>.MaxBatch;
    public override float[] Arena => _engine.Arena;
    public override ulong Seed => _engine.Seed;
    public override ReadOnlySpan<ParameterTensor> Tensors => CharGpt.CharGpt.Engine<float>.Tensors;
    public override int GradientOffset => CharGpt.CharGpt.Engine<float>.GradientOffset;
    public override int StateOffset => CharGpt.CharGpt.Engine<float>.StateOffset;
    public override int ParameterRegion => CharGpt.CharGpt.Engine<float>.ParameterRegion;
    public override int OutputOffset => CharGpt.CharGpt.Engine<float>.OutputOffset;
    public override int OutputWidth => CharGpt.CharGpt.Engine<float>.OutputFeatures;
    public override int[] Labels => _labels;
    public override void CpuForward() => _engine.Forward(Batch, training: false);

    public override double CpuTrainingPass(ulong dropoutStep)
    {
        _engine.DropoutStep = dropoutStep;
        return _engine.TrainingPass(Batch, _labels);
    }

    public override void CpuApply(Optimizer optimizer) => _engine.ApplyOptimizer(optimizer);
    public override void Stage(CudaSession session) => session.Stage(_engine.Tokens, _labels, ReadOnlySpan<float>.Empty);
    public override AdamW NewAdamW() => new(learningRate: 1e-3, beta2: 0.99, weightDecay: 0.1) { MaxGradientNorm = 1.0 };
}
