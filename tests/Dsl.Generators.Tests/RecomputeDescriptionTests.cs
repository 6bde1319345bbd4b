using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text.RegularExpressions;
using Xunit;

namespace Dsl.Generators.Tests;

/// <summary>
/// The model description of a [Recompute] stack: each segment's line gives the activation memory it would keep
/// without [Recompute] in elements (values + their gradients) and in float bytes; the bytes are those elements
/// at 4 bytes, cover the buffers the arena listing shows in that segment's shared region, and identical blocks
/// get identical lines; the arena the description reports shrinks by the segments that take turns.
/// </summary>
public sealed partial class RecomputeDescriptionTests
{
    private const string Stack = """
        using Dsl;

        namespace Samples;

        [Module]
        public partial class Block
        {
            [LayerNorm] public partial Tensor Norm(Tensor x);
            [Dense(Out = 64)] public partial Tensor Up(Tensor x);
            [Gelu] public partial Tensor Act(Tensor x);
            [Dropout(0.1)] public partial Tensor Drop(Tensor x);
            [Dense(Out = 16)] public partial Tensor Down(Tensor x);

            public Tensor Forward(Tensor x) => x + Down(Drop(Act(Up(Norm(x)))));
        }

        [Model(Batch = 4, Sequence = 8)]
        public partial class Stacked
        {
            [Embedding(Vocabulary = 11, Dim = 16)] public partial Tensor Tokens(Tensor ids);
            [Recompute, Repeat(3)] public partial Block[] Blocks { get; }
            [Dense(Out = 11)] public partial Tensor Head(Tensor x);

            public Tensor Forward(Tensor ids)
            {
                var x = Tokens(ids);
                foreach (var block in Blocks) x = block.Forward(x);
                return Head(x);
            }

            [Loss] public Scalar Loss(Tensor ids, Labels next) => Ops.SoftmaxCrossEntropy(Forward(ids), next);
        }
        """;

    [GeneratedRegex(@"^//\s+(Blocks\.\d+)\s+(\d+) \+ (\d+) elements \((\d+) bytes\), (\d+) forward steps run again", RegexOptions.Multiline)]
    private static partial Regex SegmentLine();

    [GeneratedRegex(@"^//\s+\[\s*\d+\] .* \[(\d+), (\d+)\]$", RegexOptions.Multiline)]
    private static partial Regex BufferLine();

    [GeneratedRegex(@"^//   Arena (\d+) elements with \[Recompute\], (\d+) without", RegexOptions.Multiline)]
    private static partial Regex ArenaLine();

    private static long Parse(string s) => long.Parse(s, CultureInfo.InvariantCulture);

    [Fact]
    public void Each_segment_line_gives_its_activation_bytes()
    {
        var (_, diagnostics, run) = GeneratorHarness.Run(GeneratorHarness.Compile(Stack));
        Assert.DoesNotContain(diagnostics, d => d.Severity == Microsoft.CodeAnalysis.DiagnosticSeverity.Error);
        string text = GeneratorHarness.Generated(run)["Samples.Stacked.g.cs"];

        var segments = SegmentLine().Matches(text).Select(m => (Block: m.Groups[1].Value, Values: Parse(m.Groups[2].Value), Gradients: Parse(m.Groups[3].Value),
            Bytes: Parse(m.Groups[4].Value), Steps: Parse(m.Groups[5].Value))).ToList();
        Assert.Equal(new[] { "Blocks.0", "Blocks.1", "Blocks.2" }, segments.Select(s => s.Block));
        foreach (var s in segments)
        {
            Assert.True(s.Values > 0 && s.Gradients > 0 && s.Steps > 0, $"{s.Block}: {s.Values} + {s.Gradients}, {s.Steps} steps");
            Assert.Equal(4 * (s.Values + s.Gradients), s.Bytes);
            Assert.Equal((segments[0].Values, segments[0].Gradients, segments[0].Steps), (s.Values, s.Gradients, s.Steps)); // the blocks are alike
        }

        // The buffers the arena listing puts in each segment's shared region fit in the bytes its line reports.
        foreach (var s in segments)
        {
            string header = $"-- {s.Block}'s recomputed values and their gradients";
            int start = text.IndexOf(header, StringComparison.Ordinal);
            Assert.True(start >= 0, header);
            var lines = text.Substring(start).Split('\n').Skip(1).TakeWhile(l => !l.Contains("-- ", StringComparison.Ordinal) && l.StartsWith("//     [", StringComparison.Ordinal));
            long listed = lines.Select(l => BufferLine().Match(l)).Where(m => m.Success).Sum(m => 4 * Parse(m.Groups[1].Value) * Parse(m.Groups[2].Value));
            Assert.True(listed > 0 && listed <= s.Bytes, $"{s.Block}: {listed} bytes of buffers listed, {s.Bytes} reported");
        }

        // Three segments take turns in one segment's worth: the arena is at least two segments' elements smaller.
        var arena = ArenaLine().Match(text);
        Assert.True(arena.Success);
        long with = Parse(arena.Groups[1].Value), without = Parse(arena.Groups[2].Value);
        long perSegment = segments[0].Values + segments[0].Gradients;
        Assert.True(without - with >= 2 * perSegment, $"{with} elements with [Recompute], {without} without, {perSegment} per segment");
    }
}
