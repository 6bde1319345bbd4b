using System;
using System.Buffers;
using System.Numerics.Tensors;

namespace Dsl;

/// <summary>
/// <c>Predict</c> and <c>Evaluate</c> of every generated model on System.Numerics.Tensors' types: a
/// <see cref="ReadOnlyTensorSpan{T}"/> (or a <see cref="Tensor{T}"/>, which converts to one) of inputs and
/// targets, a <see cref="TensorSpan{T}"/> to write the outputs into, or a new <see cref="Tensor{T}"/> of them.
/// </summary>
/// <remarks>
/// <para>Examples go first: inputs of shape [examples, …] whose other dimensions hold the model's
/// InputsPerExample values ([n, 784] or [n, 28, 28] for a 784-input model; [n, Sequence] of token ids; a
/// rank-1 span of a whole number of examples is taken as they come). Outputs are [examples, OutputFeatures],
/// [examples, Sequence, OutputFeatures] for a sequence model, or [pairs, 2, OutputFeatures] for a pair model.</para>
/// <para>A dense span is read and written in place; a strided one (a slice, a transposed view) is copied
/// into a pooled buffer first, so the results are the same either way.</para>
/// </remarks>
public static class TensorExtensions
{
    /// <summary>The forward pass over the examples of <paramref name="inputs"/>, dropout off, into <paramref name="outputs"/>
    /// (any shape of examples × OutputsPerExample values, examples first).</summary>
    /// <exception cref="ArgumentException">A shape does not hold whole examples, or the two disagree on their number.</exception>
    public static void Predict<TInput, TTarget>(this ISupervisedModel<TInput, TTarget> model, ReadOnlyTensorSpan<TInput> inputs, in TensorSpan<float> outputs)
        where TInput : unmanaged
        where TTarget : unmanaged
    {
        ArgumentNullException.ThrowIfNull(model);
        Predict(model.Engine.ModelName, model.InputsPerExample, model.OutputsPerExample, inputs, outputs, model.Predict);
    }

    /// <summary>The forward pass over the examples of <paramref name="inputs"/>, dropout off, as a new tensor of shape
    /// [examples, OutputFeatures] ([examples, rows, OutputFeatures] when an example has several output rows).</summary>
    /// <exception cref="ArgumentException">The inputs' shape does not hold whole examples.</exception>
    public static Tensor<float> Predict<TInput, TTarget>(this ISupervisedModel<TInput, TTarget> model, ReadOnlyTensorSpan<TInput> inputs)
        where TInput : unmanaged
        where TTarget : unmanaged
    {
        ArgumentNullException.ThrowIfNull(model);
        int examples = Examples(inputs, model.InputsPerExample, model.Engine.ModelName, nameof(inputs));
        var result = System.Numerics.Tensors.Tensor.Create(new float[checked(examples * model.OutputsPerExample)], OutputShape(examples, model.OutputsPerExample, model.OutputFeatures));
        model.Predict(inputs, result.AsTensorSpan());
        return result;
    }

    /// <summary>The loss over the examples of <paramref name="inputs"/> and their <paramref name="targets"/>
    /// (examples × TargetsPerExample values, examples first), without dropout or updates.</summary>
    /// <exception cref="ArgumentException">A shape does not hold whole examples, or the two disagree on their number.</exception>
    public static float Evaluate<TInput, TTarget>(this ISupervisedModel<TInput, TTarget> model, ReadOnlyTensorSpan<TInput> inputs, ReadOnlyTensorSpan<TTarget> targets)
        where TInput : unmanaged
        where TTarget : unmanaged
    {
        ArgumentNullException.ThrowIfNull(model);
        string name = model.Engine.ModelName;
        int examples = Examples(inputs, model.InputsPerExample, name, nameof(inputs));
        int targetExamples = Examples(targets, model.TargetsPerExample, name, nameof(targets));
        if (targetExamples != examples)
            throw new ArgumentException($"{name}: the inputs hold {examples} examples, the targets {targetExamples}", nameof(targets));
        TInput[]? inputCopy = null;
        TTarget[]? targetCopy = null;
        try
        {
            return model.Evaluate(Read(inputs, ref inputCopy), Read(targets, ref targetCopy));
        }
        finally
        {
            if (inputCopy is not null) ArrayPool<TInput>.Shared.Return(inputCopy);
            if (targetCopy is not null) ArrayPool<TTarget>.Shared.Return(targetCopy);
        }
    }

    /// <summary>A multi-task model's forward pass (Forward's outputs) over the examples of <paramref name="inputs"/> into <paramref name="outputs"/>.</summary>
    /// <exception cref="ArgumentException">A shape does not hold whole examples, or the two disagree on their number.</exception>
    public static void Predict<TInput>(this IMultiTaskModel<TInput> model, ReadOnlyTensorSpan<TInput> inputs, in TensorSpan<float> outputs)
        where TInput : unmanaged
    {
        ArgumentNullException.ThrowIfNull(model);
        Predict(model.Engine.ModelName, model.InputsPerExample, model.OutputsPerExample, inputs, outputs, model.Predict);
    }

    /// <summary>A multi-task model's forward pass (Forward's outputs) as a new tensor, shaped as for a one-target model.</summary>
    /// <exception cref="ArgumentException">The inputs' shape does not hold whole examples.</exception>
    public static Tensor<float> Predict<TInput>(this IMultiTaskModel<TInput> model, ReadOnlyTensorSpan<TInput> inputs)
        where TInput : unmanaged
    {
        ArgumentNullException.ThrowIfNull(model);
        int examples = Examples(inputs, model.InputsPerExample, model.Engine.ModelName, nameof(inputs));
        var result = System.Numerics.Tensors.Tensor.Create(new float[checked(examples * model.OutputsPerExample)], OutputShape(examples, model.OutputsPerExample, model.OutputFeatures));
        model.Predict(inputs, result.AsTensorSpan());
        return result;
    }

    private delegate void PredictSpans<TInput>(ReadOnlySpan<TInput> inputs, Span<float> outputs);

    private static void Predict<TInput>(string name, int inputsPerExample, int outputsPerExample, ReadOnlyTensorSpan<TInput> inputs, in TensorSpan<float> outputs, PredictSpans<TInput> predict)
        where TInput : unmanaged
    {
        int examples = Examples(inputs, inputsPerExample, name, nameof(inputs));
        int outputExamples = Examples(outputs, outputsPerExample, name, nameof(outputs));
        if (outputExamples != examples)
            throw new ArgumentException($"{name}: the inputs hold {examples} examples, the outputs have room for {outputExamples} ({outputsPerExample} values each)", nameof(outputs));
        TInput[]? inputCopy = null;
        float[]? outputCopy = null;
        try
        {
            ReadOnlySpan<TInput> x = Read(inputs, ref inputCopy);
            if (Dense(outputs, out Span<float> y))
            {
                predict(x, y);
                return;
            }

            // A strided destination: predict into a dense buffer, then copy it into place element by element.
            int length = checked((int)outputs.FlattenedLength);
            outputCopy = ArrayPool<float>.Shared.Rent(length);
            predict(x, outputCopy.AsSpan(0, length));
            new ReadOnlyTensorSpan<float>(outputCopy.AsSpan(0, length), outputs.Lengths).CopyTo(outputs);
        }
        finally
        {
            if (inputCopy is not null) ArrayPool<TInput>.Shared.Return(inputCopy);
            if (outputCopy is not null) ArrayPool<float>.Shared.Return(outputCopy);
        }
    }

    /// <summary>The number of examples a span of <paramref name="perExample"/> values each holds (examples first).</summary>
    private static int Examples<T>(in ReadOnlyTensorSpan<T> span, int perExample, string model, string name)
    {
        long total = span.FlattenedLength;
        if (total % perExample != 0)
            throw new ArgumentException($"{model}: {name} of shape {Shape(span.Lengths)} hold {total} values, not a whole number of examples of {perExample}", name);
        long examples = total / perExample;
        if (span.Rank > 1 && span.Lengths[0] != examples)
            throw new ArgumentException($"{model}: {name} of shape {Shape(span.Lengths)} hold {examples} examples of {perExample} values, but the first dimension is {span.Lengths[0]}: examples go first", name);
        return checked((int)examples);
    }

    private static int Examples<T>(in TensorSpan<T> span, int perExample, string model, string name) =>
        Examples(span.AsReadOnlyTensorSpan(), perExample, model, name);

    /// <summary>The span's values in order: the span itself when dense, else a copy in a pooled array.</summary>
    private static ReadOnlySpan<T> Read<T>(in ReadOnlyTensorSpan<T> span, ref T[]? copy)
    {
        int length = checked((int)span.FlattenedLength);
        if (length == 0) return ReadOnlySpan<T>.Empty;
        Span<nint> start = span.Rank <= 8 ? stackalloc nint[span.Rank] : new nint[span.Rank];
        start.Clear();
        if (span.TryGetSpan(start, length, out ReadOnlySpan<T> dense)) return dense;
        copy = ArrayPool<T>.Shared.Rent(length);
        span.FlattenTo(copy);
        return copy.AsSpan(0, length);
    }

    private static bool Dense<T>(in TensorSpan<T> span, out Span<T> dense)
    {
        int length = checked((int)span.FlattenedLength);
        if (length == 0)
        {
            dense = Span<T>.Empty;
            return true;
        }

        Span<nint> start = span.Rank <= 8 ? stackalloc nint[span.Rank] : new nint[span.Rank];
        start.Clear();
        return span.TryGetSpan(start, length, out dense);
    }

    private static nint[] OutputShape(int examples, int perExample, int features) =>
        perExample == features ? [examples, features] : [examples, perExample / features, features];

    private static string Shape(ReadOnlySpan<nint> lengths)
    {
        var parts = new string[lengths.Length];
        for (int i = 0; i < parts.Length; i++) parts[i] = lengths[i].ToString(System.Globalization.CultureInfo.InvariantCulture);
        return "[" + string.Join(", ", parts) + "]";
    }
}
