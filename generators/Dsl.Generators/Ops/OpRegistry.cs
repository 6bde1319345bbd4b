using System;
using System.Collections.Generic;
using System.Linq;
using Dsl.Generators.Parsing;

namespace Dsl.Generators.Ops;

/// <summary>
/// Every op of the DSL. An op registers by being a concrete <see cref="Op"/> in this assembly: the registry
/// finds them once, orders them by name (so every lookup and every loop is deterministic) and indexes them
/// by name, by layer attribute and by Ops method. Adding an op is adding its type.
/// </summary>
internal static class OpRegistry
{
    private static readonly Lazy<Index> s_index = new(() => new Index());

    /// <summary>Every op, ordered by name.</summary>
    public static IReadOnlyList<Op> All => s_index.Value.All;

    /// <summary>The op named <paramref name="name"/>; an unknown name (never produced by the parser) is <see cref="Unknown"/>.</summary>
    public static Op Get(string name) => s_index.Value.ByName.TryGetValue(name, out var op) ? op : Unknown.Instance;

    /// <summary>The op named <paramref name="name"/> as <typeparamref name="T"/>, or null.</summary>
    public static T? Get<T>(string name) where T : Op => Get(name) as T;

    /// <summary>The op that takes the layer attribute <paramref name="attribute"/>, or null when none does.</summary>
    public static Op? ForAttribute(LayerReader attribute) =>
        s_index.Value.ByAttribute.TryGetValue(attribute.ClassName, out var ops) ? ops.FirstOrDefault(o => o.Claims(attribute)) : null;

    /// <summary>Whether some op is a layer attribute of that class name.</summary>
    public static bool IsLayerAttribute(string className) => s_index.Value.ByAttribute.ContainsKey(className);

    /// <summary>The op written as Ops.<paramref name="method"/> with <paramref name="arguments"/> arguments, or null.</summary>
    public static Op? ForMethod(string method, int arguments) =>
        s_index.Value.ByMethod.TryGetValue(method, out var ops) ? ops.FirstOrDefault(o => o.ClaimsCall(method, arguments)) : null;

    private sealed class Index
    {
        public Index()
        {
            All = typeof(Op).Assembly.GetTypes()
                .Where(t => !t.IsAbstract && typeof(Op).IsAssignableFrom(t) && t != typeof(Unknown) && t.GetConstructor(Type.EmptyTypes) is not null)
                .Select(t => (Op)Activator.CreateInstance(t)!)
                .OrderBy(o => o.Name, StringComparer.Ordinal)
                .ToList();
            foreach (var op in All)
            {
                ByName.Add(op.Name, op);
                if (op.Attribute is { } attribute) Add(ByAttribute, attribute, op);
                foreach (var method in op.Methods) Add(ByMethod, method, op);
            }
        }

        public List<Op> All { get; }
        public Dictionary<string, Op> ByName { get; } = new(StringComparer.Ordinal);
        public Dictionary<string, List<Op>> ByAttribute { get; } = new(StringComparer.Ordinal);
        public Dictionary<string, List<Op>> ByMethod { get; } = new(StringComparer.Ordinal);

        private static void Add(Dictionary<string, List<Op>> index, string key, Op op)
        {
            if (!index.TryGetValue(key, out var list)) index[key] = list = new List<Op>();
            list.Add(op);
        }
    }

    /// <summary>What an unknown name resolves to: an op with every default (nothing recognises it, so it never runs).</summary>
    private sealed class Unknown : Op
    {
        public static readonly Unknown Instance = new();

        public override string Name => "?";
    }
}
