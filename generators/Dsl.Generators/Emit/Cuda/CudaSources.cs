using System;
using System.IO;
using System.Linq;
using Dsl.Generators.Ops;

namespace Dsl.Generators.Emit.Cuda;

/// <summary>
/// The CUDA C that is written as real <c>.cu</c> files (embedded resources of the generator, named
/// <c>Dsl.Generators.Cuda.&lt;file&gt;</c>), so an editor and clang read them as CUDA, not as C# strings. A file opens
/// with a <c>//</c> comment about itself, which is not copied into the models' sources; its marker lines
/// (<c>/* DSL:NAME */</c>) are filled in at generation time.
/// </summary>
internal static class CudaSources
{
    /// <summary>Where the activation ops' device functions go in Prelude.cu.</summary>
    internal const string ActivationsMarker = "/* DSL:ACTIVATIONS */";

    private static readonly Lazy<string> s_prelude = new(() =>
    {
        string activations = string.Join("\n", OpRegistry.All.OfType<ActivationOp>().Select(a => a.CudaDevice.Trim('\n')).Where(t => t.Length > 0));
        return Read("Prelude.cu").Replace(ActivationsMarker, activations);
    });

    /// <summary>The fixed part of every model's source after its header: the three compilers' macros, the run-time
    /// arguments, the activations (each from its op) and the shared device helpers.</summary>
    public static string Prelude() => s_prelude.Value;

    /// <summary>The text of an embedded <c>.cu</c> file, '\n' newlines, without its opening <c>//</c> comment.</summary>
    /// <exception cref="InvalidOperationException">The resource is missing (a build bug; the emit boundary reports it as
    /// an internal error).</exception>
    public static string Read(string file)
    {
        string name = "Dsl.Generators.Cuda." + file;
        using var stream = typeof(CudaSources).Assembly.GetManifestResourceStream(name)
            ?? throw new InvalidOperationException($"the generator carries no embedded CUDA source '{name}'");
        using var reader = new StreamReader(stream);
        string text = reader.ReadToEnd().Replace("\r\n", "\n");
        int start = 0;
        while (start < text.Length && text.AsSpan(start).StartsWith("//".AsSpan(), StringComparison.Ordinal))
        {
            int end = text.IndexOf('\n', start);
            start = end < 0 ? text.Length : end + 1;
        }

        return text.Substring(start);
    }
}
