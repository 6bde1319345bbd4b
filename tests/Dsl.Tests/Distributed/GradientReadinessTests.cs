using System;
using System.Collections.Generic;
using Dsl.Distributed;
using Dsl.Runtime;
using Dsl.Tests.EndToEnd;
using Xunit;

namespace Dsl.Tests.Distributed;

/// <summary>
/// The generated backward tells its <see cref="IDataParallelEngine{T}.GradientHook"/> which part of the gradient
/// region is final after each step; data parallelism starts reducing that part at once, so a gradient written
/// after it was reported final would be reduced stale. For models covering every backward step kind (fused and
/// plain Dense, a weight used twice, a tied head, embeddings and positions, LayerNorm with and without bias, RMSNorm
/// with and without gain, softmax, RoPE, talking-heads and linear attention, DeepNorm, MeanPool, spectral norms,
/// multi-task log-variances), a hook snapshots the region each time and checks at the end that nothing it was told
/// was final changed.
/// </summary>
public sealed class GradientReadinessTests
{
    public static TheoryData<string> Models() => new()
    {
        nameof(AllOps), nameof(Regressor), nameof(TinyGpt), nameof(CausalRope), nameof(WindowKeySize), nameof(EntropyTalkingHeads),
        nameof(LinearBoth), nameof(DeepNormStack), nameof(SpectralClassifier), nameof(MultiTaskUncertaintyNet), nameof(CoSentPairs),
    };

    [Theory]
    [MemberData(nameof(Models))]
    public void Gradients_reported_final_are_not_written_again(string model)
    {
        var (engine, pass) = Build(model);
        var hook = new RecordingHook(engine);
        engine.GradientHook = hook;
        for (int i = 0; i < 2; i++) pass(); // the second pass overwrites the first's gradients
        Assert.Equal(2, hook.Passes);
        Assert.Empty(hook.Failures);
        // Every model here has more than one layer with parameters: some part is final before the backward ends.
        Assert.True(hook.EarliestReport < engine.ParameterRegion, $"{model}: nothing was reported final before the end of the backward");
    }

    [Fact]
    public void A_hook_that_writes_nothing_leaves_the_step_bit_for_bit_unchanged()
    {
        var (plain, plainPass) = Build(nameof(TinyGpt));
        var (hooked, hookedPass) = Build(nameof(TinyGpt));
        hooked.GradientHook = new RecordingHook(hooked);
        plainPass();
        hookedPass();
        Assert.Equal(plain.Arena, hooked.Arena);
    }

    /// <summary>An engine of <paramref name="model"/> (double precision) with random inputs and targets staged, and a
    /// training pass over a full batch.</summary>
    internal static (IDataParallelEngine<double> Engine, Action Pass) Build(string model)
    {
        var random = new SeededRandom(17);
        double[] Gauss(int n)
        {
            var v = new double[n];
            for (int i = 0; i < n; i++) v[i] = random.NextGaussian();
            return v;
        }

        int[] Ints(int n, int below, int from = 0)
        {
            var v = new int[n];
            for (int i = 0; i < n; i++) v[i] = from + (int)(random.NextDouble() * (below - from));
            return v;
        }

        switch (model)
        {
            case nameof(AllOps):
            {
                var e = new AllOps.Engine<double>(3);
                Gauss(e.Input.Length).CopyTo(e.Input);
                var y = Ints(AllOps.MaxBatch, AllOps.OutputFeatures);
                return (e, () => e.TrainingPass(AllOps.MaxBatch, y));
            }
            case nameof(Regressor):
            {
                var e = new Regressor.Engine<double>(3);
                Gauss(e.Input.Length).CopyTo(e.Input);
                var t = Gauss(Regressor.MaxBatch * Regressor.OutputFeatures);
                return (e, () => e.TrainingPass(Regressor.MaxBatch, t));
            }
            case nameof(TinyGpt):
            {
                var e = new TinyGpt.Engine<double>(3);
                Ints(e.Tokens.Length, 7).CopyTo(e.Tokens, 0);
                var y = Ints(TinyGpt.Engine<double>.MaxRows, 7);
                return (e, () => e.TrainingPass(TinyGpt.MaxBatch, y));
            }
            case nameof(CausalRope): return Labelled(new CausalRope.Engine<double>(3), CausalRope.Engine<double>.InputOffset, CausalRope.Engine<double>.MaxRows * CausalRope.InputFeatures,
                CausalRope.MaxBatch, CausalRope.Engine<double>.MaxRows, CausalRope.OutputFeatures, (e, b, y) => e.TrainingPass(b, y));
            case nameof(WindowKeySize): return Labelled(new WindowKeySize.Engine<double>(3), WindowKeySize.Engine<double>.InputOffset, WindowKeySize.Engine<double>.MaxRows * WindowKeySize.InputFeatures,
                WindowKeySize.MaxBatch, WindowKeySize.Engine<double>.MaxRows, WindowKeySize.OutputFeatures, (e, b, y) => e.TrainingPass(b, y));
            case nameof(EntropyTalkingHeads): return Labelled(new EntropyTalkingHeads.Engine<double>(3), EntropyTalkingHeads.Engine<double>.InputOffset, EntropyTalkingHeads.Engine<double>.MaxRows * EntropyTalkingHeads.InputFeatures,
                EntropyTalkingHeads.MaxBatch, EntropyTalkingHeads.Engine<double>.MaxRows, EntropyTalkingHeads.OutputFeatures, (e, b, y) => e.TrainingPass(b, y));
            case nameof(DeepNormStack): return Labelled(new DeepNormStack.Engine<double>(3), DeepNormStack.Engine<double>.InputOffset, DeepNormStack.Engine<double>.MaxRows * DeepNormStack.InputFeatures,
                DeepNormStack.MaxBatch, DeepNormStack.Engine<double>.MaxRows, DeepNormStack.OutputFeatures, (e, b, y) => e.TrainingPass(b, y));
            case nameof(SpectralClassifier): return Labelled(new SpectralClassifier.Engine<double>(3), SpectralClassifier.Engine<double>.InputOffset, SpectralClassifier.Engine<double>.MaxRows * SpectralClassifier.InputFeatures,
                SpectralClassifier.MaxBatch, SpectralClassifier.Engine<double>.MaxRows, SpectralClassifier.OutputFeatures, (e, b, y) => e.TrainingPass(b, y));
            case nameof(LinearBoth):
            {
                var e = new LinearBoth.Engine<double>(3);
                Gauss(e.Input.Length).CopyTo(e.Input);
                var t = Gauss(LinearBoth.Engine<double>.MaxRows * LinearBoth.OutputFeatures);
                return (e, () => e.TrainingPass(LinearBoth.MaxBatch, t));
            }
            case nameof(MultiTaskUncertaintyNet):
            {
                var e = new MultiTaskUncertaintyNet.Engine<double>(3);
                Gauss(e.Input.Length).CopyTo(e.Input);
                var y = Ints(MultiTaskUncertaintyNet.MaxBatch, 4);
                var box = Gauss(MultiTaskUncertaintyNet.MaxBatch * 3);
                return (e, () => e.TrainingPass(MultiTaskUncertaintyNet.MaxBatch, y, box));
            }
            case nameof(CoSentPairs):
            {
                var e = new CoSentPairs.Engine<double>(3);
                Ints(e.Tokens.Length, 11, from: 1).CopyTo(e.Tokens, 0);
                e.Tokens[2] = 0; // a pad: MeanPool skips it
                var scores = Gauss(CoSentPairs.MaxBatch / 2);
                return (e, () => e.TrainingPass(CoSentPairs.MaxBatch, scores));
            }
            default: throw new ArgumentException($"no case for {model}", nameof(model));
        }

        (IDataParallelEngine<double>, Action) Labelled<TEngine>(TEngine e, int inputOffset, int inputLength, int batch, int rows, int classes, Func<TEngine, int, int[], double> pass)
            where TEngine : IDataParallelEngine<double>
        {
            Gauss(inputLength).CopyTo(e.Arena, inputOffset);
            var y = Ints(rows, classes);
            return (e, () => pass(e, batch, y));
        }
    }

    /// <summary>Copies the part of the gradient region reported final at each call, and at the end of the pass checks
    /// that it did not change.</summary>
    private sealed class RecordingHook(IDataParallelEngine<double> engine) : IGradientHook
    {
        private readonly List<(int From, double[] Values)> _snapshots = new();
        private int _last = int.MaxValue;

        public int Passes { get; private set; }

        public int EarliestReport { get; private set; } = int.MaxValue;

        public List<string> Failures { get; } = new();

        public void Ready(int first)
        {
            if (first > _last) Failures.Add($"pass {Passes}: Ready({first}) after Ready({_last}): the final part grew back");
            _last = first;
            EarliestReport = Math.Min(EarliestReport, first);
            _snapshots.Add((first, Region().Slice(first).ToArray()));
        }

        public void Complete()
        {
            var region = Region();
            foreach (var (from, values) in _snapshots)
            {
                for (int i = 0; i < values.Length; i++)
                {
                    if (BitConverter.DoubleToInt64Bits(values[i]) != BitConverter.DoubleToInt64Bits(region[from + i]))
                    {
                        Failures.Add($"pass {Passes}: gradient {from + i} was reported final at Ready({from}) as {values[i]} but ended as {region[from + i]}");
                        break;
                    }
                }
            }

            _snapshots.Clear();
            _last = int.MaxValue;
            Passes++;
        }

        private Span<double> Region() => engine.Arena.AsSpan(engine.GradientOffset, engine.ParameterRegion);
    }
}
