using System;
using System.Threading;
using Dsl.Runtime;
using Xunit;

namespace Dsl.Tests.Runtime;

// Private pools throughout, so these tests neither depend on the core count nor disturb
// WorkerPool.Shared; a pool of 2 has one helper thread even on a single core.
public sealed class WorkerPoolTests
{
    [Theory]
    [InlineData(1, 0)]
    [InlineData(1, 5)]
    [InlineData(2, 1)]
    [InlineData(2, 2)]
    [InlineData(2, 17)]
    [InlineData(3, 1000)]
    public void Run_RunsEveryPartExactlyOnce_WithTheRightCount(int threads, int parts)
    {
        var pool = new WorkerPool(threads);
        var work = new CountingWork(parts);
        for (int repeat = 0; repeat < 20; repeat++)
        {
            Array.Clear(work.Counts);
            pool.Run(work, parts);
            Assert.All(work.Counts, count => Assert.Equal(1, count));
            Assert.False(work.WrongCount);
        }
    }

    [Fact]
    public void Run_WithOneThread_RunsOnTheCaller()
    {
        var pool = new WorkerPool(2) { Threads = 1 };
        var work = new ThreadRecordingWork(8);
        pool.Run(work, 8);
        Assert.All(work.ThreadIds, id => Assert.Equal(Environment.CurrentManagedThreadId, id));
    }

    [Fact]
    public void Run_WithTwoThreads_RunsPartsConcurrentlyOnADedicatedBackgroundThread()
    {
        var pool = new WorkerPool(2);

        // Each part waits for the other: this only completes if two threads run them at once.
        var work = new BarrierWork();
        pool.Run(work, 2);
        Assert.True(work.MetPartner[0] && work.MetPartner[1], "the two parts did not run concurrently");
        Assert.Contains(Environment.CurrentManagedThreadId, work.ThreadIds);
        Assert.NotEqual(work.ThreadIds[0], work.ThreadIds[1]);
        Assert.True(work.HelperWasBackground);
    }

    [Fact]
    public void Run_RethrowsAWorkersException_OnTheCaller_AndStaysUsable()
    {
        var pool = new WorkerPool(2);
        var failing = new FailingWork(failIndex: 1);
        var error = Assert.Throws<InvalidOperationException>(() => pool.Run(failing, 4));
        Assert.Equal("part 1", error.Message);
        Assert.Equal(3, failing.Completed);

        var work = new CountingWork(6);
        pool.Run(work, 6);
        Assert.All(work.Counts, count => Assert.Equal(1, count));
    }

    [Fact]
    public void Run_NestedInsideAPart_RunsInlineInsteadOfDeadlocking()
    {
        var pool = new WorkerPool(2);
        var inner = new CountingWork(3);
        var outer = new NestingWork(pool, inner);
        pool.Run(outer, 2);
        Assert.All(inner.Counts, count => Assert.Equal(2, count));
    }

    [Fact]
    public void Run_AfterWarmUp_AllocatesNothing()
    {
        var pool = new WorkerPool(2);
        var work = new CountingWork(4);
        for (int i = 0; i < 10; i++)
        {
            pool.Run(work, 4);
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1000; i++)
        {
            pool.Run(work, 4);
        }

        long after = GC.GetAllocatedBytesForCurrentThread();
        Assert.Equal(before, after);
        Assert.All(work.Counts, count => Assert.Equal(1010, count));
    }

    [Fact]
    public void Threads_OutsideOneToMax_Throws()
    {
        var pool = new WorkerPool(3);
        Assert.Equal(3, pool.MaxThreads);
        Assert.Equal(3, pool.Threads);
        Assert.Throws<ArgumentOutOfRangeException>(() => pool.Threads = 0);
        Assert.Throws<ArgumentOutOfRangeException>(() => pool.Threads = 4);
        pool.Threads = 2;
        Assert.Equal(2, pool.Threads);
        Assert.Throws<ArgumentOutOfRangeException>(() => new WorkerPool(0));
        Assert.Throws<ArgumentNullException>(() => pool.Run(null!, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => pool.Run(new CountingWork(0), -1));
    }

    [Theory]
    [InlineData(null, 8, 8)]
    [InlineData("", 8, 8)]
    [InlineData("abc", 8, 8)]
    [InlineData("0", 8, 8)]
    [InlineData("-3", 8, 8)]
    [InlineData("3", 8, 3)]
    [InlineData("16", 8, 8)]
    [InlineData(" 2 ", 8, 2)]
    public void SharedThreadCount_IsCappedByDslThreads(string? value, int processors, int expected)
        => Assert.Equal(expected, WorkerPool.SharedThreadCount(value, processors));

    [Fact]
    public void Shared_UsesAtMostTheProcessorCount()
    {
        Assert.InRange(WorkerPool.Shared.MaxThreads, 1, Environment.ProcessorCount);
        Assert.InRange(WorkerPool.Shared.Threads, 1, WorkerPool.Shared.MaxThreads);
    }

    [Fact]
    public void First_blocking_wait_allocates_nothing()
    {
        // A fresh pool whose first blocking waits (caller waiting for a slow helper part, longer than
        // any spin) fall inside the measured window: a lazily created wait object would show here.
        var pool = new WorkerPool(2);
        var quick = new CountingWork(2);
        pool.Run(quick, 2);
        var slow = new SlowPartWork(Environment.CurrentManagedThreadId);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 3; i++) pool.Run(slow, 2);
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    /// <summary>A part run by any thread but the caller sleeps 30 ms, so the caller must block.</summary>
    [Fact]
    public void Helper_allocations_are_counted()
    {
        // The allocation-free training tests rely on this count; it must see a helper's allocation.
        var pool = new WorkerPool(2);
        pool.Run(new AllocatingWork(), 2); // start the helper
        var work = new AllocatingWork();
        long before = pool.HelperAllocatedBytes;
        pool.Run(work, 64);
        Assert.True(work.HelperParts > 0, "the helper took no part");
        Assert.True(pool.HelperAllocatedBytes - before >= work.HelperParts * 1000, $"counted {pool.HelperAllocatedBytes - before} bytes for {work.HelperParts} helper parts of 1 KB");
    }

    [Fact]
    public void Helper_allocations_are_counted_for_the_thread_whose_run_they_served()
    {
        var pool = new WorkerPool(2);
        pool.Run(new AllocatingWork(), 2); // start the helper
        var work = new AllocatingWork();
        long before = WorkerPool.HelperAllocatedBytesForCurrentThread;
        pool.Run(work, 64);
        Assert.True(work.HelperParts > 0, "the helper took no part");
        long counted = WorkerPool.HelperAllocatedBytesForCurrentThread - before;
        Assert.True(counted >= work.HelperParts * 1000, $"counted {counted} bytes for {work.HelperParts} helper parts of 1 KB");

        // Another thread's run on the same pool is not charged to this one.
        long mine = WorkerPool.HelperAllocatedBytesForCurrentThread;
        long theirs = 0;
        var other = new Thread(() =>
        {
            var w = new AllocatingWork();
            long start = WorkerPool.HelperAllocatedBytesForCurrentThread;
            pool.Run(w, 64);
            theirs = w.HelperParts > 0 ? WorkerPool.HelperAllocatedBytesForCurrentThread - start : -1;
        });
        other.Start();
        other.Join();
        Assert.Equal(mine, WorkerPool.HelperAllocatedBytesForCurrentThread);
        Assert.NotEqual(0, theirs);
    }

    private sealed class AllocatingWork : IParallelWork
    {
        private readonly int _caller = Environment.CurrentManagedThreadId;
        private int _helperParts;
        public static object? Sink;

        public int HelperParts => _helperParts;

        public void Run(int index, int count)
        {
            Sink = new byte[1000];
            if (Environment.CurrentManagedThreadId != _caller) Interlocked.Increment(ref _helperParts);
            Thread.Sleep(1);
        }
    }

    private sealed class SlowPartWork(int callerThread) : IParallelWork
    {
        public void Run(int index, int count)
        {
            if (Environment.CurrentManagedThreadId != callerThread) Thread.Sleep(30);
        }
    }

    private sealed class CountingWork(int parts) : IParallelWork
    {
        public int[] Counts { get; } = new int[parts];

        public bool WrongCount { get; private set; }

        public void Run(int index, int count)
        {
            if (count != Counts.Length)
            {
                WrongCount = true;
            }

            Interlocked.Increment(ref Counts[index]);
        }
    }

    private sealed class ThreadRecordingWork(int parts) : IParallelWork
    {
        public int[] ThreadIds { get; } = new int[parts];

        public void Run(int index, int count) => ThreadIds[index] = Environment.CurrentManagedThreadId;
    }

    private sealed class BarrierWork : IParallelWork
    {
        private readonly Barrier _barrier = new(2);

        public bool[] MetPartner { get; } = new bool[2];

        public int[] ThreadIds { get; } = new int[2];

        public bool HelperWasBackground { get; private set; }

        public void Run(int index, int count)
        {
            ThreadIds[index] = Environment.CurrentManagedThreadId;
            if (Thread.CurrentThread.IsBackground && Thread.CurrentThread.Name?.StartsWith("Dsl.WorkerPool", StringComparison.Ordinal) == true)
            {
                HelperWasBackground = true;
            }

            MetPartner[index] = _barrier.SignalAndWait(TimeSpan.FromSeconds(10));
        }
    }

    private sealed class FailingWork(int failIndex) : IParallelWork
    {
        private int _completed;

        public int Completed => Volatile.Read(ref _completed);

        public void Run(int index, int count)
        {
            if (index == failIndex)
            {
                throw new InvalidOperationException("part " + index);
            }

            Interlocked.Increment(ref _completed);
        }
    }

    private sealed class NestingWork(WorkerPool pool, CountingWork inner) : IParallelWork
    {
        public void Run(int index, int count) => pool.Run(inner, inner.Counts.Length);
    }
}
