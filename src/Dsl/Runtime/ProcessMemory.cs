using System;
using System.Globalization;
using System.IO;

namespace Dsl.Runtime;

/// <summary>The process's memory as the samples and benchmarks report it beside a model's arena.</summary>
public static class ProcessMemory
{
    /// <summary>The peak resident set of this process in bytes (Linux's VmHWM), or −1 where /proc/self/status cannot be read.</summary>
    public static long PeakResidentBytes()
    {
        try
        {
            foreach (string line in File.ReadLines("/proc/self/status"))
            {
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                {
                    string[] parts = line[6..].Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries);
                    return long.TryParse(parts[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out long kib) ? kib * 1024 : -1;
                }
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }

        return -1;
    }

    /// <summary>"arena 45.0 MiB (47,185,920 bytes), peak RSS 86.3 MiB" for an arena of <paramref name="arenaBytes"/> bytes.</summary>
    public static string Describe(long arenaBytes)
    {
        long peak = PeakResidentBytes();
        string rss = peak < 0 ? "peak RSS unknown (no /proc/self/status)" : string.Create(CultureInfo.InvariantCulture, $"peak RSS {peak / 1048576.0:F1} MiB");
        return string.Create(CultureInfo.InvariantCulture, $"arena {arenaBytes / 1048576.0:F1} MiB ({arenaBytes:N0} bytes), {rss}");
    }
}
