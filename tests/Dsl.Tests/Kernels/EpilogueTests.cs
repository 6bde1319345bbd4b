using System;
using Dsl.Kernels;
using Xunit;

namespace Dsl.Tests.Kernels;

public sealed class EpilogueTests
{
    public static TheoryData<int> SegmentLengths()
    {
        var data = new TheoryData<int>();
        foreach (int n in ActivationCases.Lengths())
        {
            data.Add(n);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(SegmentLengths))]
    public void Bias_epilogue_adds_the_bias_of_each_column(int length)
    {
        const int biasOffset = 7, offset = 3, col0 = 5;
        double[] arena = Filled(biasOffset + col0 + length + 4, 0.25, 11);
        double[] c = Filled(offset + length + 6, -1.5, 13);
        double[] expected = (double[])c.Clone();
        for (int j = 0; j < length; j++)
        {
            expected[offset + j] += arena[biasOffset + col0 + j];
        }

        new BiasEpilogue<double>(arena, biasOffset).Apply(c, offset, row: 4, col0, length);
        Assert.Equal(expected, c); // elements outside the segment untouched too

        float[] arenaF = Array.ConvertAll(arena, v => (float)v);
        float[] cF = Filled(offset + length + 6, -1.5f, 13);
        float[] expectedF = (float[])cF.Clone();
        for (int j = 0; j < length; j++)
        {
            expectedF[offset + j] += arenaF[biasOffset + col0 + j];
        }

        new BiasEpilogue<float>(arenaF, biasOffset).Apply(cF, offset, row: 4, col0, length);
        Assert.Equal(expectedF, cF);
    }

    [Theory]
    [MemberData(nameof(SegmentLengths))]
    public void Bias_activation_epilogue_adds_bias_saves_z_and_applies_f(int length)
    {
        Check<double, GeluErf<double>>(length, new GeluErf<double>(), hasBias: true, storePre: true);
        Check<double, Relu<double>>(length, new Relu<double>(), hasBias: true, storePre: false);
        Check<double, Silu<double>>(length, new Silu<double>(), hasBias: false, storePre: true);
        Check<double, Tanh<double>>(length, new Tanh<double>(), hasBias: false, storePre: false);
        Check<double, SquarePlus<double>>(length, new SquarePlus<double>(2.5), hasBias: true, storePre: true);
        Check<float, GeluTanh<float>>(length, new GeluTanh<float>(), hasBias: true, storePre: true);
        Check<float, Sigmoid<float>>(length, new Sigmoid<float>(), hasBias: false, storePre: true);
    }

    private static void Check<T, TAct>(int length, TAct act, bool hasBias, bool storePre)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
        where TAct : struct, IActivation<T>
    {
        const int biasOffset = 2, preOffset = 100, stride = 333, row = 3, col0 = 9, offset = 5;
        T[] arena = Filled(preOffset + (row * stride) + stride, T.CreateTruncating(0.3), 17);
        T[] c = Filled(offset + length + 3, T.CreateTruncating(-2.0), 19);
        T[] expectedArena = (T[])arena.Clone();
        T[] expectedC = (T[])c.Clone();
        for (int j = 0; j < length; j++)
        {
            T z = c[offset + j] + (hasBias ? arena[biasOffset + col0 + j] : T.Zero);
            if (storePre)
            {
                expectedArena[preOffset + (row * stride) + col0 + j] = z;
            }

            expectedC[offset + j] = act.Forward(z);
        }

        new BiasActivationEpilogue<T, TAct>(arena, hasBias ? biasOffset : -1, act, storePre ? preOffset : -1, stride)
            .Apply(c, offset, row, col0, length);

        Assert.Equal(expectedArena, arena);
        for (int i = 0; i < c.Length; i++)
        {
            // The vector lanes may differ from the scalar reference by an ulp or two.
            double e = double.CreateTruncating(expectedC[i]), a = double.CreateTruncating(c[i]);
            double tolerance = typeof(T) == typeof(float) ? 4e-7 : 4e-15;
            Assert.True(Math.Abs(a - e) <= tolerance * Math.Max(Math.Abs(e), 1e-30), $"{typeof(TAct).Name} c[{i}]: {a:R} vs {e:R}");
        }
    }

    /// <summary>Deterministic, varied values: start + small multiples of a irrational-ish step, both signs.</summary>
    internal static T[] Filled<T>(int length, T start, int salt) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var values = new T[length];
        for (int i = 0; i < length; i++)
        {
            values[i] = start + T.CreateTruncating(Math.Sin((i + 1) * 0.7 * salt) * 3);
        }

        return values;
    }
}
