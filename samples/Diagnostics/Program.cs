using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using Dsl.Diagnostics;

// dotnet run --project samples/Diagnostics                  every case under Cases/, checked against its "// expect:" line
// dotnet run --project samples/Diagnostics -- FILE...       the DSL diagnostics of your own files (compiled together)
// dotnet run --project samples/Diagnostics -c Release -- time [FILE...] [--runs N]
//                                                            analyzer execution time (default: the largest sample model)
if (args.Length > 0 && args[0] is "-h" or "--help")
{
    Console.WriteLine("usage: Diagnostics                     run every case in Cases/ and check it fires its expected ids");
    Console.WriteLine("       Diagnostics FILE...             print the DSL diagnostics of FILEs (compiled together) and the fixes offered");
    Console.WriteLine("       Diagnostics time [FILE...] [--runs N]   time the analyzers (LogAnalyzerExecutionTime)");
    return 0;
}

if (args.Length > 0 && args[0] == "time") return Timing.Run(args.Skip(1).ToArray());

if (args.Length > 0)
{
    var files = args.Select(p => (Path.GetFullPath(p), File.ReadAllText(p))).ToList();
    var found = Runner.Report(files);
    foreach (var (diagnostic, fixes) in found) Runner.Print(Console.Out, diagnostic, fixes);
    Console.WriteLine($"{found.Count} diagnostic(s)");
    return found.Any(f => f.Diagnostic.Severity == Microsoft.CodeAnalysis.DiagnosticSeverity.Error) ? 1 : 0;
}

string cases = Path.Combine(AppContext.BaseDirectory, "Cases");
int failures = 0;
foreach (string path in Directory.GetFiles(cases, "*.cs").OrderBy(p => p, StringComparer.Ordinal))
{
    string text = File.ReadAllText(path);
    var expected = Regex.Match(text, @"^// expect: (.*)$", RegexOptions.Multiline).Groups[1].Value
        .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
    var found = Runner.Report(new List<(string, string)> { ("Cases/" + Path.GetFileName(path), text) });
    var missing = expected.Where(id => !found.Any(f => f.Diagnostic.Id == id)).ToList();
    Console.WriteLine($"== Cases/{Path.GetFileName(path)} (expects {string.Join(", ", expected)}){(missing.Count > 0 ? "  MISSING " + string.Join(", ", missing) : "")}");
    foreach (var (diagnostic, fixes) in found) Runner.Print(Console.Out, diagnostic, fixes);
    Console.WriteLine();
    if (missing.Count > 0) failures++;
}

Console.WriteLine(failures == 0 ? "every case fired its expected diagnostics" : $"{failures} case(s) did not fire what they expect");
return failures == 0 ? 0 : 1;
