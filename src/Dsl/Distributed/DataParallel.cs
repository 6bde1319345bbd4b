using System;
using System.Numerics;
using System.Runtime.InteropServices;

namespace Dsl.Distributed;

/// <summary>
/// Data-parallel training of one generated engine: every rank holds the whole model and takes its
/// <see cref="Shard"/> of every global batch; the backward's gradients are summed across ranks in buckets while it
/// runs (<see cref="GradientAllReduce{T}"/>), weighted so that every rank ends with the mean over the global batch,
/// before clipping and the optimizer step; so the gradient norm the optimizer computes (and clips by) is the global
/// one. Dropout masks follow the global row, so N ranks at a global batch B train the model one process would at
/// B, up to the order of floating-point sums. With one rank (<see cref="LocalCommunicator"/>) nothing is attached
/// and a step is exactly the single-process step.
/// </summary>
/// <typeparam name="T">float (or double for checks).</typeparam>
public sealed class DataParallel<T> : IDisposable where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly IDataParallelEngine<T> _engine;
    private readonly GradientAllReduce<T>? _reduce;
    private readonly double[] _loss = new double[1];
    private Shard _shard;
    private int _examples;

    /// <summary>Attaches to <paramref name="engine"/> (e.g. <c>model.Compiled</c>) and checks that every rank starts
    /// from the same parameters.</summary>
    /// <param name="communicator">The ranks (<see cref="Communicator.FromEnvironment"/>).</param>
    /// <param name="engine">The model's engine; every rank's must have the same parameters (same seed, or the same checkpoint).</param>
    /// <param name="bucketBytes">Gradient bucket size.</param>
    /// <param name="overlap">False: one blocking reduction after the backward instead of buckets during it.</param>
    /// <exception cref="NotSupportedException">The model cannot be trained data-parallel (the message says why).</exception>
    /// <exception cref="InvalidOperationException">The ranks' parameters differ (the message names the ranks), or the engine already has a hook.</exception>
    public DataParallel(ICommunicator communicator, IDataParallelEngine<T> engine, int bucketBytes = GradientAllReduce<T>.DefaultBucketBytes, bool overlap = true)
    {
        ArgumentNullException.ThrowIfNull(communicator);
        ArgumentNullException.ThrowIfNull(engine);
        Communicator = communicator;
        _engine = engine;
        if (communicator.Size == 1) return;
        if (engine.DataParallelIssue is { } issue)
            throw new NotSupportedException($"this model cannot be trained data-parallel: {issue}. Train it in one process.");
        if (engine.GradientHook is not null)
            throw new InvalidOperationException("the engine already reports its backward to a hook (another DataParallel?): dispose that one first.");
        RequireSameParameters();
        _reduce = new GradientAllReduce<T>(communicator, engine.Arena, engine.GradientOffset, engine.ParameterRegion, bucketBytes, overlap);
        engine.GradientHook = _reduce;
    }

    /// <summary>The ranks.</summary>
    public ICommunicator Communicator { get; }

    /// <summary>This rank.</summary>
    public int Rank => Communicator.Rank;

    /// <summary>Number of ranks.</summary>
    public int Size => Communicator.Size;

    /// <summary>The gradient reduction (null with one rank).</summary>
    public GradientAllReduce<T>? Reduction => _reduce;

    /// <summary>
    /// This rank's examples of a global batch of <paramref name="examples"/> (<see cref="Distributed.Shard.Of"/>), and
    /// prepares the step: the engine's rows start at the shard's first global row (dropout), and the gradients are
    /// weighted by the shard's share. Call before every step, then train on exactly those examples.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The batch has fewer examples than there are ranks.</exception>
    public Shard Shard(int examples)
    {
        _shard = Distributed.Shard.Of(examples, Rank, Size);
        _examples = examples;
        int sequence = _engine.Sequence;
        _engine.FirstRow = checked(_shard.Start * sequence);
        _reduce?.BeginStep(_shard.Count * sequence, examples * sequence);
        return _shard;
    }

    /// <summary>The global batch's mean loss from this rank's mean over its shard (one small all-reduce; every rank
    /// gets the same value). Call after the step whose shard <see cref="Shard"/> gave.</summary>
    public double GlobalLoss(double localLoss)
    {
        if (Size == 1) return localLoss;
        if (_examples == 0) throw new InvalidOperationException("GlobalLoss needs the step's shard: call Shard before the step.");
        _loss[0] = localLoss * _shard.Count / _examples;
        Communicator.AllReduceSum(_loss.AsSpan());
        return _loss[0];
    }

    /// <summary>Detaches from the engine.</summary>
    public void Dispose()
    {
        if (_reduce is not null && ReferenceEquals(_engine.GradientHook, _reduce)) _engine.GradientHook = null;
        _engine.FirstRow = 0;
    }

    /// <summary>Compares a hash of every rank's parameter region with rank 0's; names the ranks that differ.</summary>
    private void RequireSameParameters()
    {
        ulong hash = Hash(MemoryMarshal.AsBytes(_engine.Arena.AsSpan(0, _engine.ParameterRegion)));
        Span<byte> root = stackalloc byte[sizeof(ulong)];
        BitConverter.TryWriteBytes(root, hash);
        Communicator.Broadcast(root, 0);
        var differs = new double[Size];
        differs[Rank] = BitConverter.ToUInt64(root) == hash ? 0 : 1;
        Communicator.AllReduceSum(differs.AsSpan());
        var ranks = new System.Collections.Generic.List<int>();
        for (int r = 0; r < differs.Length; r++)
            if (differs[r] != 0) ranks.Add(r);
        if (ranks.Count > 0)
            throw new InvalidOperationException($"rank(s) {string.Join(", ", ranks)} start from other parameters than rank 0: create the model with the same seed on every rank, or load the same checkpoint on every rank.");
    }

    /// <summary>FNV-1a, 64 bits.</summary>
    private static ulong Hash(ReadOnlySpan<byte> bytes)
    {
        ulong h = 14695981039346656037UL;
        foreach (byte b in bytes) h = (h ^ b) * 1099511628211UL;
        return h;
    }
}
