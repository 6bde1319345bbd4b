using System.Collections.Generic;
using Dsl.Generators.Diagnostics;
using Dsl.Generators.Model;
using Microsoft.CodeAnalysis;

namespace Dsl.Generators.Rules;

/// <summary>What an op's rule hook reads and writes: the checked model, each node's consumers, and the findings.</summary>
internal sealed class RuleContext
{
    private readonly List<Finding> _sink;

    public RuleContext(ModelSpec model, List<Finding> sink)
    {
        Model = model;
        _sink = sink;
        Consumers = new List<int>[model.Nodes.Count];
        for (int i = 0; i < Consumers.Length; i++) Consumers[i] = new List<int>();
        foreach (var node in model.Nodes)
            foreach (int input in node.Inputs)
                if (input >= 0 && input < Consumers.Length) Consumers[input].Add(node.Id);
    }

    /// <summary>Relative tolerance for "this constant equals that formula" (SEEDS NNS012: 1%).</summary>
    public const double Tolerance = 0.01;

    /// <summary>The model.</summary>
    public ModelSpec Model { get; }

    /// <summary>Node id → the nodes that read it.</summary>
    public List<int>[] Consumers { get; }

    /// <summary>Adds a finding.</summary>
    public void Report(DiagnosticDescriptor descriptor, Site site, params object?[] arguments) => _sink.Add(new Finding(descriptor, site, arguments));

    /// <summary>Whether <paramref name="value"/> is within <see cref="Tolerance"/> of <paramref name="expected"/>.</summary>
    public static bool Near(double value, double expected) => RuleValues.Near(value, expected, Tolerance);
}
