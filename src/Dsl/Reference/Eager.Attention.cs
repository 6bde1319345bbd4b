using System;
using System.Numerics;
using Dsl.Contracts;
using Dsl.Kernels;
using Dsl.Reference;

namespace Dsl.Runtime;

public static partial class Eager
{
    /// <summary>
    /// Self-attention with its projections, in double precision through <see cref="NaiveAttention"/>:
    /// q|k|v = x·W_qkvᵀ + b, RoPE on q and k, attention, then heads·W_oᵀ + b_o. Binding: <see cref="AttentionSlots"/>.
    /// </summary>
    public static Tensor Attention<T>(Tensor x, T[] arena, LayerBinding binding) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var slots = AttentionSlots.Read(binding.Ints, binding.Doubles);
        int wqkv = slots.Wqkv, bqkv = slots.Bqkv, wo = slots.Wo, bo = slots.Bo, inFeatures = slots.In, outFeatures = slots.Out;
        int heads = slots.Heads, keySize = slots.KeySize, valueSize = slots.ValueSize, sequence = slots.Sequence;
        bool linear = slots.Linear;
        RequireColumns(linear ? "LinearAttention" : "Attention", x, inFeatures);
        RequireSequence(linear ? "LinearAttention" : "Attention", x, sequence);
        int rows = x.Rows, hk = heads * keySize, hv = heads * valueSize, width = 2 * hk + hv;

        var qkv = new double[rows * width];
        for (int r = 0; r < rows; r++)
            for (int o = 0; o < width; o++)
            {
                double s = bqkv >= 0 ? D(arena[bqkv + o]) : 0;
                for (int i = 0; i < inFeatures; i++) s += x[r, i] * D(arena[wqkv + o * inFeatures + i]);
                qkv[r * width + o] = s;
            }

        if (slots.RotaryDim > 0)
        {
            NaiveAttention.Rope(qkv, rows, width, heads, keySize, slots.RotaryDim, sequence, slots.RopeBase);
            NaiveAttention.Rope(qkv.AsSpan(hk), rows, width, heads, keySize, slots.RotaryDim, sequence, slots.RopeBase);
        }

        var options = new AttentionOptions(heads, keySize, valueSize, sequence, slots.Causal, slots.Window,
            slots.EntropyInvariant ? AttentionScaleMode.EntropyInvariant : AttentionScaleMode.Fixed, slots.Scale, slots.Alibi);
        var attended = new double[rows * hv];
        int batch = rows / sequence;
        ReadOnlySpan<double> q = qkv, k = qkv.AsSpan(hk), v = qkv.AsSpan(2 * hk);
        if (linear)
        {
            NaiveAttention.Linear(options, batch, q, k, v, width, attended, hv);
        }
        else if (slots.TalkingHeads)
        {
            var preMix = new double[heads * heads];
            var postMix = new double[heads * heads];
            for (int i = 0; i < preMix.Length; i++)
            {
                preMix[i] = D(arena[slots.PreMix + i]);
                postMix[i] = D(arena[slots.PostMix + i]);
            }

            NaiveAttention.TalkingHeads(options, batch, q, k, v, width, preMix, postMix, attended, hv);
        }
        else
        {
            NaiveAttention.Softmax(options, batch, q, k, v, width, attended, hv);
        }

        var y = new Tensor(rows, outFeatures);
        for (int r = 0; r < rows; r++)
            for (int o = 0; o < outFeatures; o++)
            {
                double s = bo >= 0 ? D(arena[bo + o]) : 0;
                for (int i = 0; i < hv; i++) s += attended[r * hv + i] * D(arena[wo + o * hv + i]);
                y[r, o] = s;
            }

        return y;
    }

    /// <summary>Linear attention: the same layout as <see cref="Attention{T}"/> with the linear flag set.</summary>
    public static Tensor LinearAttention<T>(Tensor x, T[] arena, LayerBinding binding) where T : unmanaged, IFloatingPointIeee754<T> =>
        Attention(x, arena, binding);
}
