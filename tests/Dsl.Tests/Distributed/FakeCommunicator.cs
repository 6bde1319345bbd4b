using System;
using System.Collections.Generic;
using System.Runtime.CompilerServices;
using Dsl.Distributed;

namespace Dsl.Tests.Distributed;

/// <summary>
/// An in-process stand-in for <see cref="Size"/> ranks that all hold this rank's values: a sum is the value times
/// the size. A started reduction is summed when it is first tested (or only when waited for, with
/// <see cref="CompleteOnlyInWait"/>), or at once with <see cref="ApplyOnStart"/>: then a caller that writes a buffer
/// after starting its reduction ends with a wrong sum. Logs every reduction in order. Allocates nothing per call
/// while <see cref="Log"/> has room.
/// </summary>
internal sealed class FakeCommunicator : ICommunicator
{
    private const int Slots = 64;
    private readonly Memory<float>[] _floats = new Memory<float>[Slots];
    private readonly Memory<double>[] _doubles = new Memory<double>[Slots];
    private readonly bool[] _started = new bool[Slots];
    private long _sequence;

    public FakeCommunicator(int size = 2, int rank = 0, int logCapacity = 4096)
    {
        Size = size;
        Rank = rank;
        Log = new(logCapacity);
    }

    public int Rank { get; }

    public int Size { get; }

    public string Transport => "fake";

    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Sum a bucket as soon as it starts.</summary>
    public bool ApplyOnStart { get; set; }

    /// <summary>Leave started reductions pending until waited for (checks that the caller waits).</summary>
    public bool CompleteOnlyInWait { get; set; }

    /// <summary>What each broadcast delivers instead of the root's bytes, when set.</summary>
    public byte[]? BroadcastOverride { get; set; }

    /// <summary>Every event in order: (length, "start" | "blocking" | "done").</summary>
    public List<(int Length, string Event)> Log { get; }

    /// <summary>Started reductions not yet completed.</summary>
    public int Pending
    {
        get
        {
            int n = 0;
            foreach (bool started in _started) if (started) n++;
            return n;
        }
    }

    public void AllReduceSum(Span<double> values)
    {
        Log.Add((values.Length, "blocking"));
        foreach (ref double v in values) v *= Size;
    }

    public void AllReduceSum(Span<float> values)
    {
        Log.Add((values.Length, "blocking"));
        foreach (ref float v in values) v *= Size;
    }

    public void Broadcast(Span<byte> data, int root) => BroadcastOverride?.AsSpan(0, data.Length).CopyTo(data);

    public void Barrier()
    {
    }

    public ReductionRequest StartAllReduceSum<T>(Memory<T> values) where T : unmanaged
    {
        int slot = Array.IndexOf(_started, false);
        _started[slot] = true;
        // Memory<T> is (object, index, length) whatever T is: reinterpreting it does not box.
        if (typeof(T) == typeof(float)) _floats[slot] = Unsafe.As<Memory<T>, Memory<float>>(ref values);
        else _doubles[slot] = Unsafe.As<Memory<T>, Memory<double>>(ref values);
        Log.Add((values.Length, "start"));
        if (ApplyOnStart) Finish(slot);
        return new ReductionRequest(slot, ++_sequence);
    }

    public bool Test(ReductionRequest request)
    {
        if (!CompleteOnlyInWait) Finish(request.Slot);
        return !_started[request.Slot];
    }

    public void Wait(ReductionRequest request) => Finish(request.Slot);

    public void Abort(string message, int errorCode = 1) => throw new InvalidOperationException(message);

    public void Dispose()
    {
    }

    private void Finish(int slot)
    {
        if (!_started[slot]) return;
        _started[slot] = false;
        foreach (ref float v in _floats[slot].Span) v *= Size;
        foreach (ref double v in _doubles[slot].Span) v *= Size;
        Log.Add((_floats[slot].Length + _doubles[slot].Length, "done"));
        _floats[slot] = default;
        _doubles[slot] = default;
    }
}
