using System;
using System.Collections.Generic;
using System.Globalization;
using Dsl.Generators.Diagnostics;
using Dsl.Generators.Model;

namespace Dsl.Generators.Rules;

/// <summary>
/// The largest size or count the DSL accepts for each attribute, in one table. The front end checks
/// every value it reads against these (DSL210) before it loops over, multiplies or allocates anything
/// with it, so a mistyped number is a diagnostic naming the value and the limit, never a hang, an
/// overflow inside the generator or generated code that does not compile.
/// </summary>
/// <remarks>
/// Why these numbers: every offset and length in the generated code and the runtime kernels is an
/// <c>int</c>, so each product of two bounded sizes (rows × width, heads × key size, vocabulary × dim)
/// must stay well inside 2³¹, and the whole arena (<see cref="MaxArenaElements"/>) leaves the other
/// half of the int range to the CUDA program's scratch tail and the kernels' index arithmetic. The
/// counts that drive unrolling (<see cref="MaxRepeat"/>, <see cref="MaxOperations"/>) keep the
/// generator and the analyzers well under a second and the generated file a size csc compiles.
/// Each limit is far above any model this CPU/GPU DSL trains (GPT-3: width 12288, 96 layers, 96 heads;
/// Gemma: vocabulary 256 000).
/// </remarks>
internal static class Limits
{
    /// <summary>Features of any tensor row: Input, Out, In, Dim, KeySize, ValueSize, RotaryDim and the
    /// attention's Heads × KeySize and Heads × ValueSize (2²⁰).</summary>
    public const int MaxWidth = 1 << 20;

    /// <summary>Rows of an embedding table (2²⁴).</summary>
    public const int MaxVocabulary = 1 << 24;

    /// <summary>Attention heads (2¹⁰); talking heads also keep Heads² mixing weights per example.</summary>
    public const int MaxHeads = 1 << 10;

    /// <summary>Examples per step, and rows per step (Batch × Sequence), 2²⁴.</summary>
    public const int MaxRows = 1 << 24;

    /// <summary>Positions per example (Sequence) and an attention window (2²⁰).</summary>
    public const int MaxSequence = 1 << 20;

    /// <summary>Blocks of one [Repeat] stack (2¹⁰: DeepNet's 1000-layer transformer fits).</summary>
    public const int MaxRepeat = 1 << 10;

    /// <summary>Operations of the forward graph after inlining every block (2¹²): each is fused code in
    /// the generated file, so this bounds the generator's time and the file csc compiles.</summary>
    public const int MaxOperations = 1 << 12;

    /// <summary>Elements of the arena (2³⁰: 4 GiB of float, 8 GiB for Engine&lt;double&gt;): parameters,
    /// gradients, the optimizer state slots and every activation and its gradient.</summary>
    public const long MaxArenaElements = 1L << 30;

    /// <summary>The limits that need the inferred widths (the parser checks every attribute value as it reads it):
    /// talking heads' per-step scratch, the mixed probabilities and mix partials of the CPU and CUDA kernels,
    /// 2·rows·Heads·(Sequence + Heads) values, is indexed like the arena.</summary>
    public static void Check(ModelSpec model, List<Finding> findings)
    {
        long rows = Product(model.MaxBatch, model.Sequence);
        if (model.MaxBatch <= 0 || rows > MaxRows) return; // reported where Batch is read
        foreach (var layer in model.Layers)
        {
            if (layer.Options is not Ops.AttentionOp.Options { TalkingHeads: true } a) continue;
            long scratch = Product(2, rows, a.Heads, Sum(model.Sequence, a.Heads));
            if (scratch > MaxArenaElements)
                findings.Add(new Finding(DiagnosticCatalog.SizeLimit, Site.Layer(layer.Path, "Heads"), new object?[]
                {
                    $"Attention '{layer.Path}'", "the talking-heads scratch (2 × rows × Heads × (Sequence + Heads) values)",
                    scratch.ToString(CultureInfo.InvariantCulture), Format(MaxArenaElements), "it is indexed like the arena; lower Batch, Sequence or Heads",
                }));
        }
    }

    /// <summary>The limit of a layer attribute's size argument, and why: the vocabulary, heads and window have
    /// their own; every other size argument is a row width.</summary>
    public static (long Limit, string Why) ForLayerArgument(string argument) => argument switch
    {
        "Vocabulary" => (MaxVocabulary, "an embedding table's rows must fit the generated code's int offsets"),
        "Heads" => (MaxHeads, "talking heads keep Heads² mixing weights per example"),
        "Window" => (MaxSequence, "a window longer than the largest Sequence restricts nothing"),
        _ => (MaxWidth, "every row width must fit the generated code's int offsets"),
    };

    /// <summary>"1048576 (2^20)": a limit as the diagnostics print it.</summary>
    public static string Format(long limit)
    {
        string value = limit.ToString(CultureInfo.InvariantCulture);
        int log = 0;
        while (log < 62 && (1L << log) < limit) log++;
        return (1L << log) == limit ? $"{value} (2^{log.ToString(CultureInfo.InvariantCulture)})" : value;
    }

    /// <summary>a × b without overflow (saturating at long.MaxValue; the factors are non-negative ints).</summary>
    public static long Product(params long[] factors)
    {
        long result = 1;
        foreach (long factor in factors)
        {
            if (factor <= 0) return 0;
            if (result > long.MaxValue / factor) return long.MaxValue;
            result *= factor;
        }

        return result;
    }

    /// <summary>a + b without overflow (saturating; both non-negative).</summary>
    public static long Sum(long a, long b) => a > long.MaxValue - b ? long.MaxValue : a + b;

    /// <summary>An arena offset as the plan stores it: exact when the arena fits (the only case that is
    /// emitted), clamped otherwise so that planning a too-large model never throws.</summary>
    public static int Offset(long value) => (int)Math.Min(Math.Max(value, int.MinValue), int.MaxValue);
}
