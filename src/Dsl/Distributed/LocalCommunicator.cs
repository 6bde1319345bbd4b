using System;

namespace Dsl.Distributed;

/// <summary>
/// One process, one rank: every collective is the identity (a sum over one rank is the value itself), so code
/// written for data parallelism runs unchanged, and bit for bit as it would without a communicator.
/// </summary>
public sealed class LocalCommunicator : ICommunicator
{
    /// <summary>The single-process communicator.</summary>
    public static LocalCommunicator Instance { get; } = new();

    private LocalCommunicator()
    {
    }

    /// <inheritdoc/>
    public int Rank => 0;

    /// <inheritdoc/>
    public int Size => 1;

    /// <inheritdoc/>
    public string Transport => "one process";

    /// <inheritdoc/>
    public TimeSpan Timeout { get; set; } = System.Threading.Timeout.InfiniteTimeSpan;

    /// <inheritdoc/>
    public void AllReduceSum(Span<double> values)
    {
    }

    /// <inheritdoc/>
    public void AllReduceSum(Span<float> values)
    {
    }

    /// <inheritdoc/>
    public void Broadcast(Span<byte> data, int root) => RequireRoot(root);

    /// <inheritdoc/>
    public void Barrier()
    {
    }

    /// <inheritdoc/>
    public ReductionRequest StartAllReduceSum<T>(Memory<T> values) where T : unmanaged
    {
        if (typeof(T) != typeof(float) && typeof(T) != typeof(double))
            throw new NotSupportedException($"all-reduce sums float or double values, not {typeof(T).Name}.");
        return default;
    }

    /// <inheritdoc/>
    public bool Test(ReductionRequest request) => true;

    /// <inheritdoc/>
    public void Wait(ReductionRequest request)
    {
    }

    /// <inheritdoc/>
    public void Abort(string message, int errorCode = 1)
    {
        Console.Error.WriteLine($"[dsl] {message}; stopping.");
        Environment.Exit(errorCode);
    }

    /// <summary>Nothing to release.</summary>
    public void Dispose()
    {
    }

    private static void RequireRoot(int root)
    {
        if (root != 0) throw new ArgumentOutOfRangeException(nameof(root), root, "a single-process communicator has only rank 0.");
    }
}
