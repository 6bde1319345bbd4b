using Xunit;

namespace Dsl.Tests;

/// <summary>The allocation check itself: a step that allocates fails it in every window, one that does not passes.</summary>
public sealed class AllocationsTests
{
    private static object? s_sink;

    [Fact]
    public void A_step_that_allocates_is_seen_in_every_window()
    {
        var (caller, helpers) = Allocations.PerWindow(() => s_sink = new byte[8], 10);
        Assert.True(caller >= 10 * 32, $"caller {caller}");
        Assert.Equal(0, helpers);
    }

    [Fact]
    public void A_step_that_does_not_allocate_measures_zero()
    {
        int[] values = new int[16];
        var (caller, helpers) = Allocations.PerWindow(() => values[3]++, 10);
        Assert.Equal(0, caller);
        Assert.Equal(0, helpers);
    }
}
