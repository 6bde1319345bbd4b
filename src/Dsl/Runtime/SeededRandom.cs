namespace Dsl.Runtime;

/// <summary>
/// Deterministic random numbers: a sequential generator (for initialisation and shuffling) and
/// stateless counter-based draws (for dropout masks), identical on every platform.
/// </summary>
public sealed class SeededRandom
{
    /// <summary>Creates a generator from a seed.</summary>
    public SeededRandom(ulong seed) => throw new System.NotImplementedException();
    /// <summary>Next 64 random bits.</summary>
    public ulong NextUInt64() => throw new System.NotImplementedException();
    /// <summary>Uniform in [0, 1).</summary>
    public double NextDouble() => throw new System.NotImplementedException();
    /// <summary>Standard normal.</summary>
    public double NextGaussian() => throw new System.NotImplementedException();
    /// <summary>Uniform integer in [0, n).</summary>
    public int NextInt(int n) => throw new System.NotImplementedException();
    /// <summary>Fisher–Yates shuffle in place.</summary>
    public void Shuffle(System.Span<int> values) => throw new System.NotImplementedException();
    /// <summary>Stateless uniform in [0, 1) from (seed, stream, index): a hash, no state.</summary>
    public static double Uniform(ulong seed, ulong stream, ulong index) => throw new System.NotImplementedException();
}
