using System;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Dsl.Runtime;

namespace Dsl.Optimizers;

/// <summary>
/// The parameter tensors of a step cut into blocks of at most <see cref="Length"/> elements (a block never
/// spans two tensors), the unit in which the gradient norm is summed and the element-wise updates are
/// spread over <see cref="WorkerPool.Shared"/>.
/// </summary>
/// <remarks>
/// The norm is Σ over blocks, in block order, of each block's Σ g² (<see cref="SumOfSquares{T}"/>), whether
/// the blocks ran on one thread or two, so it does not depend on the thread count. Element-wise updates give
/// the same bits however they are split (each element is computed alone, and the vector and scalar forms
/// compute the same IEEE operations). Built once per tensor table and reused; a step allocates nothing.
/// </remarks>
internal sealed class UpdateBlocks
{
    /// <summary>Elements per block: a multiple of every vector width, small enough to balance two threads and
    /// to keep a block's four streams in L2.</summary>
    public const int Length = 1 << 15;

    /// <summary>Below this many parameters a step runs on the calling thread (the hand-off costs more).</summary>
    public const int ParallelThreshold = 1 << 16;

    private ParameterTensor[] _tensors = [];

    /// <summary>Start of each block in the parameter region.</summary>
    public int[] Offsets { get; private set; } = [];
    /// <summary>Elements in each block.</summary>
    public int[] Lengths { get; private set; } = [];
    /// <summary>The tensor (index into the step's table) each block belongs to.</summary>
    public int[] Tensors { get; private set; } = [];
    /// <summary>Whether each block's tensor is a matrix (<see cref="ParameterTensor.IsMatrix"/>).</summary>
    public bool[] Matrix { get; private set; } = [];
    /// <summary>Σ g² of each block, written by the pass that measured it.</summary>
    public double[] Sums { get; private set; } = [];
    /// <summary>Number of blocks.</summary>
    public int Count { get; private set; }
    /// <summary>Elements over all blocks.</summary>
    public long Elements { get; private set; }

    /// <summary>Whether a step of this size goes to the pool.</summary>
    public bool Parallel => Count > 1 && Elements >= ParallelThreshold && WorkerPool.Shared.Threads > 1;

    /// <summary>These blocks for <paramref name="tensors"/>, rebuilt only when the table differs from the last one.</summary>
    public static UpdateBlocks For(ref UpdateBlocks? cache, ReadOnlySpan<ParameterTensor> tensors)
    {
        UpdateBlocks blocks = cache ??= new UpdateBlocks();
        if (!blocks.Matches(tensors))
        {
            blocks.Build(tensors);
        }

        return blocks;
    }

    /// <summary>Σ of <see cref="Sums"/> in block order.</summary>
    public double Total()
    {
        double sum = 0;
        double[] sums = Sums;
        for (int b = 0; b < Count; b++)
        {
            sum += sums[b];
        }

        return sum;
    }

    /// <summary>Runs <c>work.Run(b, Count)</c> for every block b, on the pool when <see cref="Parallel"/>.</summary>
    public void Run(IParallelWork work)
    {
        if (Parallel)
        {
            WorkerPool.Shared.Run(work, Count);
            return;
        }

        for (int b = 0; b < Count; b++)
        {
            work.Run(b, Count);
        }
    }

    private bool Matches(ReadOnlySpan<ParameterTensor> tensors)
    {
        if (tensors.Length != _tensors.Length)
        {
            return false;
        }

        for (int i = 0; i < tensors.Length; i++)
        {
            ParameterTensor a = tensors[i], b = _tensors[i];
            if (a.Offset != b.Offset || a.Length != b.Length || a.IsMatrix != b.IsMatrix)
            {
                return false;
            }
        }

        return true;
    }

    private void Build(ReadOnlySpan<ParameterTensor> tensors)
    {
        int count = 0;
        long elements = 0;
        foreach (ParameterTensor t in tensors)
        {
            count += BlocksOf(t.Length);
            elements += t.Length;
        }

        var offsets = new int[count];
        var lengths = new int[count];
        var owners = new int[count];
        var matrix = new bool[count];
        int b = 0;
        for (int i = 0; i < tensors.Length; i++)
        {
            ParameterTensor t = tensors[i];
            for (int start = 0; start < t.Length; start += Length)
            {
                offsets[b] = t.Offset + start;
                lengths[b] = Math.Min(Length, t.Length - start);
                owners[b] = i;
                matrix[b] = t.IsMatrix;
                b++;
            }
        }

        Offsets = offsets;
        Lengths = lengths;
        Tensors = owners;
        Matrix = matrix;
        Sums = new double[count];
        Count = count;
        Elements = elements;
        _tensors = tensors.ToArray();
    }

    /// <summary>Blocks a tensor of <paramref name="length"/> elements is cut into.</summary>
    public static int BlocksOf(int length) => length <= 0 ? 0 : ((length - 1) / Length) + 1;

    /// <summary>Σ g² in double: float lanes are widened before they are squared.</summary>
    public static double SumOfSquares<T>(ReadOnlySpan<T> values) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ref T vr = ref MemoryMarshal.GetReference(values);
        nuint n = (nuint)values.Length;
        nuint i = 0;
        double sum = 0;
        if (Vector256.IsHardwareAccelerated && (typeof(T) == typeof(float) || typeof(T) == typeof(double)))
        {
            nuint width = (nuint)Vector256<T>.Count;
            Vector256<double> acc0 = Vector256<double>.Zero, acc1 = Vector256<double>.Zero;
            for (; i + width <= n; i += width)
            {
                Vector256<T> v = Vector256.LoadUnsafe(ref vr, i);
                if (typeof(T) == typeof(float))
                {
                    (Vector256<double> lo, Vector256<double> hi) = Vector256.Widen(v.AsSingle());
                    acc0 = Vector256.FusedMultiplyAdd(lo, lo, acc0);
                    acc1 = Vector256.FusedMultiplyAdd(hi, hi, acc1);
                }
                else
                {
                    Vector256<double> d = v.AsDouble();
                    acc0 = Vector256.FusedMultiplyAdd(d, d, acc0);
                }
            }

            sum = Vector256.Sum(acc0 + acc1);
        }

        for (; i < n; i++)
        {
            double d = double.CreateTruncating(Unsafe.Add(ref vr, i));
            sum += d * d;
        }

        return sum;
    }
}

/// <summary>Σ g² of every block into <see cref="UpdateBlocks.Sums"/>, one part per block.</summary>
internal sealed unsafe class NormWork<T> : IParallelWork where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>The gradient region (pinned by the caller for the run).</summary>
    public T* Gradients;
    /// <summary>The blocks.</summary>
    public UpdateBlocks? Blocks;

    /// <inheritdoc />
    public void Run(int index, int count)
    {
        UpdateBlocks blocks = Blocks!;
        blocks.Sums[index] = UpdateBlocks.SumOfSquares(new ReadOnlySpan<T>(Gradients + blocks.Offsets[index], blocks.Lengths[index]));
    }
}

/// <summary>
/// An optimizer's element-wise update of one block, as an operator struct for <see cref="BlockUpdate{T, TUpdate}"/>:
/// θ, g and the block's slices of up to two state slots (a slot the optimizer does not keep is empty), and whether the
/// block's tensor is a matrix.
/// </summary>
internal interface IBlockUpdate<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Updates one block in place; returns Σ g² of the unscaled gradients when <paramref name="measure"/>
    /// (else anything).</summary>
    double Update(Span<T> theta, ReadOnlySpan<T> grad, Span<T> state0, Span<T> state1, bool matrix, bool measure);
}

/// <summary>
/// The optimizers' one per-tensor driver: runs an element-wise update (<typeparamref name="TUpdate"/>) over every block of
/// the step's tensors, tensor by tensor (a block never spans two), on <see cref="WorkerPool.Shared"/> when the step is
/// large enough (<see cref="UpdateBlocks.Parallel"/>), and writes each block's Σ g² into <see cref="UpdateBlocks.Sums"/>
/// when the update measures the norm. Element-wise updates give the same bits however the blocks are spread. One
/// instance per optimizer, reused across steps: a step allocates nothing.
/// </summary>
internal sealed unsafe class BlockUpdate<T, TUpdate> : IParallelWork
    where T : unmanaged, IFloatingPointIeee754<T>
    where TUpdate : struct, IBlockUpdate<T>
{
    private T* _parameters, _gradients, _state0, _state1;
    private UpdateBlocks? _blocks;
    private TUpdate _update;
    private bool _measure;

    /// <summary>Runs <paramref name="update"/> over every block of <paramref name="blocks"/>; <paramref name="state0"/> and
    /// <paramref name="state1"/> are state slots laid out as the parameters (empty when the optimizer keeps fewer).</summary>
    public void Apply(UpdateBlocks blocks, Span<T> parameters, ReadOnlySpan<T> gradients, Span<T> state0, Span<T> state1, in TUpdate update, bool measure)
    {
        fixed (T* p = parameters)
        fixed (T* g = gradients)
        fixed (T* s0 = state0)
        fixed (T* s1 = state1)
        {
            _parameters = p;
            _gradients = g;
            _state0 = state0.IsEmpty ? null : s0;
            _state1 = state1.IsEmpty ? null : s1;
            _update = update;
            _measure = measure;
            _blocks = blocks;
            try
            {
                blocks.Run(this);
            }
            finally
            {
                _parameters = _gradients = _state0 = _state1 = null;
                _blocks = null;
            }
        }
    }

    /// <inheritdoc />
    public void Run(int index, int count)
    {
        UpdateBlocks blocks = _blocks!;
        int offset = blocks.Offsets[index], length = blocks.Lengths[index];
        double sum = _update.Update(
            new Span<T>(_parameters + offset, length),
            new ReadOnlySpan<T>(_gradients + offset, length),
            _state0 == null ? default : new Span<T>(_state0 + offset, length),
            _state1 == null ? default : new Span<T>(_state1 + offset, length),
            blocks.Matrix[index],
            _measure);
        if (_measure)
        {
            blocks.Sums[index] = sum;
        }
    }
}
