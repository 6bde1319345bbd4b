using System;
using System.Linq;
using System.Text.RegularExpressions;
using Dsl.Cuda;
using Dsl.Optimizers;
using Dsl.Runtime;
using Dsl.Tests.EndToEnd;
using Xunit;

namespace Dsl.Tests.Cuda;

/// <summary>Spectral normalisation and FGM on the device, checked through the emulation.</summary>
public sealed partial class CudaEmulationTests
{
    private static Subject Spectral(CudaProgram program, SpectralClassifier.Engine<float> engine, int[] labels) =>
        new(program, engine.Arena, engine.Seed, b => engine.TrainingPass(b, labels), engine.ApplyOptimizer, s => engine.DropoutStep = s,
            SpectralClassifier.Engine<float>.InputOffset, SpectralClassifier.InputFeatures, SpectralClassifier.Engine<float>.OutputOffset, SpectralClassifier.OutputFeatures,
            SpectralClassifier.Engine<float>.GradientOffset, SpectralClassifier.Engine<float>.Tensors.ToArray());

    /// <summary>Where the program's normalise kernel leaves σ of <paramref name="layer"/> (read from the kernel's comment).</summary>
    private static int SigmaOffset(CudaProgram program, string layer)
    {
        var match = Regex.Match(program.Source, $@"/\* {Regex.Escape(layer)}: σ = uᵀWv \(in double\) at (\d+)");
        Assert.True(match.Success, $"no σ offset for {layer} in {program.Model}'s source");
        return int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
    }

    [Fact]
    public void SpectralClassifier_matches_the_cpu_engine_with_adamw()
    {
        // Hidden is used twice (its ∂W̄ accumulates over two GEMMs before the σ term), Square has no bias.
        int[] labels = { 2, 0, 1 };
        var program = SpectralClassifier.CudaProgram;
        Assert.Empty(program.Unsupported);
        var engine = new SpectralClassifier.Engine<float>(seed: 51);
        int hidden = SigmaOffset(program, "Hidden"), square = SigmaOffset(program, "Square");
        int checkedSigmas = 0;
        Check(Spectral(program, engine, labels), labels.Length, labels, Array.Empty<float>(), new AdamW(learningRate: 0.05, weightDecay: 0.01),
            o => CudaArgs.ForAdamW((AdamW)o), program.AdamW, steps: 3, afterPass: (step, device) =>
            {
                Close($"step {step}: σ(Hidden)", engine.SpectralSigma("Hidden"), device[hidden]);
                Close($"step {step}: σ(Square)", engine.SpectralSigma("Square"), device[square]);
                checkedSigmas++;
            });
        Assert.Equal(3, checkedSigmas);
    }

    [Fact]
    public void Spectral_norm_outside_training_keeps_u_and_v_and_matches_the_cpu_forward()
    {
        // training = 0: no power iteration (u, v bit for bit unchanged), σ and W̄ from the current u, v as on the CPU.
        var program = SpectralClassifier.CudaProgram;
        var engine = new SpectralClassifier.Engine<float>(seed: 52);
        int rows = 3;
        var random = new SeededRandom(7);
        for (int i = 0; i < rows * SpectralClassifier.InputFeatures; i++) engine.Arena[SpectralClassifier.Engine<float>.InputOffset + i] = (float)((random.NextDouble() * 2) - 1);
        var match = Regex.Match(program.Source, @"/\* Hidden: one power iteration[^\n]*\n\s*W \[\d+, \d+\] at \d+, u at (\d+), v at (\d+)");
        Assert.True(match.Success, "no u, v offsets for Hidden in the source");
        int u = int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture), v = int.Parse(match.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture);
        float[] device = new float[program.ArenaLength];
        engine.Arena.CopyTo(device, 0);
        float[] uv = device.AsSpan(u, 7).ToArray().Concat(device.AsSpan(v, 5).ToArray()).ToArray();
        engine.Forward(rows, training: false);
        var emulator = new CudaEmulator(program);
        emulator.Run(program.Forward, device, Array.Empty<int>(), Array.Empty<int>(), Array.Empty<float>(), CudaArgs.ForPass(rows, rows, training: false, engine.Seed, 0));
        Assert.Equal(uv, device.AsSpan(u, 7).ToArray().Concat(device.AsSpan(v, 5).ToArray()).ToArray());
        Close("σ(Hidden)", engine.SpectralSigma("Hidden"), device[SigmaOffset(program, "Hidden")]);
        Close("output", engine.Arena.AsSpan(SpectralClassifier.Engine<float>.OutputOffset, rows * SpectralClassifier.OutputFeatures),
            device.AsSpan(SpectralClassifier.Engine<float>.OutputOffset, rows * SpectralClassifier.OutputFeatures));
    }

    [Fact]
    public void Spectral_norm_without_the_sigma_correction_fails_the_check()
    {
        int[] labels = { 2, 0, 1 };
        var good = SpectralClassifier.CudaProgram;

        // The backward launches without the σ term: ∂L/∂W̄ is left as ∂L/∂W.
        var dropped = Rebuild(good, "SpectralDropped", good.Source, good.Backward.Where(l => !l.Name.EndsWith("_backward", StringComparison.Ordinal) || !l.Name.StartsWith("sn", StringComparison.Ordinal)).ToArray());
        Assert.True(dropped.Backward.Count < good.Backward.Count);
        var e = Assert.ThrowsAny<Xunit.Sdk.XunitException>(() => Check(Spectral(dropped, new SpectralClassifier.Engine<float>(seed: 51), labels), labels.Length, labels, Array.Empty<float>(),
            new Sgd(0.05), o => CudaArgs.ForSgd((Sgd)o), dropped.Sgd, steps: 1));
        Assert.Contains("∂Hidden", e.Message, StringComparison.Ordinal);

        // Only the ⟨G, W̄⟩·u·vᵀ part dropped: the 1/σ scale alone is not ∂L/∂W either.
        const string term = "G[e] = (G[e] + v[j] * c) * inverse;";
        Assert.Contains(term, good.Source, StringComparison.Ordinal);
        var partial = Rebuild(good, "SpectralPartial", good.Source.Replace(term, "G[e] = G[e] * inverse; (void)c;", StringComparison.Ordinal), good.Backward.ToArray());
        e = Assert.ThrowsAny<Xunit.Sdk.XunitException>(() => Check(Spectral(partial, new SpectralClassifier.Engine<float>(seed: 51), labels), labels.Length, labels, Array.Empty<float>(),
            new Sgd(0.05), o => CudaArgs.ForSgd((Sgd)o), partial.Sgd, steps: 1));
        Assert.Contains("∂", e.Message, StringComparison.Ordinal);
    }

    private static readonly int[] s_taggerIds = { 1, 4, 0, 5, 2, 2, 3, 1 };
    private static readonly int[] s_taggerLabels = { 0, 2, 1, 1, 2, 0, 0, 1 };

    private static Subject Tagger(CudaProgram program, AdversarialTagger.Engine<float> engine) =>
        new(program, engine.Arena, engine.Seed, b => engine.AdversarialPass(b, s_taggerLabels), engine.ApplyOptimizer, s => engine.DropoutStep = s,
            -1, 1, AdversarialTagger.Engine<float>.OutputOffset, AdversarialTagger.OutputFeatures,
            AdversarialTagger.Engine<float>.GradientOffset, AdversarialTagger.Engine<float>.Tensors.ToArray());

    [Fact]
    public void AdversarialTagger_fgm_matches_the_cpu_engine_and_restores_the_table_exactly()
    {
        // Clean pass, r = ε·g/‖g‖ on the table, perturbed pass, gradients summed, table restored: the combined
        // gradients within 1e-4 and the table after the pass bit for bit the CPU's (and the one before the pass).
        const int batch = 2;
        var program = AdversarialTagger.CudaProgram;
        Assert.Empty(program.Unsupported);
        var engine = new AdversarialTagger.Engine<float>(seed: 61);
        s_taggerIds.CopyTo(engine.Tokens, 0);
        var table = AdversarialTagger.Engine<float>.Tensors.ToArray().Single(t => t.Name.StartsWith("Tokens", StringComparison.Ordinal));
        float[] before = engine.Arena.AsSpan(table.Offset, table.Length).ToArray();
        int checkedTables = 0;
        Check(Tagger(program, engine), batch, s_taggerLabels, Array.Empty<float>(), new AdamW(learningRate: 0.05), o => CudaArgs.ForAdamW((AdamW)o), program.AdamW,
            steps: 2, sequence: AdversarialTagger.Sequence, ids: s_taggerIds, adversarial: true, afterPass: (step, device) =>
            {
                Assert.True(engine.AdversarialPerturbationNorm > 0, "the CPU pass perturbed nothing");
                Assert.Equal(engine.Arena.AsSpan(table.Offset, table.Length).ToArray(), device.AsSpan(table.Offset, table.Length).ToArray());
                if (step == 0) Assert.Equal(before, device.AsSpan(table.Offset, table.Length).ToArray());
                checkedTables++;
            });
        Assert.Equal(2, checkedTables);
    }

    [Fact]
    public void Fgm_without_the_saved_gradients_fails_the_check()
    {
        // The restore kernel without the clean pass's gradients: only the perturbed pass's are left.
        const string add = "+= saved;";
        var good = AdversarialTagger.CudaProgram;
        Assert.Contains(add, good.Source, StringComparison.Ordinal);
        var bad = good with { Model = "AdversarialTaggerMutated", Source = good.Source.Replace(add, "+= 0.0f * saved;", StringComparison.Ordinal) };
        var engine = new AdversarialTagger.Engine<float>(seed: 61);
        s_taggerIds.CopyTo(engine.Tokens, 0);
        var e = Assert.ThrowsAny<Xunit.Sdk.XunitException>(() => Check(Tagger(bad, engine), 2, s_taggerLabels, Array.Empty<float>(), new Sgd(0.05), o => CudaArgs.ForSgd((Sgd)o), bad.Sgd,
            steps: 1, sequence: AdversarialTagger.Sequence, ids: s_taggerIds, adversarial: true));
        Assert.Contains("∂", e.Message, StringComparison.Ordinal);
    }

    private static CudaProgram Rebuild(CudaProgram good, string model, string source, CudaLaunch[] backward) =>
        good with { Model = model, Source = source, Backward = backward };
}
