using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using Dsl.Mpi.Worker;
using Dsl.Tests.IO;
using Xunit;

namespace Dsl.Tests.Distributed;

/// <summary>
/// Data parallelism for real: tests/Dsl.Mpi.Worker started as two Open MPI ranks with <c>mpirun -np 2</c>, each on
/// one thread, against the same program alone (one process, one thread, the whole global batch). The losses of
/// every step and the final parameters must agree to 1e-5; the only difference is the order of floating-point
/// sums (each rank sums its rows, then MPI sums the ranks), so they are not bitwise equal. Faults: a rank killed,
/// hung or throwing makes the job stop with a message naming it, within a bound, and rank 0's last checkpoint
/// stays whole. Needs Open MPI (openmpi-bin; .ci/run installs it).
/// </summary>
public sealed class MpiTests
{
    private static readonly string s_worker = Path.Combine(AppContext.BaseDirectory, "Dsl.Mpi.Worker.dll");

    [Theory]
    [InlineData("mlp", 15, true)]   // uneven shards (8 and 7 examples), dropout by global row
    [InlineData("mlp", 16, false)]  // one blocking reduction after the backward
    [InlineData("gpt", 6, true)]    // CharGpt's shape: attention, LayerNorms, tied head, positions
    public void Two_ranks_train_as_one_process_does(string model, int batch, bool overlap)
    {
        using var dir = new TempDirectory();
        string common = $"--model {model} --steps 12 --batch {batch} --overlap {(overlap ? "true" : "false")}";
        var one = RunWorker(1, $"{common} --out {Path.Combine(dir.Path, "one.txt")}");
        Assert.True(one.ExitCode == 0, one.Output);
        var two = RunWorker(2, $"{common} --out {Path.Combine(dir.Path, "two.txt")}");
        Assert.True(two.ExitCode == 0, two.Output);

        var reference = Result.Read(Path.Combine(dir.Path, "one.txt"));
        var ranks = Result.Read(Path.Combine(dir.Path, "two.txt"));
        Assert.Contains("ranks 1 transport one process", reference.Header);
        Assert.Contains("ranks 2 transport Open MPI", ranks.Header);
        Assert.Equal(12, reference.Losses.Count);
        Assert.Equal(reference.Losses.Count, ranks.Losses.Count);
        for (int s = 0; s < reference.Losses.Count; s++)
        {
            double relative = Math.Abs(ranks.Losses[s] - reference.Losses[s]) / Math.Abs(reference.Losses[s]);
            Assert.True(relative <= 1e-5, $"step {s}: one process {reference.Losses[s]:R}, two ranks {ranks.Losses[s]:R} (relative {relative:E2})");
        }

        // Training moved the parameters, so agreement is not the initial values agreeing.
        Assert.True(reference.Losses[^1] < reference.Losses[0], $"loss {reference.Losses[0]} → {reference.Losses[^1]}");
        AssertClose(reference.Parameters["final"], ranks.Parameters["final"], 1e-5);
        Assert.Contains("steps 12 ", ranks.Statistics); // every step reduced its gradients
    }

    [Fact]
    public void A_data_parallel_step_over_mpi_allocates_nothing_on_any_rank()
    {
        using var dir = new TempDirectory();
        string path = Path.Combine(dir.Path, "two.txt");
        var run = RunWorker(2, $"--model mlp --steps 50 --allocations-from 20 --out {path}");
        Assert.True(run.ExitCode == 0, run.Output);
        var result = Result.Read(path);
        Assert.Equal("allocated 0", result.Allocated);
    }

    [Fact]
    public void A_killed_rank_stops_the_job_naming_it_and_the_last_checkpoint_is_whole()
    {
        using var dir = new TempDirectory();
        string checkpoint = Path.Combine(dir.Path, "mlp.safetensors");
        // One process, for the parameters after 6 steps.
        var reference = RunWorker(1, $"--model mlp --steps 6 --dump-at 6 --out {Path.Combine(dir.Path, "one.txt")}");
        Assert.True(reference.ExitCode == 0, reference.Output);
        // Rank 0 checkpoints every 3 steps; rank 1 is killed (SIGKILL) at the start of step 7 (index 6).
        var clock = Stopwatch.StartNew();
        var run = RunWorker(2, $"--model mlp --steps 12 --checkpoint {checkpoint} --every 3 --die-rank 1 --die-at 6 --die-mode kill --timeout 20");
        clock.Stop();
        Assert.NotEqual(0, run.ExitCode);
        Assert.Contains("rank 1", run.Output);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(45), $"the job took {clock.Elapsed.TotalSeconds:F1} s to stop");

        // Rank 0 could not finish step 7 without rank 1, so its last checkpoint is the one after step 6.
        var model = new DdpMlp();
        model.Load(checkpoint);
        var expected = Result.Read(Path.Combine(dir.Path, "one.txt")).Parameters["at"];
        AssertClose(expected, model.Compiled.Parameters.ToArray(), 1e-5);
        Assert.Equal(new[] { "mlp.safetensors" }, Directory.GetFiles(dir.Path).Select(Path.GetFileName).Where(n => n!.StartsWith("mlp", StringComparison.Ordinal)).ToArray());
    }

    [Fact]
    public void A_hung_rank_makes_the_others_time_out_instead_of_waiting_forever()
    {
        var clock = Stopwatch.StartNew();
        var run = RunWorker(2, "--model mlp --steps 12 --die-rank 1 --die-at 3 --die-mode hang --timeout 3");
        clock.Stop();
        Assert.NotEqual(0, run.ExitCode);
        Assert.Contains("rank 0 of 2: failed with an unhandled exception", run.Output);
        Assert.Contains("did not complete within 3 s", run.Output);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(45), $"the job took {clock.Elapsed.TotalSeconds:F1} s to stop");
    }

    [Fact]
    public void A_rank_that_throws_stops_every_rank_with_its_number_and_message()
    {
        var run = RunWorker(2, "--model gpt --steps 12 --die-rank 1 --die-at 2 --die-mode throw --timeout 20");
        Assert.NotEqual(0, run.ExitCode);
        Assert.Contains("rank 1 of 2: failed with an unhandled exception", run.Output);
        Assert.Contains("rank 1 was told to fail at step 2", run.Output);
    }

    private static void AssertClose(IReadOnlyList<float> expected, IReadOnlyList<float> actual, double tolerance)
    {
        Assert.Equal(expected.Count, actual.Count);
        for (int i = 0; i < expected.Count; i++)
        {
            double scale = Math.Max(1, Math.Abs(expected[i]));
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tolerance * scale, $"parameter {i}: one process {expected[i]:R}, two ranks {actual[i]:R}");
        }
    }

    /// <summary>Runs the worker alone (<paramref name="ranks"/> = 1) or under <c>mpirun -np ranks</c>; kills it after
    /// two minutes.</summary>
    private static (int ExitCode, string Output) RunWorker(int ranks, string arguments)
    {
        string dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet";
        ProcessStartInfo info;
        if (ranks == 1)
        {
            info = new ProcessStartInfo(dotnet, $"\"{s_worker}\" {arguments}");
        }
        else
        {
            string mpirun = FindMpirun();
            // Oversubscribe: the ranks may outnumber the cores; CI runs as root, which Open MPI refuses unless told.
            string root = Environment.UserName == "root" ? "--allow-run-as-root " : "";
            info = new ProcessStartInfo(mpirun, $"-np {ranks} --oversubscribe {root}\"{dotnet}\" \"{s_worker}\" {arguments}");
        }

        info.RedirectStandardOutput = info.RedirectStandardError = true;
        info.UseShellExecute = false;
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {info.FileName}");
        var output = new StringBuilder();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (!process.WaitForExit(TimeSpan.FromMinutes(2)))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
            throw new TimeoutException($"{info.FileName} {info.Arguments} did not finish in 2 minutes:\n{output}");
        }

        process.WaitForExit(); // drains the redirected streams
        lock (output) return (process.ExitCode, output.ToString());
    }

    private static string FindMpirun()
    {
        foreach (string dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = Path.Combine(dir, "mpirun");
            if (File.Exists(candidate)) return candidate;
        }

        throw new InvalidOperationException("mpirun is not installed: the data-parallel tests need Open MPI (sudo apt-get install openmpi-bin libopenmpi-dev; .ci/run installs it).");
    }

    /// <summary>What rank 0 of the worker wrote: a header line, "loss step value" lines, "parameters label n" blocks of
    /// float bits in hex, and "allocated"/"reduce" lines.</summary>
    private sealed record Result(string Header, List<double> Losses, Dictionary<string, float[]> Parameters, string Allocated, string Statistics)
    {
        public static Result Read(string path)
        {
            string[] lines = File.ReadAllLines(path);
            var losses = new List<double>();
            var parameters = new Dictionary<string, float[]>(StringComparer.Ordinal);
            string allocated = "", statistics = "";
            for (int i = 1; i < lines.Length; i++)
            {
                string[] t = lines[i].Split(' ');
                switch (t[0])
                {
                    case "loss": losses.Add(double.Parse(t[2], CultureInfo.InvariantCulture)); break;
                    case "allocated": allocated = lines[i]; break;
                    case "reduce": statistics = lines[i]; break;
                    case "parameters":
                    {
                        int n = int.Parse(t[2], CultureInfo.InvariantCulture);
                        var values = new float[n];
                        for (int k = 0; k < n; k++) values[k] = BitConverter.Int32BitsToSingle(int.Parse(lines[i + 1 + k], NumberStyles.HexNumber, CultureInfo.InvariantCulture));
                        parameters[t[1]] = values;
                        i += n;
                        break;
                    }
                }
            }

            return new Result(lines[0], losses, parameters, allocated, statistics);
        }
    }
}
