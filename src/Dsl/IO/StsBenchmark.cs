using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;

namespace Dsl.IO;

/// <summary>One scored sentence pair of the STS benchmark.</summary>
/// <param name="First">The first sentence.</param>
/// <param name="Second">The second sentence.</param>
/// <param name="Score">Gold similarity, 0 (unrelated) to 5 (equivalent).</param>
public sealed record StsPair(string First, string Second, float Score);

/// <summary>
/// The STS benchmark (Cer et al. 2017) as distributed: UTF-8, tab-separated, one pair per line with
/// the fields genre, file, year, id, score, sentence 1, sentence 2, and on some lines further
/// (licence) fields, which are ignored.
/// </summary>
public static class StsBenchmark
{
    /// <summary>The training split's file name.</summary>
    public const string TrainFile = "sts-train.csv";
    /// <summary>The development split's file name.</summary>
    public const string DevFile = "sts-dev.csv";
    /// <summary>The test split's file name.</summary>
    public const string TestFile = "sts-test.csv";
    /// <summary>The highest score.</summary>
    public const float MaxScore = 5;

    /// <summary>Reads the three splits from <paramref name="directory"/>.</summary>
    /// <exception cref="DatasetNotFoundException">A split is missing; the message names it.</exception>
    /// <exception cref="InvalidDataException">A line is malformed; the message names the file and line.</exception>
    public static (IReadOnlyList<StsPair> Train, IReadOnlyList<StsPair> Dev, IReadOnlyList<StsPair> Test) Load(string directory) =>
        (Read(Path.Combine(directory, TrainFile)), Read(Path.Combine(directory, DevFile)), Read(Path.Combine(directory, TestFile)));

    /// <summary>Reads one split. Blank lines are skipped.</summary>
    /// <exception cref="DatasetNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">A line has fewer than 7 fields, a score that is not a number in
    /// [0, 5], or an empty sentence; the message names the file and the line number (from 1).</exception>
    public static IReadOnlyList<StsPair> Read(string path)
    {
        if (!File.Exists(path))
            throw new DatasetNotFoundException($"STS benchmark file not found: {path} (expected the stsbenchmark directory with {TrainFile}, {DevFile} and {TestFile})");
        var pairs = new List<StsPair>();
        int lineNumber = 0;
        foreach (string line in File.ReadLines(path, Encoding.UTF8))
        {
            lineNumber++;
            if (line.Trim().Length == 0) continue;
            pairs.Add(Parse(line, path, lineNumber));
        }

        if (pairs.Count == 0) throw new InvalidDataException(path, "no sentence pairs");
        return pairs;
    }

    /// <summary>Parses one line; <paramref name="path"/> and <paramref name="lineNumber"/> go into error messages.</summary>
    public static StsPair Parse(string line, string path, int lineNumber)
    {
        ArgumentNullException.ThrowIfNull(line);
        string[] fields = line.Split('\t');
        if (fields.Length < 7)
            throw new InvalidDataException(path, Invariant($"line {lineNumber}: {fields.Length} tab-separated fields, expected at least 7 (genre, file, year, id, score, sentence 1, sentence 2)"));
        if (!float.TryParse(fields[4], NumberStyles.Float, CultureInfo.InvariantCulture, out float score) || !(score >= 0 && score <= MaxScore))
            throw new InvalidDataException(path, Invariant($"line {lineNumber}: score '{fields[4]}' is not a number in [0, {MaxScore}]"));
        if (fields[5].Trim().Length == 0 || fields[6].Trim().Length == 0)
            throw new InvalidDataException(path, Invariant($"line {lineNumber}: an empty sentence"));
        return new StsPair(fields[5], fields[6], score);
    }

    private static string Invariant(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}

/// <summary>
/// A word-level vocabulary: text is lower-cased and split on every character that is not a letter or
/// a digit; words seen at least <c>minCount</c> times in the sentences it is built from get an id,
/// the rest map to <see cref="Unknown"/>. Id 0 is <see cref="Pad"/>, 1 is <see cref="Unknown"/>, then
/// words by descending count (ties in ordinal order), so the ids are deterministic.
/// </summary>
public sealed class WordVocabulary
{
    /// <summary>The padding id (a MeanPool's Pad).</summary>
    public const int Pad = 0;
    /// <summary>The id of every word not in the vocabulary.</summary>
    public const int Unknown = 1;

    private readonly Dictionary<string, int> _ids;
    private readonly string[] _words;

    private WordVocabulary(string[] words)
    {
        _words = words;
        _ids = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 2; i < words.Length; i++) _ids[words[i]] = i;
    }

    /// <summary>Number of ids, Pad and Unknown included.</summary>
    public int Count => _words.Length;

    /// <summary>The word of an id ("&lt;pad&gt;", "&lt;unk&gt;" for the two reserved ids).</summary>
    public string this[int id] => _words[id];

    /// <summary>Builds the vocabulary of <paramref name="sentences"/> (the training split only, so nothing leaks),
    /// keeping at most <paramref name="maxSize"/> ids (the most frequent words) when it is positive — a model's
    /// [Embedding] Vocabulary is a compile-time number.</summary>
    public static WordVocabulary Build(IEnumerable<string> sentences, int minCount = 1, int maxSize = 0)
    {
        ArgumentNullException.ThrowIfNull(sentences);
        if (minCount < 1) throw new ArgumentOutOfRangeException(nameof(minCount), minCount, "minCount must be at least 1");
        if (maxSize < 0 || maxSize is 1 or 2) throw new ArgumentOutOfRangeException(nameof(maxSize), maxSize, "maxSize must be 0 (no limit) or more than 2 (pad and unknown are reserved)");
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (string sentence in sentences)
            foreach (string word in Words(sentence))
                counts[word] = counts.TryGetValue(word, out int c) ? c + 1 : 1;
        var words = counts.Where(kv => kv.Value >= minCount)
            .OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key, StringComparer.Ordinal)
            .Select(kv => kv.Key)
            .Take(maxSize > 0 ? maxSize - 2 : int.MaxValue);
        return new WordVocabulary(new[] { "<pad>", "<unk>" }.Concat(words).ToArray());
    }

    /// <summary>The words of <paramref name="text"/>: lower-cased (invariant culture) runs of letters and digits.</summary>
    public static IEnumerable<string> Words(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var word = new StringBuilder();
        foreach (char c in text)
        {
            if (char.IsLetterOrDigit(c))
            {
                word.Append(char.ToLowerInvariant(c));
            }
            else if (word.Length > 0)
            {
                yield return word.ToString();
                word.Clear();
            }
        }

        if (word.Length > 0) yield return word.ToString();
    }

    /// <summary>The id of <paramref name="word"/> (already lower-cased), or <see cref="Unknown"/>.</summary>
    public int Id(string word) => _ids.TryGetValue(word, out int id) ? id : Unknown;

    /// <summary>Writes the ids of <paramref name="text"/>'s first <c>ids.Length</c> words to <paramref name="ids"/>,
    /// padding the rest with <see cref="Pad"/>; returns the number of words written.</summary>
    public int Encode(string text, Span<int> ids)
    {
        ids.Fill(Pad);
        int n = 0;
        foreach (string word in Words(text))
        {
            if (n == ids.Length) break;
            ids[n++] = Id(word);
        }

        return n;
    }
}
