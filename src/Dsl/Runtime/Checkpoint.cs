using System;
using System.Collections.Generic;
using System.Globalization;
using Dsl.IO;
using Dsl.Optimizers;
using Dsl.Runtime;

namespace Dsl;

/// <summary>
/// Full-state checkpoints: everything a training run needs to continue bit for bit where it stopped,
/// in one safetensors file that PyTorch still reads as a state dict.
/// </summary>
/// <remarks>
/// <para>The file holds</para>
/// <list type="bullet">
/// <item>the parameters under their usual names and shapes ("Hidden.weight" [out, in], …), exactly as
/// the model's <c>Save</c> writes them, so <c>safetensors.torch.load_file</c> and the model's <c>Load</c>
/// read them as before;</item>
/// <item>the optimizer's per-parameter state, one tensor per slot and parameter tensor, named
/// "optimizer/SLOT/TENSOR" with PyTorch's slot names where it has them ("optimizer/exp_avg/Hidden.weight",
/// "optimizer/exp_avg_sq/…", "optimizer/momentum_buffer/…", ChildTuning-D's "optimizer/fisher/…");
/// scratch slots that a step overwrites before reading are not stored;</item>
/// <item>buffers training changes besides the parameters, "state/NAME" (a spectral norm's u and v);</item>
/// <item>in the header's metadata: the model name, the seed, the dropout step, the optimizer's kind,
/// step count and learning rate ("optimizer.*"), and whatever the caller adds (a training loop's
/// epoch, position and shuffle seed).</item>
/// </list>
/// <para>A '/' never occurs in a parameter name (they are C# identifiers joined by dots), so the extra
/// tensors cannot collide with parameters; in PyTorch, <c>{k: v for k, v in sd.items() if "/" not in k}</c>
/// keeps the parameters alone.</para>
/// </remarks>
public static class Checkpoint
{
    /// <summary>The metadata key that marks a full-state checkpoint; its value is the format version.</summary>
    public const string FormatKey = "dsl.checkpoint";

    /// <summary>The current format version.</summary>
    public const string FormatVersion = "1";

    /// <summary>Prefix of the optimizer's metadata keys and tensor names.</summary>
    public const string OptimizerPrefix = "optimizer";

    /// <summary>Prefix of the names of <see cref="IEngine{T}.StateBuffers"/> tensors.</summary>
    public const string StatePrefix = "state/";

    private const string ModelKey = "model", SeedKey = "dsl.seed", DropoutStepKey = "dsl.dropout_step";

    /// <summary>
    /// Writes the full training state of <paramref name="model"/> and <paramref name="optimizer"/> to
    /// <paramref name="path"/>, atomically (the old file stays intact if anything fails), with
    /// <paramref name="extra"/> added to the metadata.
    /// </summary>
    /// <exception cref="ArgumentException">An extra key collides with one the checkpoint writes itself.</exception>
    public static void Save(string path, IModel model, Optimizer optimizer, IReadOnlyDictionary<string, string>? extra = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(optimizer);
        IEngine<float> engine = model.Engine;
        RequireStateFits(engine, optimizer);

        var metadata = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [FormatKey] = FormatVersion,
            [ModelKey] = engine.ModelName,
            [SeedKey] = Text(engine.Seed),
            [DropoutStepKey] = Text(engine.DropoutStep),
        };
        if (engine.InitialTaskLosses.Length > 0)
            metadata[TaskCheckpoint.Key] = TaskCheckpoint.Format(engine.InitialTaskLosses);
        optimizer.SaveState(metadata, OptimizerPrefix + ".");
        if (extra is not null)
        {
            foreach (var (key, value) in extra)
            {
                if (!metadata.TryAdd(key, value))
                    throw new ArgumentException($"extra metadata key '{key}' is one the checkpoint writes itself", nameof(extra));
            }
        }

        var tensors = new List<SafeTensor>();
        ReadOnlySpan<ParameterTensor> table = engine.ParameterTensors;
        ReadOnlySpan<int[]> shapes = engine.ParameterShapes;
        Span<float> parameters = engine.Parameters;
        for (int i = 0; i < table.Length; i++)
            tensors.Add(new SafeTensor(table[i].Name, (int[])shapes[i].Clone(), parameters.Slice(table[i].Offset, table[i].Length).ToArray()));

        int region = parameters.Length;
        Span<float> state = engine.OptimizerState;
        for (int slot = 0; slot < optimizer.StateSlots; slot++)
        {
            string? name = optimizer.StateSlotName(slot);
            if (name is null) continue;
            Span<float> values = state.Slice(slot * region, region);
            for (int i = 0; i < table.Length; i++)
                tensors.Add(new SafeTensor(SlotTensorName(name, table[i].Name), (int[])shapes[i].Clone(), values.Slice(table[i].Offset, table[i].Length).ToArray()));
        }

        foreach (StateBuffer buffer in engine.StateBuffers)
            tensors.Add(new SafeTensor(StatePrefix + buffer.Name, new[] { buffer.Length }, engine.Arena.AsSpan(buffer.Offset, buffer.Length).ToArray()));

        SafeTensors.Write(path, tensors, metadata);
    }

    /// <summary>
    /// Restores a state written by <see cref="Save"/> into <paramref name="model"/> and
    /// <paramref name="optimizer"/> (which must be of the same kind as the saved one) and returns the
    /// file's metadata, extra entries included. Everything is checked before anything changes: on
    /// error the model and the optimizer are as they were.
    /// </summary>
    /// <exception cref="Dsl.IO.InvalidDataException">The file is not a full-state checkpoint of this model
    /// and optimizer (a parameters-only file, another model, another optimizer, a missing or misshapen
    /// tensor, a malformed value); the message says which.</exception>
    public static IReadOnlyDictionary<string, string> Load(string path, IModel model, Optimizer optimizer)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(optimizer);
        IEngine<float> engine = model.Engine;
        RequireStateFits(engine, optimizer);
        var (file, metadata) = SafeTensors.ReadWithMetadata(path);

        if (!metadata.TryGetValue(FormatKey, out string? version))
            throw new Dsl.IO.InvalidDataException(path, "is not a full-state checkpoint (no 'dsl.checkpoint' entry in its metadata): it holds parameters only, as a model's Save writes them; load it with the model's Load, or resume from a file written by Checkpoint.Save");
        if (version != FormatVersion)
            throw new Dsl.IO.InvalidDataException(path, $"is a full-state checkpoint of format version '{version}'; this runtime reads version '{FormatVersion}'");
        string savedModel = metadata.TryGetValue(ModelKey, out string? m) ? m : "(none)";
        if (savedModel != engine.ModelName)
            throw new Dsl.IO.InvalidDataException(path, $"holds the state of model '{savedModel}', not of '{engine.ModelName}'");
        ulong seed = ParseUInt64(path, metadata, SeedKey);
        ulong dropoutStep = ParseUInt64(path, metadata, DropoutStepKey);

        // The optimizer's kind first: another optimizer's slot tensors would otherwise be reported as missing.
        string savedOptimizer = metadata.TryGetValue(OptimizerPrefix + ".kind", out string? k) ? k : "(none)";
        if (savedOptimizer != optimizer.Describe())
            throw new Dsl.IO.InvalidDataException(path, $"holds the state of optimizer {savedOptimizer}; this run's optimizer is {optimizer.Describe()}");
        ReadOnlySpan<ParameterTensor> table = engine.ParameterTensors;
        ReadOnlySpan<int[]> shapes = engine.ParameterShapes;
        for (int i = 0; i < table.Length; i++)
            ShapeChecks.Checkpoint(path, file, table[i].Name, shapes[i]);
        for (int slot = 0; slot < optimizer.StateSlots; slot++)
        {
            string? name = optimizer.StateSlotName(slot);
            if (name is null) continue;
            for (int i = 0; i < table.Length; i++)
                ShapeChecks.Checkpoint(path, file, SlotTensorName(name, table[i].Name), shapes[i]);
        }

        foreach (StateBuffer buffer in engine.StateBuffers)
            ShapeChecks.Checkpoint(path, file, StatePrefix + buffer.Name, new[] { buffer.Length });

        Span<double> initial = engine.InitialTaskLosses.Length > 0 ? new double[engine.InitialTaskLosses.Length] : default;
        bool recorded = initial.Length > 0 && TaskCheckpoint.TryRead(path, metadata, initial);

        // The optimizer checks all of its entries before it assigns any, and nothing below can fail.
        optimizer.LoadState(metadata, OptimizerPrefix + ".", path);

        engine.Initialize(seed);
        Span<float> parameters = engine.Parameters;
        for (int i = 0; i < table.Length; i++)
            file[table[i].Name].Data.AsSpan().CopyTo(parameters.Slice(table[i].Offset, table[i].Length));
        int region = parameters.Length;
        Span<float> state = engine.OptimizerState;
        for (int slot = 0; slot < optimizer.StateSlots; slot++)
        {
            string? name = optimizer.StateSlotName(slot);
            if (name is null) continue;
            Span<float> values = state.Slice(slot * region, region);
            for (int i = 0; i < table.Length; i++)
                file[SlotTensorName(name, table[i].Name)].Data.AsSpan().CopyTo(values.Slice(table[i].Offset, table[i].Length));
        }

        foreach (StateBuffer buffer in engine.StateBuffers)
            file[StatePrefix + buffer.Name].Data.AsSpan().CopyTo(engine.Arena.AsSpan(buffer.Offset, buffer.Length));
        if (recorded) initial.CopyTo(engine.InitialTaskLosses);
        engine.DropoutStep = dropoutStep;
        return metadata;
    }

    /// <summary>The name of the tensor holding optimizer slot <paramref name="slot"/> of parameter <paramref name="tensor"/>.</summary>
    public static string SlotTensorName(string slot, string tensor) => $"{OptimizerPrefix}/{slot}/{tensor}";

    private static void RequireStateFits(IEngine<float> engine, Optimizer optimizer)
    {
        if (optimizer.StateSlots > engine.StateSlots)
            throw new ArgumentException($"optimizer {optimizer.Describe()} needs {optimizer.StateSlots} state values per parameter; the arena of {engine.ModelName} reserves {engine.StateSlots}", nameof(optimizer));
    }

    private static ulong ParseUInt64(string path, IReadOnlyDictionary<string, string> metadata, string key)
    {
        if (!metadata.TryGetValue(key, out string? text))
            throw new Dsl.IO.InvalidDataException(path, $"metadata '{key}' is missing");
        if (!ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out ulong value))
            throw new Dsl.IO.InvalidDataException(path, $"metadata '{key}' is '{text}', not an unsigned integer");
        return value;
    }

    private static string Text(ulong value) => value.ToString(CultureInfo.InvariantCulture);
}
