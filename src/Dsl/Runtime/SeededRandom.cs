using System;
using System.Numerics;
using System.Runtime.CompilerServices;

namespace Dsl.Runtime;

/// <summary>
/// Deterministic random numbers: a sequential generator (for initialisation and shuffling) and
/// stateless counter-based draws (for dropout masks), identical on every platform.
/// </summary>
/// <remarks>
/// The sequential generator is xoshiro256** (Blackman and Vigna), its 256-bit state filled from
/// the seed by SplitMix64 so that nearby seeds give unrelated states and the state is never all
/// zero. The counter-based draw hashes (seed, stream, index) with the SplitMix64 finaliser:
/// a per-(seed, stream) key, then element i is mix(key + (i + 1)·γ), which is the SplitMix64
/// sequence started at the key. Nothing here uses <see cref="System.Random"/> or depends on the
/// platform; every value is a fixed function of the seed. An instance is not thread-safe; the
/// static <see cref="Uniform"/> is.
/// </remarks>
public sealed class SeededRandom
{
    // SplitMix64's increment: the odd integer closest to 2^64/φ.
    private const ulong Golden = 0x9E3779B97F4A7C15UL;

    // A second odd multiplier, so that stream numbers and seeds are spread by different constants.
    private const ulong StreamMultiplier = 0xD1B54A32D192ED03UL;

    private const double InvTwoPow53 = 1.0 / (1UL << 53);

    private ulong _s0, _s1, _s2, _s3;
    private double _spareGaussian;
    private bool _hasSpareGaussian;

    /// <summary>Creates a generator from a seed.</summary>
    public SeededRandom(ulong seed)
    {
        ulong state = seed;
        _s0 = SplitMixNext(ref state);
        _s1 = SplitMixNext(ref state);
        _s2 = SplitMixNext(ref state);
        _s3 = SplitMixNext(ref state);
    }

    /// <summary>Number of values <see cref="GetState"/> writes: the four xoshiro words, the spare normal's bits, and whether it is held.</summary>
    public const int StateLength = 6;

    /// <summary>Writes the generator's whole state, so <see cref="SetState"/> can continue the same sequence (a resumed run's sampler).</summary>
    /// <exception cref="ArgumentException">state is shorter than <see cref="StateLength"/>.</exception>
    public void GetState(Span<ulong> state)
    {
        if (state.Length < StateLength)
            throw new ArgumentException($"state needs {StateLength} values, has {state.Length}", nameof(state));
        state[0] = _s0;
        state[1] = _s1;
        state[2] = _s2;
        state[3] = _s3;
        state[4] = (ulong)BitConverter.DoubleToInt64Bits(_spareGaussian);
        state[5] = _hasSpareGaussian ? 1UL : 0UL;
    }

    /// <summary>Restores a state written by <see cref="GetState"/>: the generator then continues exactly as the saved one would have.</summary>
    /// <exception cref="ArgumentException">state is shorter than <see cref="StateLength"/>, its four xoshiro words are all zero
    /// (a state the generator can never reach), or its flag is neither 0 nor 1.</exception>
    public void SetState(ReadOnlySpan<ulong> state)
    {
        if (state.Length < StateLength)
            throw new ArgumentException($"state needs {StateLength} values, has {state.Length}", nameof(state));
        if ((state[0] | state[1] | state[2] | state[3]) == 0)
            throw new ArgumentException("the four xoshiro256** words are all zero, which no seed produces", nameof(state));
        if (state[5] > 1)
            throw new ArgumentException($"the spare-normal flag is {state[5]}, not 0 or 1", nameof(state));
        (_s0, _s1, _s2, _s3) = (state[0], state[1], state[2], state[3]);
        _spareGaussian = BitConverter.Int64BitsToDouble((long)state[4]);
        _hasSpareGaussian = state[5] == 1;
    }

    /// <summary>Next 64 random bits.</summary>
    public ulong NextUInt64()
    {
        ulong result = BitOperations.RotateLeft(_s1 * 5, 7) * 9;
        ulong t = _s1 << 17;
        _s2 ^= _s0;
        _s3 ^= _s1;
        _s1 ^= _s2;
        _s0 ^= _s3;
        _s2 ^= t;
        _s3 = BitOperations.RotateLeft(_s3, 45);
        return result;
    }

    /// <summary>Uniform in [0, 1): the top 53 bits of <see cref="NextUInt64"/> times 2⁻⁵³.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * InvTwoPow53;

    /// <summary>Standard normal.</summary>
    /// <remarks>Box–Muller: with u₁ ∈ (0, 1] and u₂ ∈ [0, 1), r = √(−2 ln u₁) and θ = 2πu₂ give two
    /// independent normals r·cos θ and r·sin θ; the second is kept for the next call.</remarks>
    public double NextGaussian()
    {
        if (_hasSpareGaussian)
        {
            _hasSpareGaussian = false;
            return _spareGaussian;
        }

        // 1 − u keeps u₁ away from 0, where the logarithm is −∞.
        double u1 = 1.0 - NextDouble();
        double u2 = NextDouble();
        double r = Math.Sqrt(-2.0 * Math.Log(u1));
        (double sin, double cos) = Math.SinCos(2.0 * Math.PI * u2);
        _spareGaussian = r * sin;
        _hasSpareGaussian = true;
        return r * cos;
    }

    /// <summary>Uniform integer in [0, n).</summary>
    /// <exception cref="ArgumentOutOfRangeException">n is not positive.</exception>
    /// <remarks>Lemire's multiply-and-reject: the high half of x·n is uniform once the few low
    /// halves below 2⁶⁴ mod n are rejected, so there is no modulo bias.</remarks>
    public int NextInt(int n)
    {
        if (n <= 0)
        {
            ThrowNotPositive(n);
        }

        ulong bound = (ulong)n;
        ulong high = Math.BigMul(NextUInt64(), bound, out ulong low);
        if (low < bound)
        {
            ulong threshold = (0UL - bound) % bound;
            while (low < threshold)
            {
                high = Math.BigMul(NextUInt64(), bound, out low);
            }
        }

        return (int)high;
    }

    /// <summary>Fisher–Yates shuffle in place.</summary>
    public void Shuffle(Span<int> values)
    {
        for (int i = values.Length - 1; i > 0; i--)
        {
            int j = NextInt(i + 1);
            (values[i], values[j]) = (values[j], values[i]);
        }
    }

    /// <summary>Stateless uniform in [0, 1) from (seed, stream, index): a hash, no state.</summary>
    /// <remarks>Equals <c>(CounterBits(StreamKey(seed, stream), index) &gt;&gt; 11)·2⁻⁵³</c>; kernels that
    /// draw many indices compute the key once and compare the 53-bit integers directly.</remarks>
    public static double Uniform(ulong seed, ulong stream, ulong index) =>
        (CounterBits(StreamKey(seed, stream), index) >> 11) * InvTwoPow53;

    /// <summary>The per-(seed, stream) key of the counter-based draws.</summary>
    internal static ulong StreamKey(ulong seed, ulong stream) =>
        Mix(Mix(seed + Golden) + ((stream + 1) * StreamMultiplier));

    /// <summary>64 hashed bits for element <paramref name="index"/> under <paramref name="key"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static ulong CounterBits(ulong key, ulong index) => Mix(key + ((index + 1) * Golden));

    /// <summary>The SplitMix64 output function (Stafford's "Mix13" variant): a bijection on 64 bits
    /// in which every input bit affects every output bit.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    private static ulong SplitMixNext(ref ulong state)
    {
        state += Golden;
        return Mix(state);
    }

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private static void ThrowNotPositive(int n) =>
        throw new ArgumentOutOfRangeException(nameof(n), n, $"n must be positive, was {n}.");
}
