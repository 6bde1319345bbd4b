using System;
using Dsl.Optimizers;
using Xunit;

namespace Dsl.Tests.Optimizers;

public sealed class LearningRateScheduleTests
{
    [Theory]
    // nanoGPT's get_lr(it) for warmup_iters = 100, lr_decay_iters = 2000, learning_rate = 1e-3,
    // min_lr = 1e-4 (the shakespeare_char configuration), evaluated in CPython 3.
    [InlineData(0, 9.900990099009901e-06)]
    [InlineData(1, 1.9801980198019803e-05)]
    [InlineData(50, 0.000504950495049505)]
    [InlineData(99, 0.0009900990099009901)]
    [InlineData(100, 0.001)]
    [InlineData(101, 0.0009999993848585915)]
    [InlineData(500, 0.0009051132292283772)]
    [InlineData(1050, 0.00055)]
    [InlineData(1999, 0.00010000061514140841)]
    [InlineData(2000, 0.0001)]
    [InlineData(2001, 0.0001)]
    [InlineData(5000, 0.0001)]
    public void WarmupCosine_matches_nanoGPT_get_lr(long step, double expected)
    {
        double actual = LearningRateSchedule.WarmupCosine(step, 100, 2000, 1e-3, 1e-4);
        Assert.True(Math.Abs(actual - expected) <= 1e-15 * expected, $"step {step}: expected {expected:R}, got {actual:R}");
    }

    [Theory]
    [InlineData(0, 1e-3 / 101)]
    [InlineData(99, 1e-3 * 100 / 101)]
    [InlineData(100, 1e-3)]
    [InlineData(575, 7.75e-4)]   // a quarter of the way: 1e-3 − 0.25·9e-4
    [InlineData(1050, 5.5e-4)]
    [InlineData(1525, 3.25e-4)]
    [InlineData(2000, 1e-4)]
    [InlineData(3000, 1e-4)]
    public void WarmupLinear_interpolates_from_peak_to_floor(long step, double expected)
    {
        double actual = LearningRateSchedule.WarmupLinear(step, 100, 2000, 1e-3, 1e-4);
        Assert.True(Math.Abs(actual - expected) <= 1e-15, $"step {step}: expected {expected:R}, got {actual:R}");
    }

    [Fact]
    public void Schedules_without_warmup_or_decay_are_well_defined()
    {
        Assert.Equal(0.5, LearningRateSchedule.WarmupCosine(0, 0, 10, 0.5, 0.1));
        Assert.Equal(0.5, LearningRateSchedule.WarmupLinear(0, 0, 10, 0.5, 0.1));
        // decaySteps = warmupSteps: warm-up, then straight to the floor (no 0/0).
        Assert.Equal(0.1, LearningRateSchedule.WarmupCosine(10, 10, 10, 0.5, 0.1));
        Assert.Equal(0.1, LearningRateSchedule.WarmupLinear(10, 10, 10, 0.5, 0.1));
        Assert.Equal(0.5 * 10 / 11, LearningRateSchedule.WarmupCosine(9, 10, 10, 0.5, 0.1));

        // The cosine is monotone between warm-up and floor.
        double previous = double.PositiveInfinity;
        for (long step = 100; step <= 2000; step++)
        {
            double lr = LearningRateSchedule.WarmupCosine(step, 100, 2000, 1e-3, 1e-4);
            Assert.True(lr <= previous && lr >= 1e-4, $"step {step}: {lr:R} after {previous:R}");
            previous = lr;
        }
    }

    [Fact]
    public void Bad_arguments_are_rejected_naming_the_values()
    {
        Assert.StartsWith("step must be non-negative, was -1.",
            Assert.Throws<ArgumentOutOfRangeException>(() => LearningRateSchedule.WarmupCosine(-1, 100, 2000, 1e-3, 1e-4)).Message);
        Assert.StartsWith("warmupSteps must be non-negative, was -5.",
            Assert.Throws<ArgumentOutOfRangeException>(() => LearningRateSchedule.WarmupLinear(0, -5, 2000, 1e-3, 1e-4)).Message);
        Assert.StartsWith("decaySteps must be at least warmupSteps (100), was 50.",
            Assert.Throws<ArgumentOutOfRangeException>(() => LearningRateSchedule.WarmupCosine(0, 100, 50, 1e-3, 1e-4)).Message);
        Assert.StartsWith("peak must be non-negative and finite, was NaN.",
            Assert.Throws<ArgumentOutOfRangeException>(() => LearningRateSchedule.WarmupCosine(0, 100, 2000, double.NaN, 1e-4)).Message);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => LearningRateSchedule.WarmupLinear(0, 100, 2000, 1e-3, -1e-4));
        Assert.Equal("floor", e.ParamName);
        Assert.StartsWith("floor must be non-negative and finite, was -0.0001.", e.Message);
    }
}
