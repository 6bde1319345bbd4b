using System;
using System.IO;
using System.Linq;
using Dsl.IO;
using Dsl.Runtime;
using Xunit;
using InvalidDataException = Dsl.IO.InvalidDataException;

namespace Dsl.Tests.IO;

/// <summary>A fact that is skipped (not failed, not silently passed) when tinyshakespeare is absent.
/// The path is $DSL_TINYSHAKESPEARE, or the shared data folder of the development machines.</summary>
public sealed class TinyShakespeareFactAttribute : FactAttribute
{
    public static readonly string Path =
        Environment.GetEnvironmentVariable("DSL_TINYSHAKESPEARE") ?? "/work/shared/data/tinyshakespeare/input.txt";

    public TinyShakespeareFactAttribute()
    {
        if (!File.Exists(Path))
        {
            Skip = $"tinyshakespeare not found at {Path} (set DSL_TINYSHAKESPEARE to its input.txt).";
        }
    }
}

public sealed class CharCorpusTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Vocabulary_is_the_distinct_characters_in_ordinal_order_and_round_trips()
    {
        const string text = "hello world, Hello!\nzebra";
        CharCorpus corpus = CharCorpus.FromText(text);
        string expected = new(text.Distinct().OrderBy(c => c).ToArray()); // ordinal for chars
        Assert.Equal(expected, corpus.Vocabulary);
        Assert.Equal(expected.Length, corpus.VocabularySize);
        Assert.Equal('\n', corpus.Vocabulary[0]);
        Assert.Equal("(text)", corpus.Source);

        int[] ids = corpus.Tokens.ToArray();
        Assert.Equal(text.Length, ids.Length);
        for (int i = 0; i < text.Length; i++)
        {
            Assert.Equal(expected.IndexOf(text[i]), ids[i]);
        }

        Assert.Equal(ids, corpus.Encode(text));
        Assert.Equal(text, corpus.Decode(ids));
        Assert.Equal("word", corpus.Decode(corpus.Encode("word")));
    }

    [Fact]
    public void Characters_are_code_points_so_astral_text_round_trips()
    {
        const string text = "a😀b😀cé\u00e9a\U0001F600bcdefgh"; // U+1F600 is one character, not two
        CharCorpus corpus = CharCorpus.FromText(text);
        Assert.Equal("abcdefghé😀", corpus.Vocabulary);
        Assert.Equal(text.EnumerateRunes().Count(), corpus.Tokens.Length);
        Assert.Equal(text, corpus.Decode(corpus.Tokens));
    }

    [Theory]
    [InlineData(11, 9)]    // the shortest corpus: 9 train, 2 validation
    [InlineData(20, 18)]
    [InlineData(1_115_394, 1_003_854)]
    public void Splits_are_the_first_90_percent_and_the_rest(int n, int trainLength)
    {
        string text = new(Enumerable.Range(0, n).Select(i => (char)('a' + (i * 7 % 26))).ToArray());
        CharCorpus corpus = CharCorpus.FromText(text);
        Assert.Equal(trainLength, corpus.Train.Length);
        Assert.Equal(n - trainLength, corpus.Validation.Length);
        Assert.True(corpus.Train.SequenceEqual(corpus.Tokens[..trainLength]));
        Assert.True(corpus.Validation.SequenceEqual(corpus.Tokens[trainLength..]));
    }

    [Fact]
    public void Missing_file_names_the_path()
    {
        string path = _dir.File("missing.txt");
        var e = Assert.Throws<DatasetNotFoundException>(() => CharCorpus.Load(path));
        Assert.StartsWith($"Character corpus not found: {path} does not exist.", e.Message);
    }

    [Fact]
    public void Empty_and_too_short_files_are_rejected_clearly()
    {
        string empty = _dir.File("empty.txt");
        File.WriteAllText(empty, "");
        var e = Assert.Throws<InvalidDataException>(() => CharCorpus.Load(empty));
        Assert.Equal(empty, e.Path);
        Assert.Contains("the corpus is empty", e.Message);

        string shortFile = _dir.File("short.txt");
        File.WriteAllText(shortFile, "abcdefghij"); // 10: 9 train, 1 validation
        e = Assert.Throws<InvalidDataException>(() => CharCorpus.Load(shortFile));
        Assert.Equal(shortFile, e.Path);
        Assert.Contains("10 characters are too few: the split gives 9 training and 1 validation characters, and each needs at least 2", e.Message);
    }

    [Fact]
    public void Load_reads_utf8_with_or_without_a_byte_order_mark()
    {
        string path = _dir.File("bom.txt");
        File.WriteAllText(path, "naïve café text", new System.Text.UTF8Encoding(encoderShouldEmitUTF8Identifier: true));
        CharCorpus corpus = CharCorpus.Load(path);
        Assert.Equal(path, corpus.Source);
        Assert.Equal("naïve café text", corpus.Decode(corpus.Tokens));
        Assert.DoesNotContain('\uFEFF', corpus.Vocabulary);
    }

    [Fact]
    public void Encode_and_decode_name_what_is_unknown()
    {
        CharCorpus corpus = CharCorpus.FromText("abcabcabcabc");
        var e = Assert.Throws<ArgumentException>(() => corpus.Encode("abz"));
        Assert.StartsWith("character U+007A 'z' at position 2 is not in the corpus vocabulary of 3 characters.", e.Message);
        var range = Assert.Throws<ArgumentOutOfRangeException>(() => corpus.Decode([0, 1, 3]));
        Assert.StartsWith("ids[2] = 3 is outside [0, 3).", range.Message);
    }

    [Fact]
    public void SampleBatch_takes_random_windows_with_targets_shifted_by_one()
    {
        int[] split = Enumerable.Range(0, 50).Select(i => 1000 + i).ToArray();
        const int batch = 7, block = 5;
        int[] inputs = new int[batch * block], targets = new int[batch * block];
        var rng = new SeededRandom(42);
        var expectedRng = new SeededRandom(42);
        CharCorpus.SampleBatch(split, inputs, targets, batch, block, rng);
        for (int b = 0; b < batch; b++)
        {
            int start = expectedRng.NextInt(split.Length - block); // one draw per row, in [0, len − block)
            for (int t = 0; t < block; t++)
            {
                Assert.Equal(split[start + t], inputs[(b * block) + t]);
                Assert.Equal(split[start + t + 1], targets[(b * block) + t]);
            }
        }

        // Both generators are in the same state afterwards: exactly batch draws.
        Assert.Equal(expectedRng.NextUInt64(), rng.NextUInt64());
    }

    [Fact]
    public void SampleBatch_covers_every_start_including_the_last()
    {
        int[] split = [0, 1, 2, 3, 4, 5]; // block 4: starts 0 and 1 only (1 + 4 = 5 is the last target)
        int[] inputs = new int[4], targets = new int[4];
        var rng = new SeededRandom(7);
        var seen = new bool[2];
        for (int k = 0; k < 200; k++)
        {
            CharCorpus.SampleBatch(split, inputs, targets, 1, 4, rng);
            seen[inputs[0]] = true;
            Assert.Equal(inputs[0] + 4, targets[3]);
        }

        Assert.All(seen, Assert.True);
    }

    [Fact]
    public void SampleBatch_rejects_bad_sizes_naming_them()
    {
        var rng = new SeededRandom(1);
        int[] split = new int[10], buffer = new int[20];
        Assert.StartsWith("split has length 10, needs at least block + 1 = 11 ids.",
            Assert.Throws<ArgumentException>(() => CharCorpus.SampleBatch(split, buffer, buffer, 2, 10, rng)).Message);
        Assert.StartsWith("inputs is too short: length 5, needs at least 6 (batch 2 × block 3).",
            Assert.Throws<ArgumentException>(() => CharCorpus.SampleBatch(split, new int[5], buffer, 2, 3, rng)).Message);
        Assert.StartsWith("targets is too short",
            Assert.Throws<ArgumentException>(() => CharCorpus.SampleBatch(split, buffer, new int[5], 2, 3, rng)).Message);
        Assert.StartsWith("batch must be positive, was 0.",
            Assert.Throws<ArgumentOutOfRangeException>(() => CharCorpus.SampleBatch(split, buffer, buffer, 0, 3, rng)).Message);
        Assert.StartsWith("block must be positive, was -3.",
            Assert.Throws<ArgumentOutOfRangeException>(() => CharCorpus.SampleBatch(split, buffer, buffer, 2, -3, rng)).Message);
    }

    [Fact]
    public void SampleBatch_allocates_nothing()
    {
        int[] split = Enumerable.Range(0, 10_000).ToArray();
        int[] inputs = new int[12 * 64], targets = new int[12 * 64];
        var rng = new SeededRandom(3);
        CharCorpus.SampleBatch(split, inputs, targets, 12, 64, rng);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 10; i++)
        {
            CharCorpus.SampleBatch(split, inputs, targets, 12, 64, rng);
        }

        Assert.Equal(before, GC.GetAllocatedBytesForCurrentThread());
    }

    [Fact]
    public void Windows_tile_the_split_without_overlap()
    {
        int[] split = Enumerable.Range(0, 23).ToArray();
        Assert.Equal(5, CharCorpus.WindowCount(split.Length, 4)); // starts 0, 4, …, 16; 16 + 4 = 20 ≤ 22
        Assert.Equal(0, CharCorpus.WindowCount(0, 4));
        Assert.Equal(0, CharCorpus.WindowCount(4, 4));
        Assert.Equal(1, CharCorpus.WindowCount(5, 4));

        int[] inputs = new int[8], targets = new int[8];
        CharCorpus.Windows(split, 3, 2, 4, inputs, targets);
        Assert.Equal([12, 13, 14, 15, 16, 17, 18, 19], inputs);
        Assert.Equal([13, 14, 15, 16, 17, 18, 19, 20], targets);

        var e = Assert.Throws<ArgumentOutOfRangeException>(() => CharCorpus.Windows(split, 4, 2, 4, inputs, targets));
        Assert.StartsWith("windows [4, 4 + 2) are outside the 5 windows of 4 in a split of 23.", e.Message);
    }

    [TinyShakespeareFact]
    public void Tinyshakespeare_has_the_expected_vocabulary_and_splits()
    {
        CharCorpus corpus = CharCorpus.Load(TinyShakespeareFactAttribute.Path);
        // The numbers nanoGPT's shakespeare_char/prepare.py prints.
        Assert.Equal(1_115_394, corpus.Tokens.Length);
        Assert.Equal(65, corpus.VocabularySize);
        Assert.Equal("\n !$&',-.3:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", corpus.Vocabulary);
        Assert.Equal(1_003_854, corpus.Train.Length);
        Assert.Equal(111_540, corpus.Validation.Length);
        Assert.StartsWith("First Citizen:\nBefore we proceed any further, hear me speak.", corpus.Decode(corpus.Tokens[..100]));
        Assert.Equal(1742, CharCorpus.WindowCount(corpus.Validation.Length, 64)); // --full-val of bench/torch_chargpt.py
    }
}
