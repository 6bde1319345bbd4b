using System;

namespace Dsl;

/// <summary>
/// Marks a <c>partial</c> class as a model: the generator emits its parameter layout, fused forward
/// and backward, <c>TrainStep</c>, <c>Predict</c> and checkpointing. Shapes are compile-time facts:
/// <see cref="Input"/> is the width of one input row and <see cref="Batch"/> the largest batch a
/// step accepts (smaller batches are fine at run time). A sequence model also declares
/// <see cref="Sequence"/>: each example is that many rows (positions), so a step holds
/// batch × sequence rows. A model whose forward starts with an <see cref="EmbeddingAttribute"/>
/// layer takes token ids (ints) instead of float rows and declares no <see cref="Input"/>.
/// </summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
public sealed class ModelAttribute : Attribute
{
    /// <summary>The largest batch (examples) one step accepts; buffers are sized for it.</summary>
    public int Batch { get; set; }
    /// <summary>Features per input row (0 for a token model, whose input is ids).</summary>
    public int Input { get; set; }
    /// <summary>Positions per example (the sequence length); 0 or 1 for a model without a sequence axis.</summary>
    public int Sequence { get; set; }
    /// <summary>
    /// When &gt; 0, every weight is drawn from N(0, InitStd²) (GPT-2 / nanoGPT), and a projection whose
    /// output is added into a residual stream uses InitStd/√R, R being the number of such residual
    /// branches in the model (2 per transformer block). When 0 (the default), weights use a
    /// fan-in-scaled uniform initialisation and embeddings N(0, 1).
    /// </summary>
    public double InitStd { get; set; }
}

/// <summary>Marks a <c>partial</c> class as a reusable block of layers, used as a partial property of a model
/// (or, with <see cref="RepeatAttribute"/>, as an array property: a stack of blocks).</summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
public sealed class ModuleAttribute : Attribute;

/// <summary>Marks the method that computes the training objective from the inputs and targets.</summary>
[AttributeUsage(AttributeTargets.Method, Inherited = false)]
public sealed class LossAttribute : Attribute;

/// <summary>Base of every layer attribute; a layer attribute goes on a <c>partial Tensor Name(Tensor x)</c> method.</summary>
public abstract class LayerAttribute : Attribute;

/// <summary>A fully connected layer y = x·Wᵀ + b with W of shape [Out, In] (PyTorch's layout).</summary>
[AttributeUsage(AttributeTargets.Method, Inherited = false)]
public sealed class DenseAttribute : LayerAttribute
{
    /// <summary>Output features.</summary>
    public int Out { get; set; }
    /// <summary>Input features; 0 (the default) infers it from the incoming tensor.</summary>
    public int In { get; set; }
    /// <summary>Whether the layer has a bias (default true).</summary>
    public bool Bias { get; set; } = true;
    /// <summary>Name of an <see cref="EmbeddingAttribute"/> layer whose [Vocabulary, Dim] table this layer
    /// uses as its weight (weight tying: Out must be the vocabulary and In the embedding width).</summary>
    public string? Tied { get; set; }
    /// <summary>
    /// Spectral normalisation (Miyato et al. 2018): the forward uses W/σ(W), σ the largest singular
    /// value estimated by one power iteration per training forward (u and v kept in the arena, not
    /// trained, as PyTorch's <c>spectral_norm</c> does); the gradient flows through σ = uᵀWv with u and
    /// v held constant: ∂L/∂W = (G − ⟨G, W/σ⟩·u·vᵀ)/σ, G = ∂L/∂(W/σ). Not allowed with <see cref="Tied"/>.
    /// </summary>
    public bool SpectralNorm { get; set; }
}

/// <summary>ReLU: max(x, 0).</summary>
[AttributeUsage(AttributeTargets.Method, Inherited = false)]
public sealed class ReluAttribute : LayerAttribute;

/// <summary>GELU: the tanh approximation by default, the exact erf form with <see cref="Exact"/>.</summary>
[AttributeUsage(AttributeTargets.Method, Inherited = false)]
public sealed class GeluAttribute : LayerAttribute
{
    /// <summary>Use 0.5·x·(1 + erf(x/√2)) instead of the tanh approximation.</summary>
    public bool Exact { get; set; }
}

/// <summary>SiLU (Swish): x·σ(x).</summary>
[AttributeUsage(AttributeTargets.Method, Inherited = false)]
public sealed class SiluAttribute : LayerAttribute;

/// <summary>Softplus: ln(1 + eˣ).</summary>
[AttributeUsage(AttributeTargets.Method, Inherited = false)]
public sealed class SoftplusAttribute : LayerAttribute;

/// <summary>SquarePlus (Barron 2021): (x + √(x² + b)) / 2, with b &gt; 0 (default 4).</summary>
[AttributeUsage(AttributeTargets.Method, Inherited = false)]
public sealed class SquarePlusAttribute : LayerAttribute
{
    /// <summary>The smoothing constant b (default 4, as JAX and Keras).</summary>
    public double B { get; set; } = 4;
}

/// <summary>Hyperbolic tangent.</summary>
[AttributeUsage(AttributeTargets.Method, Inherited = false)]
public sealed class TanhAttribute : LayerAttribute;

/// <summary>Logistic sigmoid.</summary>
[AttributeUsage(AttributeTargets.Method, Inherited = false)]
public sealed class SigmoidAttribute : LayerAttribute;

/// <summary>
/// Inverted dropout during training (identity in <c>Predict</c>). Masks are drawn from the model's
/// seed, the layer and the step number, so a run is reproducible.
/// </summary>
[AttributeUsage(AttributeTargets.Method, Inherited = false)]
public sealed class DropoutAttribute(double rate) : LayerAttribute
{
    /// <summary>Probability of zeroing an element, in [0, 1).</summary>
    public double Rate { get; } = rate;
}

/// <summary>
/// A stack of <c>N</c> instances of a [Module], each with its own parameters: put it on a
/// <c>public partial Block[] Blocks { get; }</c> property and apply them in order with
/// <c>foreach (var block in Blocks) x = block.Forward(x);</c>. Every block must map its input
/// shape to the same shape.
/// </summary>
[AttributeUsage(AttributeTargets.Property, Inherited = false)]
public sealed class RepeatAttribute(int count) : Attribute
{
    /// <summary>How many blocks.</summary>
    public int Count { get; } = count;
}

/// <summary>
/// Recompute (gradient checkpointing; Chen et al. 2016, Su kexue.fm 7367): on a module property, or on a
/// <see cref="RepeatAttribute"/> stack where each block is one segment, the training step keeps only what
/// each segment reads and returns and runs the segment's forward again just before its backward. The
/// activations inside the segments share one segment's worth of arena, so memory falls with the number of
/// segments at the cost of one more forward of each (about a quarter more time per step). Dropout masks
/// replay exactly (they are a hash of seed, step, layer and element), so gradients are the same bits as
/// without it. On a [Module] class it applies to every use of the module; on the [Model] class it saves
/// nothing and is reported (DSL321).
/// </summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Class, Inherited = false)]
public sealed class RecomputeAttribute : Attribute;

/// <summary>
/// The scaled skip of DeepNorm (Wang et al. 2022, "DeepNet"; Su, kexue.fm 8978): y = α·x, used as
/// <c>x = Norm(Skip(x) + Branch(x))</c> with a LayerNorm after the sum. Its presence in a [Module]
/// (or model) also initialises that block's Dense layers and its attention's value and output
/// projections Xavier-normal with gain β (queries and keys keep gain 1). With N the number of
/// stacked blocks (the <see cref="RepeatAttribute"/> count, 1 when not repeated) the defaults are
/// α = (2N)^¼ and β = (8N)^−¼ (encoder-only or decoder-only); set <see cref="Alpha"/> or
/// <see cref="Beta"/> to override.
/// </summary>
[AttributeUsage(AttributeTargets.Method, Inherited = false)]
public sealed class DeepNormAttribute : LayerAttribute
{
    /// <summary>Residual weight α; 0 (the default) derives (2N)^¼ from the depth.</summary>
    public double Alpha { get; set; }
    /// <summary>Initialisation gain β; 0 (the default) derives (8N)^−¼ from the depth.</summary>
    public double Beta { get; set; }
}

/// <summary>Token embedding: row r of the output is row ids[r] of a [Vocabulary, Dim] table. Must be
/// applied to the model's input, which then holds token ids.</summary>
[AttributeUsage(AttributeTargets.Method, Inherited = false)]
public sealed class EmbeddingAttribute : LayerAttribute
{
    /// <summary>Number of distinct tokens.</summary>
    public int Vocabulary { get; set; }
    /// <summary>Width of an embedding vector.</summary>
    public int Dim { get; set; }
}

/// <summary>Learned absolute position embedding: y[b, t, :] = x[b, t, :] + P[t, :], with P of shape
/// [Sequence, width] (the model's sequence length and the incoming width).</summary>
[AttributeUsage(AttributeTargets.Method, Inherited = false)]
public sealed class PositionEmbeddingAttribute : LayerAttribute;

/// <summary>Layer normalisation over the features of each row: (x − μ)/√(σ² + ε) ⊙ γ + β.</summary>
[AttributeUsage(AttributeTargets.Method, Inherited = false)]
public sealed class LayerNormAttribute : LayerAttribute
{
    /// <summary>Learned bias β (default true; nanoGPT's bias=False turns it off).</summary>
    public bool Bias { get; set; } = true;
    /// <summary>ε inside the square root (default 1e-5, as PyTorch).</summary>
    public double Epsilon { get; set; } = 1e-5;
}

/// <summary>RMS normalisation: x / √(mean(x²) + ε), times a learned gain unless <see cref="Gain"/> is false
/// (RoFormerV2 drops it).</summary>
[AttributeUsage(AttributeTargets.Method, Inherited = false)]
public sealed class RmsNormAttribute : LayerAttribute
{
    /// <summary>Learned per-feature gain (default true).</summary>
    public bool Gain { get; set; } = true;
    /// <summary>ε inside the square root (default 1e-6).</summary>
    public double Epsilon { get; set; } = 1e-6;
}

/// <summary>
/// Multi-head self-attention with its projections: q, k, v = x·W_qᵀ, x·W_kᵀ, x·W_vᵀ; per head
/// softmax(λ·q·kᵀ + mask)·v; then the output projection. Computed per (example, head) tile with an
/// online softmax: the attention matrix of the batch is never stored.
/// </summary>
[AttributeUsage(AttributeTargets.Method, Inherited = false)]
public sealed class AttentionAttribute : LayerAttribute
{
    /// <summary>Number of heads.</summary>
    public int Heads { get; set; }
    /// <summary>Width of a query/key per head; 0 = <see cref="ValueSize"/>. A key size larger than
    /// width/heads widens only the logits' bottleneck (Bhojanapalli et al. 2020; Su, kexue.fm 7325).</summary>
    public int KeySize { get; set; }
    /// <summary>Width of a value per head; 0 = width / heads.</summary>
    public int ValueSize { get; set; }
    /// <summary>Output width; 0 = the input width.</summary>
    public int Out { get; set; }
    /// <summary>Each position attends only to itself and earlier positions.</summary>
    public bool Causal { get; set; }
    /// <summary>Logit scale λ; 0 (the default) is 1/√KeySize.</summary>
    public double Scale { get; set; }
    /// <summary>Entropy-invariant scale λ_i = ln n_i / (ln 512 · √KeySize), n_i the number of keys row i
    /// attends to (Su, kexue.fm 8823). Excludes <see cref="Scale"/>.</summary>
    public bool EntropyInvariant { get; set; }
    /// <summary>Local attention: a position attends to keys less than Window positions away (0 = all).</summary>
    public int Window { get; set; }
    /// <summary>Rotary position embedding on queries and keys (half-split layout).</summary>
    public bool Rope { get; set; }
    /// <summary>Rotary dimensions per head (even, ≤ KeySize); 0 = KeySize.</summary>
    public int RotaryDim { get; set; }
    /// <summary>RoPE base θ (default 10000).</summary>
    public double RopeBase { get; set; } = 10000;
    /// <summary>Talking-heads attention (Shazeer et al. 2020): learned H×H mixes of the heads' logits
    /// before the softmax and of their weights after it.</summary>
    public bool TalkingHeads { get; set; }
    /// <summary>ALiBi (Press et al. 2022): a fixed linear bias −m_h·(i − j) on head h's logits, with the paper's
    /// slopes m_h = 2^(−8(h+1)/H) (interleaved for H not a power of two); no parameters, length extrapolation without
    /// position embeddings. Needs <see cref="Causal"/> (bidirectional ALiBi cannot tell left from right); not with
    /// <see cref="TalkingHeads"/>.</summary>
    public bool Alibi { get; set; }
    /// <summary>Biases on the projections (default true).</summary>
    public bool Bias { get; set; } = true;
}

/// <summary>
/// Linear attention (Katharopoulos et al. 2020; Su, kexue.fm 7546) with its projections:
/// o_i = φ(q_i)ᵀ·S / φ(q_i)ᵀ·z with φ = elu + 1; causal via running sums, otherwise via Kᵀ·V.
/// </summary>
[AttributeUsage(AttributeTargets.Method, Inherited = false)]
public sealed class LinearAttentionAttribute : LayerAttribute
{
    /// <summary>Number of heads.</summary>
    public int Heads { get; set; }
    /// <summary>Width of a query/key per head; 0 = <see cref="ValueSize"/>.</summary>
    public int KeySize { get; set; }
    /// <summary>Width of a value per head; 0 = width / heads.</summary>
    public int ValueSize { get; set; }
    /// <summary>Output width; 0 = the input width.</summary>
    public int Out { get; set; }
    /// <summary>Each position attends only to itself and earlier positions.</summary>
    public bool Causal { get; set; }
    /// <summary>Biases on the projections (default true).</summary>
    public bool Bias { get; set; } = true;
}

/// <summary>
/// Mean pooling over the non-pad positions of each example of a token model: declared as
/// <c>partial Tensor Pool(Tensor x, Tensor ids)</c> and called with the model's input ids, it turns
/// batch × Sequence rows into one row per example (y[b] = mean of x[b, t] over t with ids[b, t] ≠ Pad;
/// 0 for an example of pads only). Everything after it in the forward works on one row per example.
/// </summary>
[AttributeUsage(AttributeTargets.Method, Inherited = false)]
public sealed class MeanPoolAttribute : LayerAttribute
{
    /// <summary>The padding token id, excluded from the mean (default 0).</summary>
    public int Pad { get; set; }
}
