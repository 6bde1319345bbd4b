using System;
using System.Collections.Generic;
using Dsl.Kernels;

namespace Dsl.Tests.Kernels;

/// <summary>Runs a generic check on the double and float instantiation of one activation.</summary>
public interface IActivationVisitor
{
    void Visit<TD, TF>(string name, TD d, TF f, double kink)
        where TD : struct, IActivation<double>
        where TF : struct, IActivation<float>;
}

/// <summary>The activations under test, by name, with the x where each is not differentiable (NaN: none).</summary>
public static class ActivationCases
{
    public static readonly string[] Names =
    [
        "Identity", "Relu", "GeluTanh", "GeluErf", "Silu", "Softplus",
        "SquarePlus", "SquarePlus(b=1)", "SquarePlus(b=0.01)", "Tanh", "Sigmoid",
    ];

    public static IEnumerable<object[]> All()
    {
        foreach (string name in Names)
        {
            yield return [name];
        }
    }

    public static void Visit(string name, IActivationVisitor visitor)
    {
        switch (name)
        {
            case "Identity": visitor.Visit(name, new Identity<double>(), new Identity<float>(), double.NaN); break;
            case "Relu": visitor.Visit(name, new Relu<double>(), new Relu<float>(), 0); break;
            case "GeluTanh": visitor.Visit(name, new GeluTanh<double>(), new GeluTanh<float>(), double.NaN); break;
            case "GeluErf": visitor.Visit(name, new GeluErf<double>(), new GeluErf<float>(), double.NaN); break;
            case "Silu": visitor.Visit(name, new Silu<double>(), new Silu<float>(), double.NaN); break;
            case "Softplus": visitor.Visit(name, new Softplus<double>(), new Softplus<float>(), double.NaN); break;
            case "SquarePlus": visitor.Visit(name, new SquarePlus<double>(), new SquarePlus<float>(), double.NaN); break;
            case "SquarePlus(b=1)": visitor.Visit(name, new SquarePlus<double>(1), new SquarePlus<float>(1), double.NaN); break;
            case "SquarePlus(b=0.01)": visitor.Visit(name, new SquarePlus<double>(0.01f), new SquarePlus<float>(0.01f), double.NaN); break;
            case "Tanh": visitor.Visit(name, new Tanh<double>(), new Tanh<float>(), double.NaN); break;
            case "Sigmoid": visitor.Visit(name, new Sigmoid<double>(), new Sigmoid<float>(), double.NaN); break;
            default: throw new ArgumentException($"unknown activation {name}", nameof(name));
        }
    }

    /// <summary>Lengths that exercise empty input, pure scalar tails, whole vectors and vectors plus tails.</summary>
    public static IEnumerable<int> Lengths()
    {
        for (int n = 0; n <= 40; n++)
        {
            yield return n;
        }

        yield return 255;
        yield return 256;
        yield return 301;
    }

    /// <summary>The gradient-check metric of SEEDS.md §3: |a − n| / max(|a|, |n|, 1e-8).</summary>
    public static double RelativeError(double a, double n) =>
        Math.Abs(a - n) / Math.Max(Math.Max(Math.Abs(a), Math.Abs(n)), 1e-8);
}
