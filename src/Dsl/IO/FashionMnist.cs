using System;

namespace Dsl.IO;

/// <summary>A labelled image set: pixels scaled to [0, 1], row-major, one row per image.</summary>
/// <param name="Images">count × (rows·cols) values.</param>
/// <param name="Labels">count labels in [0, 10).</param>
/// <param name="Count">Number of images.</param>
/// <param name="Features">rows·cols.</param>
public sealed record LabelledImages(float[] Images, int[] Labels, int Count, int Features);

/// <summary>Thrown when a dataset is not installed; the message says how to install it.</summary>
public sealed class DatasetNotFoundException(string message) : Exception(message);

/// <summary>Fashion-MNIST from the Debian package <c>dataset-fashion-mnist</c>.</summary>
public static class FashionMnist
{
    /// <summary>Where the Debian package puts the IDX files.</summary>
    public const string DefaultDirectory = "/usr/share/datasets/fashion-mnist";

    /// <summary>Loads train (60,000) and test (10,000) sets from <paramref name="directory"/>;
    /// throws <see cref="DatasetNotFoundException"/> with an install hint when files are missing,
    /// <see cref="InvalidDataException"/> when they are malformed or image and label counts differ.</summary>
    public static (LabelledImages Train, LabelledImages Test) Load(string directory = DefaultDirectory) => throw new NotImplementedException();
}
