using System;
using Dsl.Optimizers;

namespace Dsl.Cuda;

/// <summary>
/// Training and prediction on a GPU, the device counterpart of a model's <c>TrainStep</c> and
/// <c>Predict</c>: real-valued inputs are uploaded into the arena's input rows (token ids of a token
/// model are staged instead, see <see cref="ForTokens"/>), the labels staged, and the forward, loss,
/// backward, gradient norm and optimizer launch lists run on the device. Counts its own optimizer
/// steps (the update does not run in <see cref="Optimizer.Step{T}"/>).
/// </summary>
public sealed class CudaTrainer : IDisposable
{
    private readonly CudaSession _session;
    private readonly int _inputOffset;
    private readonly int _inputWidth;
    private readonly int _outputOffset;
    private readonly int _sequence;
    private readonly ulong _seed;
    private readonly bool _pairs;
    private long _updates;
    private ulong _dropoutStep;
    private NcclCommunicator? _nccl;
    private ulong _gradients;
    private int _gradientCount;
    private Dsl.Distributed.Shard _shard;
    private int _examples;
    private readonly double[] _loss = new double[1];

    /// <summary>Opens a session on <paramref name="program"/> with the CPU engine's <paramref name="arena"/>
    /// (initialised parameters), for inputs of <paramref name="inputWidth"/> features at <paramref name="inputOffset"/>.</summary>
    /// <exception cref="Interop.CudaUnavailableException">No usable GPU; the message says what is missing.</exception>
    public CudaTrainer(CudaProgram program, ReadOnlySpan<float> arena, int inputOffset, int inputWidth, int outputOffset, ulong seed)
        : this(program, arena, inputOffset, inputWidth, outputOffset, sequence: 0, seed)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(inputWidth);
    }

    private CudaTrainer(CudaProgram program, ReadOnlySpan<float> arena, int inputOffset, int inputWidth, int outputOffset, int sequence, ulong seed)
    {
        ArgumentNullException.ThrowIfNull(program);
        ArgumentOutOfRangeException.ThrowIfNegative(inputOffset);
        _session = CudaSession.Open(program, arena);
        _inputOffset = inputOffset;
        _inputWidth = inputWidth;
        _outputOffset = outputOffset;
        _sequence = sequence;
        _seed = seed;
        _pairs = program.MultiTask is null && program.PairTargets;
    }

    /// <summary>A trainer for a token model (its forward starts with an [Embedding]): each example is
    /// <paramref name="sequence"/> ids, with one label per position.</summary>
    /// <exception cref="Interop.CudaUnavailableException">No usable GPU; the message says what is missing.</exception>
    public static CudaTrainer ForTokens(CudaProgram program, ReadOnlySpan<float> arena, int sequence, ulong seed)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(sequence);
        return new CudaTrainer(program, arena, inputOffset: 0, inputWidth: 0, outputOffset: 0, sequence, seed);
    }

    /// <summary>
    /// Trains data-parallel on GPUs: every rank's trainer holds the whole model and trains on its <see cref="Shard"/> of
    /// each global batch; before the gradient norm and the update, the gradient slice of the device arena (where
    /// <paramref name="engine"/>, the model's CPU engine, has it) is summed across ranks with NCCL on the default
    /// stream the trainer launches on, each rank's weighted by its share of the batch, so every rank updates with the
    /// global mean gradient and clips by the global norm. Dropout masks on the GPU are drawn per local row (the CPU path
    /// draws them per global row), so a model with dropout does not reproduce one process's masks here.
    /// </summary>
    /// <exception cref="NotSupportedException">The model cannot be trained data-parallel (the message says why).</exception>
    public void UseDataParallel(NcclCommunicator communicator, Dsl.Distributed.IDataParallelEngine<float> engine)
    {
        ArgumentNullException.ThrowIfNull(communicator);
        ArgumentNullException.ThrowIfNull(engine);
        if (engine.DataParallelIssue is { } issue)
            throw new NotSupportedException($"this model cannot be trained data-parallel: {issue}. Train it on one GPU.");
        _nccl = communicator;
        _gradients = _session.ArenaPointer + ((ulong)engine.GradientOffset * sizeof(float));
        _gradientCount = engine.ParameterRegion;
    }

    /// <summary>This rank's examples of a global batch (as <see cref="Dsl.Distributed.DataParallel{T}.Shard"/>); call before
    /// each step when data-parallel.</summary>
    public Dsl.Distributed.Shard Shard(int examples)
    {
        int rank = _nccl?.Rank ?? 0, size = _nccl?.Size ?? 1;
        _shard = Dsl.Distributed.Shard.Of(examples, rank, size);
        _examples = examples;
        return _shard;
    }

    /// <summary>The global batch's mean loss from this rank's (one small all-reduce on the host).</summary>
    public double GlobalLoss(double localLoss)
    {
        if (_nccl is null || _nccl.Size == 1) return localLoss;
        _loss[0] = localLoss * _shard.Count / _examples;
        _nccl.AllReduceSum(_loss.AsSpan());
        return _loss[0];
    }

    /// <summary>The device session (for downloading parameters).</summary>
    public CudaSession Session => _session;

    /// <summary>One step on up to MaxRows examples: forward, loss, backward and one update with
    /// <paramref name="optimizer"/> (AdamW, SGD or Lion, at its current learning rate). Returns the mean loss.</summary>
    /// <exception cref="ArgumentException">The shapes disagree, or the optimizer is not AdamW, SGD or Lion.</exception>
    public double TrainStep(ReadOnlySpan<float> inputs, ReadOnlySpan<int> labels, Optimizer optimizer)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        RequireSingleLoss();
        int rows = labels.Length;
        if (rows == 0 || rows > _session.Program.MaxRows || inputs.Length != rows * _inputWidth)
            throw new ArgumentException($"a step takes 1 to {_session.Program.MaxRows} labels and {_inputWidth} inputs per label; got {labels.Length} labels and {inputs.Length} inputs.", nameof(inputs));
        if (_sequence > 0)
            throw new InvalidOperationException("this trainer is for a token model: pass the token ids as ints.");
        _session.Upload(inputs, _inputOffset);
        _session.Stage(ReadOnlySpan<int>.Empty, labels, ReadOnlySpan<float>.Empty);
        double loss = Pass(rows, rows);
        Update(optimizer);
        return loss;
    }

    /// <summary>One step of a token model (see <see cref="ForTokens"/>) on up to MaxRows positions: whole
    /// sequences of ids and one label per position (per sequence for a model with a MeanPool). Returns the mean loss
    /// per position (per sequence when pooled).</summary>
    /// <exception cref="ArgumentException">The shapes disagree, or the optimizer is not AdamW, SGD or Lion.</exception>
    public double TrainStep(ReadOnlySpan<int> tokens, ReadOnlySpan<int> labels, Optimizer optimizer)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        RequireSingleLoss();
        if (_sequence == 0)
            throw new InvalidOperationException("this trainer is for real-valued inputs: pass them as floats.");
        if (_pairs)
            throw new InvalidOperationException($"{_session.Program.Model} trains on sentence pairs (CoSENT or cosine-MSE): pass one score per pair as floats.");
        // A pooled model (a MeanPool before its loss) takes one label per sequence, any other one label per id.
        bool pooled = _session.Program.Pooled;
        int rows = tokens.Length;
        if (rows == 0 || rows > _session.Program.MaxRows || rows % _sequence != 0 || labels.Length != (pooled ? rows / _sequence : rows))
            throw new ArgumentException($"a step takes whole sequences of {_sequence} ids, 1 to {_session.Program.MaxRows} positions, and one label per {(pooled ? "sequence" : "id")}; got {tokens.Length} ids and {labels.Length} labels.", nameof(tokens));
        _session.Stage(tokens, labels, ReadOnlySpan<float>.Empty);
        double loss = Pass(rows, rows / _sequence);
        Update(optimizer);
        return loss;
    }

    /// <summary>One step of a sentence-pair model (a token model, see <see cref="ForTokens"/>, whose loss is
    /// <c>Ops.CoSent</c> or <c>Ops.CosineMse</c>), as its CPU <c>TrainStep(ids, scores, optimizer)</c>: P pairs of
    /// sentences, interleaved (sentence 2i and 2i + 1 of <paramref name="ids"/> are pair i, each <c>Sequence</c> ids),
    /// and one gold score per pair. Returns the loss.</summary>
    /// <exception cref="ArgumentException">The shapes disagree, or the optimizer is not AdamW, SGD or Lion.</exception>
    /// <exception cref="InvalidOperationException">The model has no pair loss, or this trainer is for real-valued inputs.</exception>
    public double TrainStep(ReadOnlySpan<int> ids, ReadOnlySpan<float> scores, Optimizer optimizer)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        RequireSingleLoss();
        if (_sequence == 0)
            throw new InvalidOperationException("this trainer is for real-valued inputs: pass them as floats.");
        if (!_pairs)
            throw new InvalidOperationException($"{_session.Program.Model}'s loss is not a pair loss (Ops.CoSent or Ops.CosineMse): pass one label per id as ints.");
        int rows = ids.Length, pairWidth = 2 * _sequence;
        int pairs = rows / pairWidth;
        if (rows == 0 || rows > _session.Program.MaxRows || rows % pairWidth != 0 || scores.Length != pairs)
            throw new ArgumentException($"a pair step takes whole pairs of sentences ({pairWidth} ids per pair: two sentences of {_sequence}), 1 to {_session.Program.MaxRows / pairWidth} pairs, and one score per pair; got {ids.Length} ids and {scores.Length} scores.", nameof(ids));
        _session.Stage(ids, ReadOnlySpan<int>.Empty, scores);
        double loss = Pass(rows, rows / _sequence);
        Update(optimizer);
        return loss;
    }

    /// <summary>Target buffers for a multi-task model's steps (create once, set each step's targets, reuse).</summary>
    /// <exception cref="ArgumentException">The model has a single loss.</exception>
    public CudaTargets CreateTargets() => new(_session.Program);

    /// <summary>One step of a multi-task model (Ops.MultiTask) on up to MaxRows examples: forward, every task's loss,
    /// the weighting, backward and one update. Every target of <paramref name="targets"/> must be set for the same rows as
    /// the inputs. Returns the combined loss; each task's is in <see cref="TaskLosses"/>.</summary>
    /// <exception cref="ArgumentException">The shapes disagree (the message names the target), or the optimizer is not AdamW, SGD or Lion.</exception>
    public double TrainStep(ReadOnlySpan<float> inputs, CudaTargets targets, Optimizer optimizer)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        int rows = RealRows(inputs, targets);
        _session.Upload(inputs, _inputOffset);
        _session.Stage(ReadOnlySpan<int>.Empty, targets);
        double loss = Pass(rows, rows);
        Update(optimizer);
        return loss;
    }

    /// <summary>One step of a multi-task token model (see <see cref="ForTokens"/>): whole sequences of ids, and every
    /// target of <paramref name="targets"/> set with one row per position. Returns the combined loss.</summary>
    /// <exception cref="ArgumentException">The shapes disagree (the message names the target), or the optimizer is not AdamW, SGD or Lion.</exception>
    public double TrainStep(ReadOnlySpan<int> tokens, CudaTargets targets, Optimizer optimizer)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        int rows = TokenRows(tokens, targets);
        _session.Stage(tokens, targets);
        double loss = Pass(rows, rows / _sequence);
        Update(optimizer);
        return loss;
    }

    /// <summary>The combined loss of a multi-task model on up to MaxRows examples with the current parameters, without
    /// dropout or an update; each task's loss is left in <see cref="TaskLosses"/>.</summary>
    /// <exception cref="ArgumentException">The shapes disagree; the message names the target.</exception>
    public double Evaluate(ReadOnlySpan<float> inputs, CudaTargets targets)
    {
        int rows = RealRows(inputs, targets);
        _session.Upload(inputs, _inputOffset);
        _session.Stage(ReadOnlySpan<int>.Empty, targets);
        return _session.EvaluatePass(rows, rows);
    }

    /// <summary>The combined loss of a multi-task token model on whole sequences, without dropout or an update.</summary>
    /// <exception cref="ArgumentException">The shapes disagree; the message names the target.</exception>
    public double Evaluate(ReadOnlySpan<int> tokens, CudaTargets targets)
    {
        int rows = TokenRows(tokens, targets);
        _session.Stage(tokens, targets);
        return _session.EvaluatePass(rows, rows / _sequence);
    }

    /// <summary>Each task's own loss from the last step or evaluation of a multi-task model (empty for a single loss).</summary>
    public ReadOnlySpan<double> TaskLosses => _session.TaskLosses;

    /// <summary>Each task's factor ∂L/∂L_i from the last step (empty for a single loss).</summary>
    public ReadOnlySpan<double> TaskWeights => _session.TaskWeights;

    private void RequireSingleLoss()
    {
        if (_session.Program.MultiTask is { } multi)
            throw new InvalidOperationException($"{_session.Program.Model} trains {multi.Tasks.Count} tasks (Ops.MultiTask): pass its targets as a CudaTargets (CreateTargets).");
    }

    private int RealRows(ReadOnlySpan<float> inputs, CudaTargets targets)
    {
        ArgumentNullException.ThrowIfNull(targets);
        if (_sequence > 0)
            throw new InvalidOperationException("this trainer is for a token model: pass the token ids as ints.");
        int rows = inputs.Length / _inputWidth;
        if (rows == 0 || rows > _session.Program.MaxRows || inputs.Length != rows * _inputWidth)
            throw new ArgumentException($"a step takes 1 to {_session.Program.MaxRows} rows of {_inputWidth} inputs; got {inputs.Length} inputs.", nameof(inputs));
        targets.Require(rows);
        return rows;
    }

    private int TokenRows(ReadOnlySpan<int> tokens, CudaTargets targets)
    {
        ArgumentNullException.ThrowIfNull(targets);
        if (_sequence == 0)
            throw new InvalidOperationException("this trainer is for real-valued inputs: pass them as floats.");
        int rows = tokens.Length;
        if (rows == 0 || rows > _session.Program.MaxRows || rows % _sequence != 0)
            throw new ArgumentException($"a step takes whole sequences of {_sequence} ids, 1 to {_session.Program.MaxRows} positions; got {tokens.Length} ids.", nameof(tokens));
        targets.Require(_session.Program.Pooled ? rows / _sequence : rows);
        return rows;
    }

    private void Update(Optimizer optimizer)
    {
        _updates++;
        if (_nccl is { Size: > 1 })
        {
            if (_examples == 0) throw new InvalidOperationException("a data-parallel step needs its shard: call Shard before the step.");
            // Each rank's gradients are the mean over its rows: weight by the share, sum, and every rank has the global mean.
            _nccl.AllReduceSum(_gradients, _gradientCount, (float)_shard.Count / _examples, IntPtr.Zero);
        }

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
    }

    /// <summary>The forward pass without dropout on any number of rows (in chunks of MaxRows).</summary>
    public void Predict(ReadOnlySpan<float> inputs, Span<float> outputs)
    {
        if (_sequence > 0)
            throw new InvalidOperationException("Predict on the device takes real-valued inputs; for a token model, download the parameters and predict on the CPU.");
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

    /// <summary>One training pass: FGM's two passes when the program has [Adversarial], else a plain pass.</summary>
    private double Pass(int rows, int batch) =>
        _session.Program.Adversarial ? _session.AdversarialPass(rows, batch, _seed, _dropoutStep) : _session.TrainingPass(rows, batch, _seed, _dropoutStep);

    /// <summary>Releases the session.</summary>
    public void Dispose() => _session.Dispose();
}
