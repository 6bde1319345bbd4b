using System.Collections.Generic;
using System.Text;
using Dsl.Generators.Planning;
using static Dsl.Generators.Emit.Literals;

namespace Dsl.Generators.Emit;

/// <summary>
/// The names generated code gives the arena's offsets, as llm.c names its tensors: one <c>const int</c> per parameter
/// (<c>Hidden_W</c>), parameter gradient (<c>Hidden_dW</c>) and buffer (<c>Hidden_Y</c>, <c>Hidden_dY</c>,
/// <c>Norm_Rstd</c>), derived from the plan's names in one linear pass over the layout (so unique and deterministic).
/// <see cref="At"/> spells an offset by its name (an offset inside a tensor as <c>Name + k</c>) and remembers it, so
/// the engine declares only the names its code reads.
/// </summary>
internal sealed class ArenaNames
{
    private readonly List<Entry> _entries = new();
    private readonly HashSet<int> _used = new();
    private readonly string _qualifier;

    /// <param name="plan">The plan whose layout is named.</param>
    /// <param name="qualifier">What precedes a name where it is read ("" inside the class that declares the names).</param>
    /// <param name="declareInput">Declare the input rows' name too (the engine has <c>InputOffset</c> already).</param>
    public ArenaNames(ModelPlan plan, string qualifier = "", bool declareInput = false)
    {
        _qualifier = qualifier;
        var taken = new HashSet<string>(System.StringComparer.Ordinal);
        var rawEntries = new List<(int Offset, int Length, string Name, string What, string Owner)>();
        foreach (var p in plan.Parameters)
        {
            var (path, role) = ParameterName(p.Name);
            string shape = $"{p.Name} [{Int(p.Rows)}, {Int(p.Columns)}]";
            rawEntries.Add((p.Offset, p.Rows * p.Columns, path + "_" + role, shape, p.Layer));
            rawEntries.Add((plan.GradientOffset + p.Offset, p.Rows * p.Columns, path + "_d" + role, "∂loss/∂" + shape, p.Layer));
        }

        var labels = LabelUses(plan);
        var layers = new HashSet<string>(System.StringComparer.Ordinal);
        foreach (var layer in plan.Model.Layers) layers.Add(layer.Path);
        foreach (var b in plan.Buffers)
        {
            string what = $"{b.Name} [{Int(b.Rows)}, {Int(b.Columns)}]";
            string name = b.Offset == plan.InputOffset && b.Name == "input" ? (declareInput ? "Input" : "InputOffset") : BufferName(b.Name, labels, layers);
            rawEntries.Add((b.Offset, b.Rows * b.Columns, name, what, TryLabel(b.Name, out _, out string owner, out _, out _) ? owner : ""));
        }

        foreach (var (offset, length, name, what, owner) in rawEntries)
        {
            if (length <= 0) continue; // an empty buffer shares its offset with the next one
            string unique = name;
            for (int k = 2; !taken.Add(unique); k++) unique = name + "_" + Int(k);
            _entries.Add(new Entry(offset, length, unique, what, Declared: unique != "InputOffset", owner, _entries.Count));
        }

        // Stable: by offset, then in the order laid out.
        _entries.Sort((x, y) => x.Offset != y.Offset ? x.Offset.CompareTo(y.Offset) : x.Order.CompareTo(y.Order));
        for (int i = 1; i < _entries.Count; i++)
        {
            var before = _entries[i - 1];
            _longest = System.Math.Max(_longest, before.Length);
            if (_entries[i].Offset < before.Offset + before.Length) _aliased = true;
        }

        if (_entries.Count > 0) _longest = System.Math.Max(_longest, _entries[_entries.Count - 1].Length);
    }

    // [Recompute] segments share one segment's worth of arena: there several buffers hold an offset, and the one the
    // reading step's layer owns is meant.
    private readonly bool _aliased;
    private readonly int _longest;

    /// <summary>A named offset: where, how long, the identifier, what it holds (for the declaration's comment), the
    /// layer (or node label) that owns it, its place in the layout.</summary>
    private sealed record Entry(int Offset, int Length, string Name, string What, bool Declared, string Owner, int Order);

    /// <summary>The offset as generated code spells it: its name, <c>Name + k</c> inside a named tensor, else the number
    /// (−1, the absent buffer, stays −1). Where buffers share the offset (a [Recompute] region), the one whose owner
    /// shares the longest path with <paramref name="context"/> (the reading step's layer) names it.</summary>
    public string At(int offset, string context = "")
    {
        int i = Find(offset);
        if (i >= 0 && _aliased) i = Owned(i, offset, context);
        if (i < 0) return Int(offset);
        _used.Add(i);
        var e = _entries[i];
        return offset == e.Offset ? _qualifier + e.Name : $"{_qualifier}{e.Name} + {Int(offset - e.Offset)}";
    }

    /// <summary>Whether any name was read.</summary>
    public bool Any => _used.Count > 0;

    /// <summary>Whether the code calls the engine's slice helper (<see cref="CpuWriter.Span"/>), which is then declared.</summary>
    public bool SliceUsed { get; set; }

    /// <summary>The declarations of the names read so far, in arena order: "private const int Hidden_W = 0; // …".</summary>
    public IEnumerable<string> Declarations()
    {
        for (int i = 0; i < _entries.Count; i++)
        {
            var e = _entries[i];
            if (_used.Contains(i) && e.Declared) yield return $"{(_qualifier.Length > 0 ? "public" : "private")} const int {e.Name} = {Int(e.Offset)}; // {e.What}";
        }
    }

    private int Find(int offset)
    {
        if (offset < 0) return -1;
        int lo = 0, hi = _entries.Count - 1, found = -1;
        while (lo <= hi)
        {
            int mid = (lo + hi) / 2;
            if (_entries[mid].Offset <= offset)
            {
                found = mid;
                lo = mid + 1;
            }
            else
            {
                hi = mid - 1;
            }
        }

        return found >= 0 && offset < _entries[found].Offset + _entries[found].Length ? found : -1;
    }

    /// <summary>Among the entries that hold <paramref name="offset"/> (<paramref name="found"/> is the last to start at or
    /// before it), the one owned closest to <paramref name="context"/>; the first laid out on a tie.</summary>
    private int Owned(int found, int offset, string context)
    {
        int best = found, bestScore = -1;
        for (int k = found; k >= 0 && (long)_entries[k].Offset + _longest > offset; k--)
        {
            var e = _entries[k];
            if (offset >= e.Offset + e.Length) continue;
            int score = SharedSegments(e.Owner, context);
            if (score > bestScore || (score == bestScore && e.Order < _entries[best].Order))
            {
                best = k;
                bestScore = score;
            }
        }

        return best;
    }

    /// <summary>How many leading '.'-separated segments two layer paths share ("Blocks.3.Up", "Blocks.3.Norm2": 2).</summary>
    private static int SharedSegments(string a, string b)
    {
        if (a.Length == 0 || b.Length == 0) return 0;
        string[] x = a.Split('.'), y = b.Split('.');
        int n = 0;
        while (n < x.Length && n < y.Length && string.Equals(x[n], y[n], System.StringComparison.Ordinal)) n++;
        return n;
    }

    // ---- names --------------------------------------------------------------------------------------

    /// <summary>"Blocks.0.Attend.query.weight" → ("Blocks0_Attend_Query", "W"); bias → "B", others in Pascal case.</summary>
    private static (string Path, string Role) ParameterName(string name)
    {
        int dot = name.LastIndexOf('.');
        string last = dot >= 0 ? name.Substring(dot + 1) : name;
        string role = last switch { "weight" => "W", "bias" => "B", _ => Pascal(last) };
        return (dot >= 0 ? Path(name.Substring(0, dot)) : "Model", role.Length > 0 ? role : "P");
    }

    /// <summary>How many value buffers each label prefix ("Hidden" of "Hidden#1") names: a layer used once keeps no id.</summary>
    private static Dictionary<string, HashSet<string>> LabelUses(ModelPlan plan)
    {
        var uses = new Dictionary<string, HashSet<string>>(System.StringComparer.Ordinal);
        foreach (var b in plan.Buffers)
        {
            if (!TryLabel(b.Name, out _, out string prefix, out string id, out _)) continue;
            if (!uses.TryGetValue(prefix, out var ids)) uses[prefix] = ids = new HashSet<string>(System.StringComparer.Ordinal);
            ids.Add(id);
        }

        return uses;
    }

    /// <summary>"∂loss/∂Hidden#1 (pre-activation)" → gradient, "Hidden", "1", "(pre-activation)".</summary>
    private static bool TryLabel(string name, out bool gradient, out string prefix, out string id, out string suffix)
    {
        const string Grad = "∂loss/∂";
        gradient = name.StartsWith(Grad, System.StringComparison.Ordinal);
        string rest = gradient ? name.Substring(Grad.Length) : name;
        int hash = rest.IndexOf('#');
        int space = rest.IndexOf(' ');
        prefix = id = suffix = "";
        if (hash <= 0 || (space >= 0 && space < hash)) return false;
        int end = hash + 1;
        while (end < rest.Length && char.IsDigit(rest[end])) end++;
        if (end == hash + 1 || (end < rest.Length && rest[end] != ' ')) return false;
        prefix = rest.Substring(0, hash);
        id = rest.Substring(hash + 1, end - hash - 1);
        suffix = end < rest.Length ? rest.Substring(end + 1) : "";
        return true;
    }

    private static string BufferName(string name, Dictionary<string, HashSet<string>> labels, HashSet<string> layers)
    {
        if (TryLabel(name, out bool gradient, out string prefix, out string id, out string suffix))
        {
            string node = Path(prefix);
            // A layer's only node is the layer; an op's nodes and a shared layer's uses keep their ids.
            if (!layers.Contains(prefix) || labels[prefix].Count > 1) node += char.IsDigit(node[node.Length - 1]) ? "_" + id : id;
            string role = suffix switch
            {
                "" => "Y",
                "(pre-activation)" => "Z",
                "mean" => "Mean",
                "1/σ" or "1/rms" => "Rstd",
                "q|k|v" => "Qkv",
                "heads" => "Heads",
                "row statistics" => "Stats",
                "RoPE cos|sin" => "Rope",
                _ => Pascal(suffix),
            };
            return node + "_" + (gradient ? "d" : "") + (role.Length > 0 ? role : "Y");
        }

        // Not a node's buffer ("FGM clean gradients", "Hidden spectral u"): its first word, then the rest.
        int space = name.IndexOf(' ');
        string head = Path(space > 0 ? name.Substring(0, space) : name);
        string tail = space > 0 ? Pascal(name.Substring(space + 1)) : "";
        return head + "_" + (tail.Length > 0 ? tail : "Buffer");
    }

    /// <summary>A layer path as an identifier: segments joined by '_', an index glued to the segment before it
    /// ("Blocks.0.Norm1" → "Blocks0_Norm1"); starts with a letter.</summary>
    private static string Path(string path)
    {
        var sb = new StringBuilder();
        foreach (string segment in path.Split('.'))
        {
            string s = Pascal(segment);
            if (s.Length == 0) continue;
            if (sb.Length > 0 && !char.IsDigit(s[0])) sb.Append('_');
            sb.Append(s);
        }

        if (sb.Length == 0 || !char.IsLetter(sb[0])) sb.Insert(0, "N");
        return sb.ToString();
    }

    /// <summary>Words in Pascal case, letters and digits only ("pre_mix" → "PreMix", "W/σ" → "WOverSigma").</summary>
    private static string Pascal(string text)
    {
        var sb = new StringBuilder();
        bool start = true;
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            string? word = c switch { 'σ' => "Sigma", '/' => "Over", '∂' => "d", '|' => "", _ => null };
            if (word is not null)
            {
                sb.Append(word);
                start = true;
                continue;
            }

            if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
            {
                sb.Append(start ? char.ToUpperInvariant(c) : c);
                start = false;
            }
            else
            {
                start = true;
            }
        }

        return sb.ToString();
    }
}
