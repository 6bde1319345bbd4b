using static Dsl.Generators.Emit.Literals;
using Dsl.Generators.Planning;

namespace Dsl.Generators.Emit;

internal static partial class EngineEmitter
{
    private const string SpectralKernel = "global::Dsl.Kernels.SpectralNorm";

    /// <summary>u and v start as normalised N(0, 1) draws from their own stream of the seed (the
    /// parameters' initialisation is unchanged by the option).</summary>
    private static void SpectralNormInitialization(CodeWriter w, ModelPlan plan)
    {
        if (plan.SpectralNorms.Count == 0) return;
        w.Line("// spectral normalisation: u, v ~ N(0, I), normalised; not trained, not saved");
        w.Line("var spectral = new global::Dsl.Runtime.SeededRandom(unchecked(seed ^ 0x5350_4543_5452_414CUL));");
        foreach (var sn in plan.SpectralNorms)
        {
            foreach (var (offset, length) in new[] { (sn.U, sn.Rows), (sn.V, sn.Columns) })
            {
                using (w.Block($"for (int i = 0; i < {Int(length)}; i++)"))
                    w.Line($"Arena[{Int(offset)} + i] = T.CreateTruncating(spectral.NextGaussian());");
            }

            w.Line($"{SpectralKernel}.PowerIteration<T>({SpanA(sn.Weight, Int(sn.Rows * sn.Columns))}, {Int(sn.Rows)}, {Int(sn.Columns)}, {SpanA(sn.U, Int(sn.Rows))}, {SpanA(sn.V, Int(sn.Columns))}); // {sn.Layer}: normalises u and v");
        }
    }

    /// <summary>Before the schedule: one power iteration per training forward, then σ = uᵀWv and W̄ = W/σ.</summary>
    private static void SpectralNormForward(CodeWriter w, ModelPlan plan)
    {
        foreach (var sn in plan.SpectralNorms)
        {
            string weight = SpanA(sn.Weight, Int(sn.Rows * sn.Columns)), u = SpanA(sn.U, Int(sn.Rows)), v = SpanA(sn.V, Int(sn.Columns));
            w.Line($"// {sn.Layer}: spectral normalisation W̄ = W/σ, σ = uᵀWv (one power iteration per training forward)");
            w.Line($"if (training) {SpectralKernel}.PowerIteration<T>({weight}, {Int(sn.Rows)}, {Int(sn.Columns)}, {u}, {v});");
            w.Line($"{SpectralKernel}.Forward<T>({weight}, {Int(sn.Rows)}, {Int(sn.Columns)}, {u}, {v}, {SpanA(sn.Normalized, Int(sn.Rows * sn.Columns))}, {SpanA(sn.Sigma, "1")});");
        }
    }

    /// <summary>After the schedule: the GEMMs left ∂L/∂W̄ in W's gradient; turn it into ∂L/∂W.</summary>
    private static void SpectralNormBackward(CodeWriter w, ModelPlan plan)
    {
        foreach (var sn in plan.SpectralNorms)
        {
            w.Line($"// {sn.Layer}: ∂L/∂W = (G − ⟨G, W̄⟩·u·vᵀ)/σ with G = ∂L/∂W̄ (u, v held constant)");
            w.Line($"{SpectralKernel}.Backward<T>({SpanA(sn.Gradient, Int(sn.Rows * sn.Columns))}, {SpanA(sn.Normalized, Int(sn.Rows * sn.Columns))}, {Int(sn.Rows)}, {Int(sn.Columns)}, {SpanA(sn.U, Int(sn.Rows))}, {SpanA(sn.V, Int(sn.Columns))}, Arena[{Int(sn.Sigma)}]);");
        }
    }

    /// <summary><c>SpectralSigma</c>: the σ of the last forward of a spectrally normalised layer.</summary>
    private static void SpectralNormMembers(CodeWriter w, ModelPlan plan)
    {
        if (plan.SpectralNorms.Count == 0) return;
        w.Line("/// <summary>σ = uᵀWv of the last forward of the spectrally normalised Dense layer <paramref name=\"layer\"/>");
        w.Line("/// (its path, e.g. \"Hidden\"): the current estimate of W's largest singular value.</summary>");
        w.Line("/// <exception cref=\"global::System.ArgumentException\">The layer is not a spectrally normalised Dense layer of this model.</exception>");
        using (w.Block("public double SpectralSigma(string layer)"))
        {
            w.Line("switch (layer)");
            w.Line("{");
            foreach (var sn in plan.SpectralNorms)
                w.Line($"    case {String(sn.Layer)}: return double.CreateTruncating(Arena[{Int(sn.Sigma)}]);");
            w.Line("    default: throw new global::System.ArgumentException($\"'{layer}' is not a spectrally normalised Dense layer of this model\", nameof(layer));");
            w.Line("}");
        }

        w.Line();
    }
}
