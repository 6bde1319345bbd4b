using System;
using System.Collections.Generic;
using System.IO;
using System.Text;
using Dsl.Runtime;

namespace Dsl.IO;

/// <summary>
/// A character-level language-modelling corpus, prepared as nanoGPT's shakespeare_char
/// <c>prepare.py</c> prepares it: the vocabulary is the set of distinct characters sorted by
/// code point, the text is encoded as one id per character, the first 90 % of the ids are the
/// training split and the last 10 % the validation split.
/// </summary>
/// <remarks>
/// A "character" is a Unicode code point, as in Python, so text outside the Basic Multilingual
/// Plane round-trips (a surrogate pair is one character, not two). The split point is
/// ⌊0.9·n⌋ computed in double, as Python's <c>int(n*0.9)</c> computes it; for tinyshakespeare
/// (1,115,394 characters, 65 distinct) that gives 1,003,854 training and 111,540 validation ids.
/// </remarks>
public sealed class CharCorpus
{
    /// <summary>The fraction of the ids, from the start, that form the training split.</summary>
    public const double TrainFraction = 0.9;

    private readonly int[] _vocabulary;            // code points, ascending
    private readonly Dictionary<int, int> _ids;    // code point → id
    private readonly int[] _tokens;
    private readonly int _trainLength;

    private CharCorpus(string source, int[] vocabulary, Dictionary<int, int> ids, int[] tokens, int trainLength)
    {
        Source = source;
        _vocabulary = vocabulary;
        _ids = ids;
        _tokens = tokens;
        _trainLength = trainLength;
    }

    /// <summary>Where the text came from: the file path, or "(text)" for <see cref="FromText"/>.</summary>
    public string Source { get; }

    /// <summary>Number of distinct characters; every id is below this.</summary>
    public int VocabularySize => _vocabulary.Length;

    /// <summary>The whole text as ids.</summary>
    public ReadOnlySpan<int> Tokens => _tokens;

    /// <summary>The first ⌊0.9·n⌋ ids.</summary>
    public ReadOnlySpan<int> Train => _tokens.AsSpan(0, _trainLength);

    /// <summary>The remaining ids.</summary>
    public ReadOnlySpan<int> Validation => _tokens.AsSpan(_trainLength);

    /// <summary>
    /// Reads a UTF-8 text file (a byte-order mark is honoured) and prepares it.
    /// </summary>
    /// <exception cref="DatasetNotFoundException">The file does not exist; the message names the path.</exception>
    /// <exception cref="InvalidDataException">The file is empty, or too short for both splits to hold
    /// an input and its target (at least 2 ids each, so 11 characters).</exception>
    public static CharCorpus Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path))
        {
            throw new DatasetNotFoundException(
                $"Character corpus not found: {path} does not exist. Pass the path of a UTF-8 text file (e.g. tinyshakespeare's input.txt).");
        }

        return Prepare(path, File.ReadAllText(path, Encoding.UTF8));
    }

    /// <summary>Prepares a corpus from text in memory (<see cref="Source"/> is "(text)").</summary>
    /// <exception cref="InvalidDataException">The text is empty or too short for both splits.</exception>
    public static CharCorpus FromText(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return Prepare("(text)", text);
    }

    private static CharCorpus Prepare(string source, string text)
    {
        if (text.Length == 0)
        {
            throw new InvalidDataException(source, "the corpus is empty; it needs text to build a vocabulary and splits from");
        }

        // Code points, once: the text is walked a second time only through this array.
        var codePoints = new List<int>(text.Length);
        foreach (Rune rune in text.EnumerateRunes())
        {
            codePoints.Add(rune.Value);
        }

        int n = codePoints.Count;
        int trainLength = (int)(n * TrainFraction);
        if (trainLength < 2 || n - trainLength < 2)
        {
            throw new InvalidDataException(source,
                $"{n} characters are too few: the split gives {trainLength} training and {n - trainLength} validation characters, and each needs at least 2 (an input and the character after it)");
        }

        var distinct = new HashSet<int>(codePoints);
        int[] vocabulary = new int[distinct.Count];
        distinct.CopyTo(vocabulary);
        Array.Sort(vocabulary);
        var ids = new Dictionary<int, int>(vocabulary.Length);
        for (int i = 0; i < vocabulary.Length; i++)
        {
            ids[vocabulary[i]] = i;
        }

        int[] tokens = new int[n];
        for (int i = 0; i < n; i++)
        {
            tokens[i] = ids[codePoints[i]];
        }

        return new CharCorpus(source, vocabulary, ids, tokens, trainLength);
    }

    /// <summary>The characters of the vocabulary in id order, as one string.</summary>
    public string Vocabulary
    {
        get
        {
            var builder = new StringBuilder(_vocabulary.Length);
            foreach (int codePoint in _vocabulary)
            {
                builder.Append(new Rune(codePoint).ToString());
            }

            return builder.ToString();
        }
    }

    /// <summary>The ids of <paramref name="text"/>'s characters.</summary>
    /// <exception cref="ArgumentException">A character is not in the vocabulary (the message names it and its position).</exception>
    public int[] Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var result = new List<int>(text.Length);
        int position = 0;
        foreach (Rune rune in text.EnumerateRunes())
        {
            if (!_ids.TryGetValue(rune.Value, out int id))
            {
                throw new ArgumentException(
                    $"character U+{rune.Value:X4} '{rune}' at position {position} is not in the corpus vocabulary of {VocabularySize} characters.", nameof(text));
            }

            result.Add(id);
            position++;
        }

        return result.ToArray();
    }

    /// <summary>The text of <paramref name="ids"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">An id is outside [0, <see cref="VocabularySize"/>) (the message names its index and value).</exception>
    public string Decode(ReadOnlySpan<int> ids)
    {
        var builder = new StringBuilder(ids.Length);
        for (int i = 0; i < ids.Length; i++)
        {
            int id = ids[i];
            if ((uint)id >= (uint)_vocabulary.Length)
            {
                throw new ArgumentOutOfRangeException(nameof(ids), id, $"ids[{i}] = {id} is outside [0, {_vocabulary.Length}).");
            }

            builder.Append(new Rune(_vocabulary[id]).ToString());
        }

        return builder.ToString();
    }

    /// <summary>
    /// Fills a batch of random windows, as nanoGPT's <c>get_batch</c>: for each b in [0, batch), a
    /// start i uniform in [0, split.Length − block), inputs[b, :] = split[i .. i + block) and
    /// targets[b, :] = split[i + 1 .. i + block + 1). Draws exactly <paramref name="batch"/> values
    /// from <paramref name="rng"/>; allocates nothing.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">batch or block is not positive.</exception>
    /// <exception cref="ArgumentException">split is shorter than block + 1, or inputs or targets
    /// shorter than batch·block.</exception>
    public static void SampleBatch(ReadOnlySpan<int> split, Span<int> inputs, Span<int> targets, int batch, int block, SeededRandom rng)
    {
        ArgumentNullException.ThrowIfNull(rng);
        ValidateWindows(split.Length, inputs.Length, targets.Length, batch, nameof(batch), block);
        int starts = split.Length - block;
        for (int b = 0; b < batch; b++)
        {
            int i = rng.NextInt(starts);
            split.Slice(i, block).CopyTo(inputs.Slice(b * block, block));
            split.Slice(i + 1, block).CopyTo(targets.Slice(b * block, block));
        }
    }

    /// <summary>
    /// How many non-overlapping windows of <paramref name="block"/> inputs (each with its
    /// next-character targets) a split of <paramref name="splitLength"/> ids holds:
    /// ⌊(splitLength − 1)/block⌋. Window w starts at w·block; the last few ids are left out.
    /// This is the "full validation" of bench/torch_chargpt.py --full-val.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">splitLength is negative or block is not positive.</exception>
    public static int WindowCount(int splitLength, int block)
    {
        if (splitLength < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(splitLength), splitLength, $"splitLength must be non-negative, was {splitLength}.");
        }

        if (block <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(block), block, $"block must be positive, was {block}.");
        }

        return splitLength == 0 ? 0 : (splitLength - 1) / block;
    }

    /// <summary>
    /// Copies <paramref name="count"/> consecutive non-overlapping windows, starting with window
    /// <paramref name="first"/>: for k in [0, count), window w = first + k starts at w·block,
    /// inputs[k, :] = split[w·block .. w·block + block) and targets[k, :] the same shifted by one.
    /// Allocates nothing.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">block or count is not positive, or the windows
    /// run past <see cref="WindowCount"/>.</exception>
    /// <exception cref="ArgumentException">inputs or targets is shorter than count·block.</exception>
    public static void Windows(ReadOnlySpan<int> split, int first, int count, int block, Span<int> inputs, Span<int> targets)
    {
        ValidateWindows(split.Length, inputs.Length, targets.Length, count, nameof(count), block);
        int available = WindowCount(split.Length, block);
        if (first < 0 || first > available - count)
        {
            throw new ArgumentOutOfRangeException(nameof(first), first,
                $"windows [{first}, {first} + {count}) are outside the {available} windows of {block} in a split of {split.Length}.");
        }

        for (int k = 0; k < count; k++)
        {
            int start = (first + k) * block;
            split.Slice(start, block).CopyTo(inputs.Slice(k * block, block));
            split.Slice(start + 1, block).CopyTo(targets.Slice(k * block, block));
        }
    }

    private static void ValidateWindows(int splitLength, int inputsLength, int targetsLength, int batch, string batchName, int block)
    {
        if (batch <= 0)
        {
            throw new ArgumentOutOfRangeException(batchName, batch, $"{batchName} must be positive, was {batch}.");
        }

        if (block <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(block), block, $"block must be positive, was {block}.");
        }

        if (splitLength <= block)
        {
            throw new ArgumentException($"split has length {splitLength}, needs at least block + 1 = {(long)block + 1} ids.", "split");
        }

        long size = (long)batch * block;
        if (inputsLength < size)
        {
            throw new ArgumentException($"inputs is too short: length {inputsLength}, needs at least {size} ({batchName} {batch} × block {block}).", "inputs");
        }

        if (targetsLength < size)
        {
            throw new ArgumentException($"targets is too short: length {targetsLength}, needs at least {size} ({batchName} {batch} × block {block}).", "targets");
        }
    }
}
