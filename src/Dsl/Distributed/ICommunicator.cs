using System;

namespace Dsl.Distributed;

/// <summary>
/// Collective operations among the processes (ranks) of one data-parallel job: what a training step needs to
/// sum gradients, losses and counts across ranks. <see cref="LocalCommunicator"/> is the single-process
/// identity; <see cref="MpiCommunicator"/> runs over Open MPI; on GPUs, <c>Dsl.Cuda.NcclCommunicator</c> adds
/// device-memory reductions. Every rank must make the same calls in the same order (MPI's rule for collectives).
/// A wait that exceeds <see cref="Timeout"/> throws <see cref="CommunicatorTimeoutException"/> instead of hanging.
/// </summary>
public interface ICommunicator : IDisposable
{
    /// <summary>This process's rank, 0 to <see cref="Size"/> − 1.</summary>
    int Rank { get; }

    /// <summary>Number of ranks.</summary>
    int Size { get; }

    /// <summary>What carries the messages, e.g. "Open MPI v4.1.4" or "one process".</summary>
    string Transport { get; }

    /// <summary>Longest a collective may wait for the other ranks before <see cref="CommunicatorTimeoutException"/>.</summary>
    TimeSpan Timeout { get; set; }

    /// <summary>Sums <paramref name="values"/> element-wise across ranks, in place; every rank gets the sum.</summary>
    void AllReduceSum(Span<double> values);

    /// <summary>Sums <paramref name="values"/> element-wise across ranks, in place; every rank gets the sum.</summary>
    void AllReduceSum(Span<float> values);

    /// <summary>Copies <paramref name="data"/> from rank <paramref name="root"/> to every rank (same length on all).</summary>
    void Broadcast(Span<byte> data, int root);

    /// <summary>Returns once every rank has called it.</summary>
    void Barrier();

    /// <summary>
    /// Starts summing <paramref name="values"/> (float or double) across ranks in place, without waiting: the
    /// memory must stay untouched until <see cref="Test"/> returns true or <see cref="Wait"/> returns. Requests
    /// complete in any order; each must be waited for (or tested to completion) exactly once.
    /// </summary>
    /// <exception cref="NotSupportedException">T is neither float nor double.</exception>
    ReductionRequest StartAllReduceSum<T>(Memory<T> values) where T : unmanaged;

    /// <summary>Lets pending reductions progress (MPI moves data only inside its calls); true when
    /// <paramref name="request"/> has completed.</summary>
    bool Test(ReductionRequest request);

    /// <summary>Waits for <paramref name="request"/> to complete, for at most <see cref="Timeout"/>.</summary>
    /// <exception cref="CommunicatorTimeoutException">It did not complete in time: another rank has stopped or stalled.</exception>
    void Wait(ReductionRequest request);

    /// <summary>Stops every rank of the job (MPI_Abort), after writing <paramref name="message"/> with this rank's
    /// number to standard error. Does not return.</summary>
    void Abort(string message, int errorCode = 1);
}

/// <summary>A reduction started by <see cref="ICommunicator.StartAllReduceSum{T}"/>: a slot in the communicator's
/// table of pending requests and the sequence number that slot had when it started.</summary>
/// <param name="Slot">The communicator's slot.</param>
/// <param name="Sequence">Which use of the slot this is (a stale request is refused).</param>
public readonly record struct ReductionRequest(int Slot, long Sequence);
