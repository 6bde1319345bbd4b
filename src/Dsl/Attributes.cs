using System;

namespace Dsl;

/// <summary>
/// Marks a <c>partial</c> class as a model: the generator emits its parameter layout, fused forward
/// and backward, <c>TrainStep</c>, <c>Predict</c> and checkpointing. Shapes are compile-time facts:
/// <see cref="Input"/> is the width of one input row and <see cref="Batch"/> the largest batch a
/// step accepts (smaller batches are fine at run time).
/// </summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
public sealed class ModelAttribute : Attribute
{
    /// <summary>The largest batch (rows) one step accepts; buffers are sized for it.</summary>
    public int Batch { get; set; }
    /// <summary>Features per input row.</summary>
    public int Input { get; set; }
}

/// <summary>Marks a <c>partial</c> class as a reusable block of layers, used as a partial property of a model.</summary>
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
