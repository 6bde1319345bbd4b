using System;
using System.IO;

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

    /// <summary>Number of classes; every label is below this.</summary>
    public const int ClassCount = 10;

    /// <summary>The train images file name as the Debian package installs it.</summary>
    public const string TrainImagesFile = "train-images-idx3-ubyte.gz";

    /// <summary>The train labels file name as the Debian package installs it.</summary>
    public const string TrainLabelsFile = "train-labels-idx1-ubyte.gz";

    /// <summary>The test images file name as the Debian package installs it.</summary>
    public const string TestImagesFile = "t10k-images-idx3-ubyte.gz";

    /// <summary>The test labels file name as the Debian package installs it.</summary>
    public const string TestLabelsFile = "t10k-labels-idx1-ubyte.gz";

    // Division is correctly rounded, so a table of the 256 quotients gives exactly pixel / 255f
    // without a division per pixel.
    private static readonly float[] s_scale = BuildScale();

    /// <summary>Loads train (60,000) and test (10,000) sets from <paramref name="directory"/>;
    /// throws <see cref="DatasetNotFoundException"/> with an install hint when files are missing,
    /// <see cref="InvalidDataException"/> when they are malformed or image and label counts differ.</summary>
    public static (LabelledImages Train, LabelledImages Test) Load(string directory = DefaultDirectory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        // Resolve all four names before reading anything, so a partial install fails fast with the hint.
        string trainImages = Locate(directory, TrainImagesFile);
        string trainLabels = Locate(directory, TrainLabelsFile);
        string testImages = Locate(directory, TestImagesFile);
        string testLabels = Locate(directory, TestLabelsFile);
        return (LoadSet(trainImages, trainLabels), LoadSet(testImages, testLabels));
    }

    /// <summary>Loads one image/label pair of IDX files (plain or gzip): images <c>[n, rows, cols]</c>,
    /// labels <c>[n]</c> in [0, 10); pixels are scaled by 1/255.</summary>
    public static LabelledImages LoadSet(string imagesPath, string labelsPath)
    {
        IdxArray images = Idx.Read(imagesPath);
        IdxArray labels = Idx.Read(labelsPath);

        if (images.Dimensions.Length != 3)
            throw new InvalidDataException(imagesPath,
                $"expected images of shape [count, rows, cols], found [{string.Join(", ", images.Dimensions)}]");
        if (labels.Dimensions.Length != 1)
            throw new InvalidDataException(labelsPath,
                $"expected labels of shape [count], found [{string.Join(", ", labels.Dimensions)}]");
        int count = images.Dimensions[0];
        if (labels.Dimensions[0] != count)
            throw new InvalidDataException(labelsPath,
                $"{labels.Dimensions[0]} labels but {count} images in {imagesPath}");

        int[] labelValues = new int[count];
        for (int i = 0; i < count; i++)
        {
            byte label = labels.Data[i];
            if (label >= ClassCount)
                throw new InvalidDataException(labelsPath, $"label {i} is {label}, expected a class below {ClassCount}");
            labelValues[i] = label;
        }

        float[] pixels = new float[images.Data.Length];
        byte[] raw = images.Data;
        for (int i = 0; i < raw.Length; i++)
            pixels[i] = s_scale[raw[i]];

        // Idx.Read bounds the element count by Array.MaxLength, so rows·cols fits in an int.
        int features = images.Dimensions[1] * images.Dimensions[2];
        return new LabelledImages(pixels, labelValues, count, features);
    }

    private static string Locate(string directory, string gzName)
    {
        string gz = Path.Combine(directory, gzName);
        if (File.Exists(gz))
            return gz;
        // The reader detects compression by content, so an unpacked copy works just as well.
        string plain = gz[..^".gz".Length];
        if (File.Exists(plain))
            return plain;
        throw new DatasetNotFoundException(
            $"Fashion-MNIST not found in {directory} (missing {gzName}). Install it with: sudo apt-get install dataset-fashion-mnist");
    }

    private static float[] BuildScale()
    {
        float[] scale = new float[256];
        for (int i = 0; i < scale.Length; i++)
            scale[i] = i / 255f;
        return scale;
    }
}
