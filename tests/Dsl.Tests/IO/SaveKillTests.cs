using System;
using System.Diagnostics;
using System.IO;
using Dsl.IO;
using Xunit;

namespace Dsl.Tests.IO;

/// <summary>A save killed before its rename leaves a temporary file; the next save of the same path
/// removes it, and never a file a live writer still holds.</summary>
public sealed class SaveKillTests
{
    [Fact]
    public void A_save_killed_mid_write_leaves_a_temporary_file_that_the_next_save_of_the_path_removes()
    {
        using var dir = new TempDirectory();
        string path = dir.File("model.safetensors");
        SafeTensors.Write(path, new[] { new SafeTensor("old", new[] { 2 }, new float[] { 1, 2 }) });
        string worker = Path.Combine(AppContext.BaseDirectory, "Dsl.SaveWorker.dll");
        Assert.True(File.Exists(worker), $"{worker} is missing");
        for (int kill = 0; kill < 3; kill++)
        {
            var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, UseShellExecute = false };
            start.ArgumentList.Add(worker);
            start.ArgumentList.Add(path);
            using var process = Process.Start(start)!;
            string? line = process.StandardOutput.ReadLine();
            Assert.Equal("inside", line);
            process.Kill(); // SIGKILL: no finally block, no cleanup runs
            process.WaitForExit();

            // The killed save left its partly written temporary file (the previous kill's was removed
            // by this save when it started), and the old file is intact.
            var left = Directory.GetFiles(dir.Path, "model.safetensors.tmp-*");
            Assert.Single(left);
            Assert.True(new FileInfo(left[0]).Length > 1024 * 256 * 4, "the first tensor was written");
            Assert.Equal(new float[] { 1, 2 }, SafeTensors.Read(path)["old"].Data);
        }

        SafeTensors.Write(path, new[] { new SafeTensor("new", new[] { 1 }, new float[] { 3 }) });
        Assert.Empty(Directory.GetFiles(dir.Path, "*.tmp-*"));
        Assert.Equal(new float[] { 3 }, SafeTensors.Read(path)["new"].Data);
    }

    [Fact]
    public void The_cleanup_leaves_a_temporary_file_that_a_live_writer_holds_and_other_paths_files()
    {
        using var dir = new TempDirectory();
        string path = dir.File("a.safetensors");
        string live = path + ".tmp-0123456789abcdef", other = dir.File("b.safetensors.tmp-0000000000000000"), stale = path + ".tmp-feedfacefeedface";
        File.WriteAllText(stale, "left by a killed save");
        File.WriteAllText(other, "another path's");
        using (var held = new FileStream(live, FileMode.CreateNew, FileAccess.Write, FileShare.Delete))
        {
            // Held the way a writer holds its temporary file until its rename.
            SafeTensors.Write(path, new[] { new SafeTensor("x", new[] { 1 }, new float[] { 1 }) });
            Assert.True(File.Exists(live));
        }

        Assert.False(File.Exists(stale));
        Assert.True(File.Exists(other));
    }
}
