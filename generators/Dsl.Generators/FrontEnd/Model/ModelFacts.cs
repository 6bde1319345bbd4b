using System.Collections.Generic;
using Dsl.Generators.Diagnostics;

namespace Dsl.Generators.Model;

/// <summary>One block of a [Repeat] stack as the forward applies it: the value it reads and the one it
/// returns (every block must keep the width), and where the loop is written.</summary>
/// <param name="Input">The node the block reads.</param>
/// <param name="Output">The node it returns.</param>
/// <param name="Block">The block's path ("Blocks.2").</param>
/// <param name="Site">The foreach's collection expression.</param>
internal sealed record RepeatBoundary(int Input, int Output, string Block, Site Site);

/// <summary>What the checks need from a parse beyond the <see cref="ModelSpec"/> itself: the [Repeat]
/// boundaries and where each target parameter of the [Loss] method is declared. Symbol-free, like the spec.</summary>
/// <param name="Repeats">Every block application of every [Repeat] stack.</param>
/// <param name="TargetSites">Target parameter name → its declaration.</param>
internal sealed record ModelFacts(IReadOnlyList<RepeatBoundary> Repeats, IReadOnlyDictionary<string, Site> TargetSites)
{
    /// <summary>The model uses a [Module] type the generator cannot complete (not partial, generic or static: no
    /// binding constructor); the module's own diagnostic says why, and the model is emitted as stubs.</summary>
    public bool UsesIncompleteModule { get; init; }

    /// <summary>Module property → its [Recompute] attribute (on the property or on the module type).</summary>
    public IReadOnlyDictionary<string, Site> RecomputeSites { get; init; } = new Dictionary<string, Site>(System.StringComparer.Ordinal);

    /// <summary>A [Recompute] on the [Model] class itself (it saves nothing), or null.</summary>
    public Site? RecomputeOnModel { get; init; }

    /// <summary>No repeats, no targets.</summary>
    public static ModelFacts None { get; } = new(new List<RepeatBoundary>(), new Dictionary<string, Site>(System.StringComparer.Ordinal));
}
