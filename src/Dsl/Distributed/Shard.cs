namespace Dsl.Distributed;

/// <summary>One rank's share of a global batch: examples [<see cref="Start"/>, <see cref="Start"/> + <see cref="Count"/>).</summary>
/// <param name="Start">Index of the first example within the global batch.</param>
/// <param name="Count">Number of examples.</param>
public readonly record struct Shard(int Start, int Count)
{
    /// <summary>Contiguous, as even as possible (sizes differ by at most one), in rank order: rank r of n gets
    /// examples ⌊r·B/n⌋ to ⌊(r + 1)·B/n⌋ of a batch of B.</summary>
    /// <exception cref="System.ArgumentOutOfRangeException">B is smaller than n (a rank would have nothing), or rank is not in [0, n).</exception>
    public static Shard Of(int examples, int rank, int size)
    {
        System.ArgumentOutOfRangeException.ThrowIfNegativeOrZero(size);
        if ((uint)rank >= (uint)size) throw new System.ArgumentOutOfRangeException(nameof(rank), rank, $"rank must be in [0, {size}).");
        if (examples < size)
            throw new System.ArgumentOutOfRangeException(nameof(examples), examples, $"a global batch of {examples} example(s) cannot give each of {size} ranks at least one.");
        int start = (int)((long)rank * examples / size);
        int end = (int)((long)(rank + 1) * examples / size);
        return new Shard(start, end - start);
    }
}
