using System;
using System.Collections.Generic;
using System.Globalization;
using Dsl.IO;

namespace Dsl.Runtime;

/// <summary>
/// The recorded first-batch losses L_i⁰ of <see cref="TaskWeighting.InitialLoss"/> in a checkpoint: one metadata
/// entry of the safetensors header ("initial_task_losses", round-trip decimal numbers separated by commas), so a
/// resumed run keeps the weights its first batch set.
/// </summary>
public static class TaskCheckpoint
{
    /// <summary>The metadata key.</summary>
    public const string Key = "initial_task_losses";

    /// <summary>The values as the metadata string.</summary>
    public static string Format(ReadOnlySpan<double> initial)
    {
        var parts = new string[initial.Length];
        for (int i = 0; i < initial.Length; i++) parts[i] = initial[i].ToString("R", CultureInfo.InvariantCulture);
        return string.Join(",", parts);
    }

    /// <summary>Parses the entry of <paramref name="metadata"/> into <paramref name="destination"/> (TaskCount values);
    /// returns false when the file has no entry (then nothing is written). Writes nothing on error.</summary>
    /// <exception cref="InvalidDataException">The entry has the wrong number of values, or one is not a finite number ≥ 0.</exception>
    public static bool TryRead(string path, IReadOnlyDictionary<string, string> metadata, Span<double> destination)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        if (!metadata.TryGetValue(Key, out string? text)) return false;
        string[] parts = text.Split(',');
        if (parts.Length != destination.Length)
            throw new InvalidDataException(path, string.Create(CultureInfo.InvariantCulture, $"metadata '{Key}' holds {parts.Length} values; the model has {destination.Length} tasks"));
        Span<double> values = stackalloc double[parts.Length];
        for (int i = 0; i < parts.Length; i++)
        {
            if (!double.TryParse(parts[i], NumberStyles.Float, CultureInfo.InvariantCulture, out values[i]) || !(values[i] >= 0) || double.IsInfinity(values[i]))
                throw new InvalidDataException(path, string.Create(CultureInfo.InvariantCulture, $"metadata '{Key}' value {i}, '{parts[i]}', is not a finite number ≥ 0"));
        }

        values.CopyTo(destination);
        return true;
    }
}
