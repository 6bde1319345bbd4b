using System;
using System.IO;
using System.Linq;
using Dsl.IO;
using Dsl.Runtime;
using Xunit;
using InvalidDataException = Dsl.IO.InvalidDataException;

namespace Dsl.Tests.IO;

/// <summary>A fact skipped (not failed, not silently passed) when the STS benchmark is absent.
/// The directory is $DSL_STSBENCHMARK, or the shared data folder of the development machines.</summary>
public sealed class StsBenchmarkFactAttribute : FactAttribute
{
    public static readonly string Directory =
        Environment.GetEnvironmentVariable("DSL_STSBENCHMARK") ?? "/work/shared/data/stsbenchmark";

    public StsBenchmarkFactAttribute()
    {
        if (!File.Exists(Path.Combine(Directory, StsBenchmark.TrainFile)))
            Skip = $"the STS benchmark was not found in {Directory} (set DSL_STSBENCHMARK to its directory).";
    }
}

public sealed class StsBenchmarkTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Reads_score_and_sentences_and_ignores_trailing_fields_and_blank_lines()
    {
        string path = _dir.File("sts.csv");
        File.WriteAllText(path,
            "main-captions\tMSRvid\t2012test\t0001\t5.000\tA plane is taking off.\tAn air plane is taking off.\n" +
            "\n" +
            "main-news\theadlines\t2016\t0012\t4\tDriver backs into stroller\tDriver backs into mom\tEurope Media Monitor\tEurope Media Monitor\n");
        var pairs = StsBenchmark.Read(path);
        Assert.Equal(2, pairs.Count);
        Assert.Equal(new StsPair("A plane is taking off.", "An air plane is taking off.", 5f), pairs[0]);
        Assert.Equal(new StsPair("Driver backs into stroller", "Driver backs into mom", 4f), pairs[1]);
    }

    [Theory]
    [InlineData("genre\tfile\t2012\t0001\t3.0\tonly one sentence", "line 2: 6 tab-separated fields")]
    [InlineData("genre\tfile\t2012\t0001\tabc\ta\tb", "line 2: score 'abc'")]
    [InlineData("genre\tfile\t2012\t0001\t5.5\ta\tb", "line 2: score '5.5'")]
    [InlineData("genre\tfile\t2012\t0001\t1\t \tb", "line 2: an empty sentence")]
    public void A_malformed_line_names_the_file_and_the_line(string bad, string expected)
    {
        string path = _dir.File("bad.csv");
        File.WriteAllText(path, "g\tf\t2012\t1\t2.5\tfine\talso fine\n" + bad + "\n");
        var error = Assert.Throws<InvalidDataException>(() => StsBenchmark.Read(path));
        Assert.Equal(path, error.Path);
        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public void A_missing_split_names_the_path()
    {
        var error = Assert.Throws<DatasetNotFoundException>(() => StsBenchmark.Load(_dir.Path));
        Assert.Contains(Path.Combine(_dir.Path, StsBenchmark.TrainFile), error.Message);
    }

    [Fact]
    public void Words_are_lower_cased_runs_of_letters_and_digits()
    {
        Assert.Equal(new[] { "a", "man", "s", "3", "dogs", "café" }, WordVocabulary.Words("A man's 3 DOGS—Café!").ToArray());
        Assert.Empty(WordVocabulary.Words(" .,; "));
    }

    [Fact]
    public void Vocabulary_reserves_pad_and_unknown_orders_by_count_and_honours_min_count()
    {
        var vocabulary = WordVocabulary.Build(new[] { "the cat", "The dog", "the cat sat", "zebra" }, minCount: 2);
        Assert.Equal(4, vocabulary.Count); // <pad>, <unk>, the (3), cat (2)
        Assert.Equal("<pad>", vocabulary[WordVocabulary.Pad]);
        Assert.Equal("<unk>", vocabulary[WordVocabulary.Unknown]);
        Assert.Equal(2, vocabulary.Id("the"));
        Assert.Equal(3, vocabulary.Id("cat"));
        Assert.Equal(WordVocabulary.Unknown, vocabulary.Id("dog"));
        var capped = WordVocabulary.Build(new[] { "the cat", "The dog", "the cat sat", "zebra" }, maxSize: 3);
        Assert.Equal(3, capped.Count);
        Assert.Equal(WordVocabulary.Unknown, capped.Id("cat")); // only the most frequent word fits

        Span<int> ids = stackalloc int[5];
        Assert.Equal(3, vocabulary.Encode("The cat, the DOG", ids.Slice(0, 3))); // truncated at 3 words
        Assert.Equal(new[] { 2, 3, 2 }, ids.Slice(0, 3).ToArray());
        Assert.Equal(4, vocabulary.Encode("the cat the dog", ids));
        Assert.Equal(new[] { 2, 3, 2, WordVocabulary.Unknown, WordVocabulary.Pad }, ids.ToArray());
    }

    [Fact]
    public void Spearman_uses_average_ranks_for_ties()
    {
        Assert.Equal(new[] { 1.5, 1.5, 3, 4 }, RankCorrelation.Ranks(new[] { 2.0, 2.0, 5.0, 7.0 }));
        Assert.Equal(1, RankCorrelation.Spearman(new[] { 1.0, 2, 3, 4 }, new[] { 10.0, 20, 25, 100 }), 12); // monotone, not linear
        Assert.Equal(-1, RankCorrelation.Spearman(new[] { 1.0, 2, 3 }, new[] { 3.0, 2, 1 }), 12);
        // By hand: ranks x = (1, 2, 3, 4, 5), y = (2, 1, 4, 3, 5): Σd² = 4, ρ = 1 − 6·4/(5·24) = 0.8.
        Assert.Equal(0.8, RankCorrelation.Spearman(new[] { 1.0, 2, 3, 4, 5 }, new[] { 0.2, 0.1, 0.4, 0.3, 0.5 }), 12);
        Assert.True(double.IsNaN(RankCorrelation.Spearman(new[] { 1.0, 1 }, new[] { 1.0, 2 })));
    }

    [StsBenchmarkFact]
    public void The_distributed_splits_load_with_their_documented_sizes()
    {
        var (train, dev, test) = StsBenchmark.Load(StsBenchmarkFactAttribute.Directory);
        Assert.Equal(5749, train.Count);
        Assert.Equal(1500, dev.Count);
        Assert.Equal(1379, test.Count);
        Assert.All(train, p => Assert.InRange(p.Score, 0f, 5f));
    }
}
