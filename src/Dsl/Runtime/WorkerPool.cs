namespace Dsl.Runtime;

/// <summary>Work split into <c>count</c> independent parts, run by <see cref="WorkerPool"/>.</summary>
public interface IParallelWork
{
    /// <summary>Runs part <paramref name="index"/> of <paramref name="count"/>.</summary>
    void Run(int index, int count);
}

/// <summary>
/// A fixed set of dedicated worker threads (one per core, the caller being one of them) that run
/// an <see cref="IParallelWork"/> without allocating. <see cref="Threads"/> sets how many are used.
/// </summary>
public sealed class WorkerPool
{
    /// <summary>The process-wide pool used by the kernels.</summary>
    public static WorkerPool Shared { get; } = new(System.Environment.ProcessorCount);

    /// <summary>Creates a pool of up to <paramref name="maxThreads"/> threads.</summary>
    public WorkerPool(int maxThreads) => throw new System.NotImplementedException();

    /// <summary>Number of threads used (1 ..= max); 1 runs everything on the caller.</summary>
    public int Threads { get => throw new System.NotImplementedException(); set => throw new System.NotImplementedException(); }

    /// <summary>Runs <c>work.Run(i, parts)</c> for every i &lt; parts, spread over the threads; returns when all are done.</summary>
    public void Run(IParallelWork work, int parts) => throw new System.NotImplementedException();
}
