using System;
using System.IO;
using System.Linq;
using Dsl.IO;
using Xunit;
using InvalidDataException = Dsl.IO.InvalidDataException;

namespace Dsl.Tests.IO;

public sealed class FashionMnistTests : IDisposable
{
    private const string InstallHint = "Install it with: sudo apt-get install dataset-fashion-mnist";

    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Load_InstalledDataset_HasExpectedCountsRangeAndBalancedClasses()
    {
        // CI installs the package; a missing install is a failure here, never a silent skip.
        Assert.True(Directory.Exists(FashionMnist.DefaultDirectory),
            $"{FashionMnist.DefaultDirectory} is missing: the IO tests need the Debian package. {InstallHint}");

        var (train, test) = FashionMnist.Load();

        AssertSet(train, 60_000);
        AssertSet(test, 10_000);
    }

    private static void AssertSet(LabelledImages set, int count)
    {
        Assert.Equal(count, set.Count);
        Assert.Equal(28 * 28, set.Features);
        Assert.Equal(count * 28 * 28, set.Images.Length);
        Assert.Equal(count, set.Labels.Length);

        float min = float.MaxValue, max = float.MinValue;
        foreach (float p in set.Images)
        {
            min = MathF.Min(min, p);
            max = MathF.Max(max, p);
        }
        Assert.Equal(0f, min);
        Assert.Equal(1f, max);
        // Every value is exactly some byte / 255.
        Assert.All(set.Images.Take(28 * 28 * 10), p => Assert.Equal(p, MathF.Round(p * 255f) / 255f));

        int[] histogram = new int[10];
        foreach (int label in set.Labels)
            histogram[label]++;
        Assert.All(histogram, n => Assert.Equal(count / 10, n));
    }

    [Fact]
    public void Load_EmptyDirectory_ThrowsWithInstallHint()
    {
        var ex = Assert.Throws<DatasetNotFoundException>(() => FashionMnist.Load(_dir.Path));
        Assert.Equal(
            $"Fashion-MNIST not found in {_dir.Path} (missing train-images-idx3-ubyte.gz). {InstallHint}",
            ex.Message);
        Assert.DoesNotContain('\n', ex.Message);
    }

    [Fact]
    public void Load_MissingDirectory_ThrowsWithInstallHint()
    {
        string dir = _dir.File("not-there");
        var ex = Assert.Throws<DatasetNotFoundException>(() => FashionMnist.Load(dir));
        Assert.StartsWith($"Fashion-MNIST not found in {dir} (missing ", ex.Message);
        Assert.EndsWith(InstallHint, ex.Message);
    }

    [Fact]
    public void Load_PartialInstall_NamesTheMissingFile()
    {
        WriteSet("train", 4, 2, 3, gzip: true);
        File.WriteAllBytes(_dir.File("t10k-images-idx3-ubyte.gz"), IdxTests.Gzip(IdxTests.Build([1, 2, 3], new byte[6])));

        var ex = Assert.Throws<DatasetNotFoundException>(() => FashionMnist.Load(_dir.Path));

        Assert.Contains("(missing t10k-labels-idx1-ubyte.gz)", ex.Message);
        Assert.EndsWith(InstallHint, ex.Message);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Load_SyntheticFiles_ScalesPixelsAndKeepsLabels(bool gzip)
    {
        (byte[] trainPixels, byte[] trainLabels) = WriteSet("train", 5, 2, 3, gzip);
        (byte[] testPixels, byte[] testLabels) = WriteSet("t10k", 3, 2, 3, gzip);

        var (train, test) = FashionMnist.Load(_dir.Path);

        Assert.Equal(5, train.Count);
        Assert.Equal(6, train.Features);
        Assert.Equal(trainPixels.Select(b => b / 255f), train.Images);
        Assert.Equal(trainLabels.Select(b => (int)b), train.Labels);
        Assert.Equal(3, test.Count);
        Assert.Equal(testPixels.Select(b => b / 255f), test.Images);
        Assert.Equal(testLabels.Select(b => (int)b), test.Labels);
    }

    [Fact]
    public void LoadSet_CountMismatch_Rejected()
    {
        string images = Save("i.idx", IdxTests.Build([3, 2, 2], new byte[12]));
        string labels = Save("l.idx", IdxTests.Build([2], [1, 2]));
        var ex = Assert.Throws<InvalidDataException>(() => FashionMnist.LoadSet(images, labels));
        Assert.Equal(labels, ex.Path);
        Assert.Contains($"2 labels but 3 images in {images}", ex.Message);
    }

    [Fact]
    public void LoadSet_LabelOutOfRange_Rejected()
    {
        string images = Save("i.idx", IdxTests.Build([3, 1, 1], new byte[3]));
        string labels = Save("l.idx", IdxTests.Build([3], [0, 9, 10]));
        var ex = Assert.Throws<InvalidDataException>(() => FashionMnist.LoadSet(images, labels));
        Assert.Contains("label 2 is 10, expected a class below 10", ex.Message);
    }

    [Fact]
    public void LoadSet_WrongRank_Rejected()
    {
        string images = Save("i.idx", IdxTests.Build([3, 4], new byte[12]));
        string labels = Save("l.idx", IdxTests.Build([3], [0, 1, 2]));
        var ex = Assert.Throws<InvalidDataException>(() => FashionMnist.LoadSet(images, labels));
        Assert.Equal(images, ex.Path);
        Assert.Contains("expected images of shape [count, rows, cols], found [3, 4]", ex.Message);

        string images3 = Save("i3.idx", IdxTests.Build([3, 1, 1], new byte[3]));
        string labels2 = Save("l2.idx", IdxTests.Build([3, 1], [0, 1, 2]));
        ex = Assert.Throws<InvalidDataException>(() => FashionMnist.LoadSet(images3, labels2));
        Assert.Contains("expected labels of shape [count], found [3, 1]", ex.Message);
    }

    [Fact]
    public void Load_MalformedFile_PropagatesInvalidData()
    {
        WriteSet("train", 2, 2, 2, gzip: true);
        WriteSet("t10k", 2, 2, 2, gzip: true);
        string broken = _dir.File("t10k-labels-idx1-ubyte.gz");
        File.WriteAllBytes(broken, IdxTests.Gzip(IdxTests.Build([2], [1])));

        var ex = Assert.Throws<InvalidDataException>(() => FashionMnist.Load(_dir.Path));

        Assert.Equal(broken, ex.Path);
        Assert.Contains("truncated", ex.Message);
    }

    private string Save(string name, byte[] bytes)
    {
        string path = _dir.File(name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private (byte[] Pixels, byte[] Labels) WriteSet(string prefix, int count, int rows, int cols, bool gzip)
    {
        byte[] pixels = Enumerable.Range(0, count * rows * cols).Select(i => (byte)(i * 37 % 256)).ToArray();
        pixels[0] = 255;
        byte[] labels = Enumerable.Range(0, count).Select(i => (byte)(i * 3 % 10)).ToArray();
        string suffix = gzip ? ".gz" : "";
        byte[] imageFile = IdxTests.Build([count, rows, cols], pixels);
        byte[] labelFile = IdxTests.Build([count], labels);
        Save($"{prefix}-images-idx3-ubyte{suffix}", gzip ? IdxTests.Gzip(imageFile) : imageFile);
        Save($"{prefix}-labels-idx1-ubyte{suffix}", gzip ? IdxTests.Gzip(labelFile) : labelFile);
        return (pixels, labels);
    }
}
