using System;
using System.Linq;
using System.Text.RegularExpressions;
using Dsl.Cuda;
using Dsl.Optimizers;
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

    private static CudaProgram Rebuild(CudaProgram good, string model, string source, CudaLaunch[] backward) =>
        new(model, source, good.ArenaLength, good.NormOffset, good.LossOffset, good.LossDivisor, good.MaxRows, good.OutputWidth,
            good.Forward.ToArray(), good.Loss.ToArray(), backward, good.GradientNorm.ToArray(), good.Sgd.ToArray(), good.AdamW.ToArray(), Array.Empty<string>(), good.Pooled, good.Lion.ToArray());
}
