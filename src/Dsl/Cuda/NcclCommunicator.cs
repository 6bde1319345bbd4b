using System;
using Dsl.Cuda.Interop;
using Dsl.Distributed;

namespace Dsl.Cuda;

/// <summary>
/// A communicator whose ranks each drive one GPU: device memory (the CUDA trainer's gradient slice) is summed with
/// NCCL's ncclAllReduce on the training stream, one NCCL communicator per process; everything on the host (losses,
/// counts, broadcasts, barriers) goes through the bootstrap communicator it was made from (Open MPI under mpirun),
/// which also carries NCCL's unique id from rank 0 to the others. Behind the same <see cref="ICommunicator"/>
/// interface as <see cref="MpiCommunicator"/>.
/// </summary>
public sealed unsafe class NcclCommunicator : ICommunicator
{
    private readonly ICommunicator _host;
    private IntPtr _comm;

    private NcclCommunicator(ICommunicator host, IntPtr comm, int version)
    {
        _host = host;
        _comm = comm;
        Transport = $"NCCL {version / 10000}.{version / 100 % 100}.{version % 100} (host: {host.Transport})";
    }

    /// <summary>
    /// Joins every rank of <paramref name="host"/> into one NCCL communicator: rank 0 makes the unique id, the host
    /// communicator broadcasts it, every rank calls ncclCommInitRank. Call after the rank's CUDA context is current
    /// (open its <see cref="CudaTrainer"/> first), on every rank.
    /// </summary>
    /// <exception cref="CudaUnavailableException">NCCL is not installed (the message says what to install).</exception>
    /// <exception cref="CudaException">An NCCL call failed.</exception>
    public static NcclCommunicator Create(ICommunicator host) => Create(host, Nccl.Library);

    /// <summary><see cref="Create(ICommunicator)"/> with another library file (tests see the missing-library error).</summary>
    internal static NcclCommunicator Create(ICommunicator host, string library)
    {
        ArgumentNullException.ThrowIfNull(host);
        Nccl.Require(library);
        int version = 0;
        Nccl.Check(Nccl.ncclGetVersion(&version), "ncclGetVersion");
        Nccl.UniqueId id = default;
        if (host.Rank == 0) Nccl.Check(Nccl.ncclGetUniqueId(&id), "ncclGetUniqueId");
        host.Broadcast(new Span<byte>(id.Internal, Nccl.UniqueIdBytes), 0);
        IntPtr comm;
        Nccl.Check(Nccl.ncclCommInitRank(&comm, host.Size, id, host.Rank), "ncclCommInitRank");
        return new NcclCommunicator(host, comm, version);
    }

    /// <inheritdoc/>
    public int Rank => _host.Rank;

    /// <inheritdoc/>
    public int Size => _host.Size;

    /// <inheritdoc/>
    public string Transport { get; }

    /// <inheritdoc/>
    public TimeSpan Timeout
    {
        get => _host.Timeout;
        set => _host.Timeout = value;
    }

    /// <summary>
    /// Sums <paramref name="count"/> floats of device memory at <paramref name="buffer"/> across ranks in place, each
    /// rank's values first multiplied by <paramref name="scale"/> (ncclRedOpCreatePreMulSum: a rank's share of the global
    /// batch, so the sum is the global mean), queued on <paramref name="stream"/> (0: the default stream the trainer uses).
    /// </summary>
    /// <exception cref="CudaException">An NCCL call failed.</exception>
    public void AllReduceSum(ulong buffer, long count, float scale, IntPtr stream)
    {
        ObjectDisposedException.ThrowIf(_comm == IntPtr.Zero, this);
        int op = Nccl.Sum;
        bool custom = scale != 1f;
        if (custom) Nccl.Check(Nccl.ncclRedOpCreatePreMulSum(&op, &scale, Nccl.Float32, Nccl.ScalarHostImmediate, _comm), "ncclRedOpCreatePreMulSum");
        try
        {
            Nccl.Check(Nccl.ncclAllReduce(buffer, buffer, (nuint)count, Nccl.Float32, op, _comm, stream), "ncclAllReduce");
        }
        finally
        {
            if (custom) _ = Nccl.ncclRedOpDestroy(op, _comm);
        }
    }

    /// <inheritdoc/>
    public void AllReduceSum(Span<double> values) => _host.AllReduceSum(values);

    /// <inheritdoc/>
    public void AllReduceSum(Span<float> values) => _host.AllReduceSum(values);

    /// <inheritdoc/>
    public void Broadcast(Span<byte> data, int root) => _host.Broadcast(data, root);

    /// <inheritdoc/>
    public void Barrier() => _host.Barrier();

    /// <inheritdoc/>
    public ReductionRequest StartAllReduceSum<T>(Memory<T> values) where T : unmanaged => _host.StartAllReduceSum(values);

    /// <inheritdoc/>
    public bool Test(ReductionRequest request) => _host.Test(request);

    /// <inheritdoc/>
    public void Wait(ReductionRequest request) => _host.Wait(request);

    /// <inheritdoc/>
    public void Abort(string message, int errorCode = 1) => _host.Abort(message, errorCode);

    /// <summary>Destroys the NCCL communicator (the host communicator stays open).</summary>
    public void Dispose()
    {
        if (_comm == IntPtr.Zero) return;
        _ = Nccl.ncclCommDestroy(_comm);
        _comm = IntPtr.Zero;
    }
}
