using System;
using System.Numerics;

namespace Dsl.Kernels;

/// <summary>
/// The cosine of each sentence pair in a batch of interleaved embeddings: rows 2i and 2i + 1 of an
/// [2P, D] matrix are u_i and v_i. Forward: c_i = u_i·v_i / (‖u_i‖ ‖v_i‖).
/// Backward (SEEDS §1.4, checked): ∂c/∂u = v/(‖u‖‖v‖) − c · u/‖u‖², and symmetrically for v.
/// A zero vector has cosine 0 and receives no gradient.
/// </summary>
public static class PairCosine
{
    /// <summary>Checks the shapes shared by the pair losses.</summary>
    internal static void Validate(int embeddingsLength, int pairs, int dim, int scoresLength, int gradientLength, int scratchLength, int scratchPerPair, bool writeGradient)
    {
        if (pairs < 0)
        {
            KernelThrowHelper.ThrowNegative(nameof(pairs), pairs);
        }

        if (dim <= 0)
        {
            KernelThrowHelper.ThrowNotPositive(nameof(dim), dim);
        }

        long needed = 2L * pairs * dim;
        if (needed > embeddingsLength)
        {
            KernelThrowHelper.ThrowDestinationTooShort("embeddings", embeddingsLength, (int)Math.Min(needed, int.MaxValue));
        }

        if (writeGradient && needed > gradientLength)
        {
            KernelThrowHelper.ThrowDestinationTooShort("dEmbeddings", gradientLength, (int)Math.Min(needed, int.MaxValue));
        }

        if (scoresLength < pairs)
        {
            KernelThrowHelper.ThrowDestinationTooShort("scores", scoresLength, pairs);
        }

        if (scratchLength < scratchPerPair * pairs)
        {
            KernelThrowHelper.ThrowDestinationTooShort("scratch", scratchLength, scratchPerPair * pairs);
        }
    }

    /// <summary>Writes c_i for the <paramref name="pairs"/> interleaved pairs to <paramref name="cosines"/>.</summary>
    public static void Forward<T>(ReadOnlySpan<T> embeddings, int pairs, int dim, Span<double> cosines) where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int i = 0; i < pairs; i++)
        {
            ReadOnlySpan<T> u = embeddings.Slice(2 * i * dim, dim);
            ReadOnlySpan<T> v = embeddings.Slice(((2 * i) + 1) * dim, dim);
            (double uv, double uu, double vv) = Dots(u, v);
            cosines[i] = uu > 0 && vv > 0 ? uv / Math.Sqrt(uu * vv) : 0;
        }
    }

    /// <summary>dEmbeddings = Σ_i ∂L/∂c_i · ∂c_i/∂(u_i, v_i) (overwritten; may not alias the embeddings).</summary>
    public static void Backward<T>(ReadOnlySpan<T> embeddings, int pairs, int dim, ReadOnlySpan<double> dCosines, Span<T> dEmbeddings) where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int i = 0; i < pairs; i++)
        {
            ReadOnlySpan<T> u = embeddings.Slice(2 * i * dim, dim);
            ReadOnlySpan<T> v = embeddings.Slice(((2 * i) + 1) * dim, dim);
            Span<T> du = dEmbeddings.Slice(2 * i * dim, dim);
            Span<T> dv = dEmbeddings.Slice(((2 * i) + 1) * dim, dim);
            (double uv, double uu, double vv) = Dots(u, v);
            if (!(uu > 0 && vv > 0))
            {
                du.Clear();
                dv.Clear();
                continue;
            }

            double g = dCosines[i];
            double inverse = 1 / Math.Sqrt(uu * vv);
            double c = uv * inverse;
            for (int k = 0; k < dim; k++)
            {
                double uk = double.CreateTruncating(u[k]), vk = double.CreateTruncating(v[k]);
                du[k] = T.CreateTruncating(g * ((vk * inverse) - (c * uk / uu)));
                dv[k] = T.CreateTruncating(g * ((uk * inverse) - (c * vk / vv)));
            }
        }
    }

    private static (double Uv, double Uu, double Vv) Dots<T>(ReadOnlySpan<T> u, ReadOnlySpan<T> v) where T : unmanaged, IFloatingPointIeee754<T>
    {
        double uv = 0, uu = 0, vv = 0;
        for (int k = 0; k < u.Length; k++)
        {
            double a = double.CreateTruncating(u[k]), b = double.CreateTruncating(v[k]);
            uv += a * b;
            uu += a * a;
            vv += b * b;
        }

        return (uv, uu, vv);
    }
}
