using Dsl.Cuda;
using Dsl.Cuda.Interop;
using Xunit;

namespace Dsl.Cuda.Tests;

/// <summary>A fact that needs a GPU: skipped, with the reason the runtime gives, when none can be used.</summary>
public sealed class GpuFactAttribute : FactAttribute
{
    /// <summary>Sets <see cref="FactAttribute.Skip"/> when no GPU is usable.</summary>
    public GpuFactAttribute()
    {
        if (Gpu.Unavailable is { } reason) Skip = "no GPU: " + reason;
    }
}

/// <summary>Probes once whether a GPU can run programs.</summary>
internal static class Gpu
{
    /// <summary>Null when a GPU is usable, else why not.</summary>
    public static readonly string? Unavailable = Probe();

    private static string? Probe()
    {
        try
        {
            CudaSession.RequireAvailable();
            return null;
        }
        catch (CudaUnavailableException e)
        {
            return e.Message;
        }
    }
}
