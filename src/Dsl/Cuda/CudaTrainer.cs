using System;
using Dsl.Optimizers;

namespace Dsl.Cuda;

/// <summary>
/// Training and prediction for a model with real-valued inputs on a GPU, the device counterpart of a
/// model's <c>TrainStep</c> and <c>Predict</c>: inputs are uploaded into the arena's input rows, the
/// labels staged, and the forward, loss, backward, gradient norm and optimizer launch lists run on
/// the device. Counts its own optimizer steps (the update does not run in <see cref="Optimizer.Step{T}"/>).
/// </summary>
public sealed class CudaTrainer : IDisposable
{
    private readonly CudaSession _session;
    private readonly int _inputOffset;
    private readonly int _inputWidth;
    private readonly int _outputOffset;
    private readonly ulong _seed;
    private long _updates;
    private ulong _dropoutStep;

    /// <summary>Opens a session on <paramref name="program"/> with the CPU engine's <paramref name="arena"/>
    /// (initialised parameters), for inputs of <paramref name="inputWidth"/> features at <paramref name="inputOffset"/>.</summary>
    /// <exception cref="Interop.CudaUnavailableException">No usable GPU; the message says what is missing.</exception>
    public CudaTrainer(CudaProgram program, ReadOnlySpan<float> arena, int inputOffset, int inputWidth, int outputOffset, ulong seed)
    {
        ArgumentNullException.ThrowIfNull(program);
        ArgumentOutOfRangeException.ThrowIfNegative(inputOffset);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(inputWidth);
        _session = CudaSession.Open(program, arena);
        _inputOffset = inputOffset;
        _inputWidth = inputWidth;
        _outputOffset = outputOffset;
        _seed = seed;
    }

    /// <summary>The device session (for downloading parameters).</summary>
    public CudaSession Session => _session;

    /// <summary>One step on up to MaxRows examples: forward, loss, backward and one update with
    /// <paramref name="optimizer"/> (AdamW, SGD or Lion, at its current learning rate). Returns the mean loss.</summary>
    /// <exception cref="ArgumentException">The shapes disagree, or the optimizer is not AdamW, SGD or Lion.</exception>
    public double TrainStep(ReadOnlySpan<float> inputs, ReadOnlySpan<int> labels, Optimizer optimizer)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        int rows = labels.Length;
        if (rows == 0 || rows > _session.Program.MaxRows || inputs.Length != rows * _inputWidth)
            throw new ArgumentException($"a step takes 1 to {_session.Program.MaxRows} labels and {_inputWidth} inputs per label; got {labels.Length} labels and {inputs.Length} inputs.", nameof(inputs));
        _session.Upload(inputs, _inputOffset);
        _session.Stage(ReadOnlySpan<int>.Empty, labels, ReadOnlySpan<float>.Empty);
        double loss = _session.TrainingPass(rows, rows, _seed, _dropoutStep);
        _updates++;
        switch (optimizer)
        {
            case AdamW adamW:
            {
                var args = CudaArgs.ForAdamW(adamW, _updates);
                _session.Run(_session.Program.GradientNorm, args);
                _session.Run(_session.Program.AdamW, args);
                break;
            }
            case Sgd sgd:
            {
                var args = CudaArgs.ForSgd(sgd);
                _session.Run(_session.Program.GradientNorm, args);
                _session.Run(_session.Program.Sgd, args);
                break;
            }
            case Lion lion when _session.Program.Lion.Count > 0:
            {
                var args = CudaArgs.ForLion(lion);
                _session.Run(_session.Program.GradientNorm, args);
                _session.Run(_session.Program.Lion, args);
                break;
            }
            default:
                throw new ArgumentException($"the CUDA path has AdamW, SGD and Lion updates; {optimizer.GetType().Name} has none.", nameof(optimizer));
        }

        _dropoutStep++;
        return loss;
    }

    /// <summary>The forward pass without dropout on any number of rows (in chunks of MaxRows).</summary>
    public void Predict(ReadOnlySpan<float> inputs, Span<float> outputs)
    {
        int rows = inputs.Length / _inputWidth;
        int width = _session.Program.OutputWidth, max = _session.Program.MaxRows;
        if (inputs.Length != rows * _inputWidth || outputs.Length < rows * width)
            throw new ArgumentException($"inputs must be whole rows of {_inputWidth} and outputs hold {width} per row; got {inputs.Length} inputs and {outputs.Length} outputs.", nameof(outputs));
        for (int start = 0; start < rows; start += max)
        {
            int count = Math.Min(max, rows - start);
            _session.Upload(inputs.Slice(start * _inputWidth, count * _inputWidth), _inputOffset);
            _session.Run(_session.Program.Forward, CudaArgs.ForPass(count, count, training: false, _seed, _dropoutStep));
            _session.Download(outputs.Slice(start * width, count * width), _outputOffset);
        }
    }

    /// <summary>Releases the session.</summary>
    public void Dispose() => _session.Dispose();
}
