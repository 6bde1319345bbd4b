using System;
using System.Diagnostics;
using System.Numerics;

namespace Dsl.Distributed;

/// <summary>
/// Sums the gradient region across ranks during the backward pass, in buckets: the region is cut into buckets
/// of about <see cref="BucketBytes"/> from its end down (reverse layer order, the order the backward finishes
/// them), and each bucket's non-blocking all-reduce starts as soon as the backward reports it finished
/// (<see cref="IGradientHook.Ready"/>), so communication overlaps the rest of the backward, as PyTorch DDP's
/// buckets do. Before a bucket starts it is scaled by this rank's share of the global batch
/// (<see cref="BeginStep"/>): each rank's gradients are the mean over its own rows, so the sum of the scaled
/// buckets is the mean over the global batch. <see cref="IGradientHook.Complete"/> waits for every bucket.
/// Allocates nothing per step.
/// </summary>
/// <typeparam name="T">float or double.</typeparam>
public sealed class GradientAllReduce<T> : IGradientHook where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Default bucket size: 1 MiB (262,144 floats).</summary>
    public const int DefaultBucketBytes = 1 << 20;

    private readonly ICommunicator _communicator;
    private readonly T[] _arena;
    private readonly int _gradientOffset;
    private readonly int _length;
    private readonly int[] _bucketStart; // offsets within the gradient region, descending
    private readonly int[] _bucketEnd;
    private readonly ReductionRequest[] _requests;
    private readonly bool _overlap;
    private int _started;   // buckets started this pass
    private int _completed; // buckets known complete this pass (in start order)
    private T _scale = T.One;
    private bool _armed;
    private long _firstStart;
    private long _lastCompletion;

    /// <summary>Reduces the <paramref name="length"/> gradients at <paramref name="gradientOffset"/> of <paramref name="arena"/>.</summary>
    /// <param name="communicator">The ranks to sum over.</param>
    /// <param name="arena">The engine's arena (allocated pinned by the generated engine; pinned again per bucket otherwise).</param>
    /// <param name="gradientOffset">Where the gradient region starts.</param>
    /// <param name="length">Length of the gradient region.</param>
    /// <param name="bucketBytes">Bucket size in bytes (at least one element).</param>
    /// <param name="overlap">False reduces the whole region in one blocking call after the backward, for comparison.</param>
    public GradientAllReduce(ICommunicator communicator, T[] arena, int gradientOffset, int length, int bucketBytes = DefaultBucketBytes, bool overlap = true)
    {
        ArgumentNullException.ThrowIfNull(communicator);
        ArgumentNullException.ThrowIfNull(arena);
        ArgumentOutOfRangeException.ThrowIfNegative(gradientOffset);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(bucketBytes);
        if ((long)gradientOffset + length > arena.Length)
            throw new ArgumentException($"the gradient region [{gradientOffset}, {gradientOffset} + {length}) lies outside the arena of {arena.Length} elements.", nameof(length));
        _communicator = communicator;
        _arena = arena;
        _gradientOffset = gradientOffset;
        _length = length;
        _overlap = overlap;
        int elementSize = System.Runtime.CompilerServices.Unsafe.SizeOf<T>();
        int bucket = Math.Max(1, bucketBytes / elementSize);
        int count = length == 0 ? 0 : (int)(((long)length + bucket - 1) / bucket);
        if (count > MpiCommunicator.MaxPendingRequests)
        {
            // Keep every bucket of a pass in flight at once: grow the buckets instead.
            count = MpiCommunicator.MaxPendingRequests;
            bucket = (int)(((long)length + count - 1) / count);
        }

        _bucketStart = new int[count];
        _bucketEnd = new int[count];
        _requests = new ReductionRequest[count];
        for (int b = 0; b < count; b++)
        {
            _bucketEnd[b] = length - b * bucket;
            _bucketStart[b] = Math.Max(0, _bucketEnd[b] - bucket);
        }

        BucketBytes = (long)bucket * elementSize;
    }

    /// <summary>Bytes per bucket (the last, at the region's start, may be shorter).</summary>
    public long BucketBytes { get; }

    /// <summary>Number of buckets.</summary>
    public int Buckets => _bucketStart.Length;

    /// <summary>Whether buckets start during the backward (else one blocking reduction after it).</summary>
    public bool Overlap => _overlap;

    /// <summary>What the reductions cost so far (see <see cref="AllReduceStatistics"/>).</summary>
    public AllReduceStatistics Statistics { get; private set; }

    /// <summary>Clears <see cref="Statistics"/> (e.g. after a warm-up).</summary>
    public void ResetStatistics() => Statistics = default;

    /// <summary>Before each step: this rank holds <paramref name="localRows"/> of the step's <paramref name="globalRows"/>
    /// rows, so its mean gradients are weighted by localRows/globalRows before the sum.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The counts are not 0 &lt; local ≤ global.</exception>
    public void BeginStep(int localRows, int globalRows)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(localRows);
        ArgumentOutOfRangeException.ThrowIfLessThan(globalRows, localRows);
        if (_started != 0)
            throw new InvalidOperationException("the previous step's gradients are still being reduced: its backward did not complete.");
        _scale = localRows == globalRows ? T.One : T.CreateTruncating((double)localRows / globalRows);
        _armed = true;
    }

    /// <inheritdoc/>
    public void Ready(int first)
    {
        RequireArmed();
        if (!_overlap) return;
        long before = Stopwatch.GetTimestamp();
        while (_started < _bucketStart.Length && _bucketStart[_started] >= first) Start(_started++);
        Progress();
        Statistics = Statistics with { HookSeconds = Statistics.HookSeconds + Seconds(Stopwatch.GetTimestamp() - before) };
    }

    /// <inheritdoc/>
    public void Complete()
    {
        RequireArmed();
        _armed = false;
        long before = Stopwatch.GetTimestamp();
        if (_overlap)
        {
            while (_started < _bucketStart.Length) Start(_started++);
            if (_started > 0 && _firstStart == 0) _firstStart = before;
            for (; _completed < _started; _completed++)
            {
                try
                {
                    _communicator.Wait(_requests[_completed]);
                }
                catch (CommunicatorTimeoutException e)
                {
                    throw new CommunicatorTimeoutException($"gradient bucket {_completed + 1} of {_started} (step {Statistics.Steps + 1}): {e.Message}", e);
                }
            }
        }
        else
        {
            Span<T> region = _arena.AsSpan(_gradientOffset, _length);
            if (_scale != T.One) Kernels.Elementwise.Scale<T>(region, _scale, region);
            _firstStart = before;
            AllReduce(region);
        }

        long after = Stopwatch.GetTimestamp();
        _lastCompletion = after;
        var s = Statistics;
        Statistics = s with
        {
            Steps = s.Steps + 1,
            Bytes = s.Bytes + (long)_length * System.Runtime.CompilerServices.Unsafe.SizeOf<T>(),
            ExposedSeconds = s.ExposedSeconds + Seconds(after - before),
            InFlightSeconds = s.InFlightSeconds + (_firstStart == 0 ? 0 : Seconds(_lastCompletion - _firstStart)),
        };
        _started = _completed = 0;
        _firstStart = 0;
    }

    private void RequireArmed()
    {
        // Every rank must reduce every backward: a pass no step announced would use a stale batch share.
        if (!_armed)
            throw new InvalidOperationException("a backward pass ran without BeginStep: with data parallelism, take each step's shard (DataParallel.Shard) before the step.");
    }

    private void Start(int bucket)
    {
        var values = new Memory<T>(_arena, _gradientOffset + _bucketStart[bucket], _bucketEnd[bucket] - _bucketStart[bucket]);
        if (_scale != T.One) Kernels.Elementwise.Scale<T>(values.Span, _scale, values.Span);
        if (_firstStart == 0) _firstStart = Stopwatch.GetTimestamp();
        _requests[bucket] = _communicator.StartAllReduceSum(values);
    }

    /// <summary>Tests the oldest pending buckets (MPI moves data only inside its calls, so this is what makes the
    /// started reductions progress while the backward computes).</summary>
    private void Progress()
    {
        while (_completed < _started && _communicator.Test(_requests[_completed])) _completed++;
    }

    private void AllReduce(Span<T> region)
    {
        if (typeof(T) == typeof(float))
            _communicator.AllReduceSum(System.Runtime.InteropServices.MemoryMarshal.Cast<T, float>(region));
        else if (typeof(T) == typeof(double))
            _communicator.AllReduceSum(System.Runtime.InteropServices.MemoryMarshal.Cast<T, double>(region));
        else
            throw new NotSupportedException($"all-reduce sums float or double gradients, not {typeof(T).Name}.");
    }

    private static double Seconds(long ticks) => (double)ticks / Stopwatch.Frequency;
}

/// <summary>
/// What the gradient reductions of <see cref="GradientAllReduce{T}"/> cost over <see cref="Steps"/> steps.
/// <see cref="ExposedSeconds"/> is the time the step waited after its backward (the communication the backward
/// did not hide); <see cref="InFlightSeconds"/> runs from the first bucket's start to the last one's completion;
/// <see cref="HookSeconds"/> is the time the backward spent starting and testing buckets.
/// </summary>
/// <param name="Steps">Steps reduced.</param>
/// <param name="Bytes">Gradient bytes reduced (per rank).</param>
/// <param name="ExposedSeconds">Time waiting for reductions after the backward.</param>
/// <param name="InFlightSeconds">Time from each step's first bucket start to its last completion, summed.</param>
/// <param name="HookSeconds">Time inside the backward's hook calls.</param>
public readonly record struct AllReduceStatistics(long Steps, long Bytes, double ExposedSeconds, double InFlightSeconds, double HookSeconds);
