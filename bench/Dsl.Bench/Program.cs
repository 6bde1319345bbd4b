using System;
using System.Runtime.Intrinsics;
using Dsl.Bench;

// Entry point: one subcommand per benchmark family; add new ones to the switch.
return args.Length == 0 ? Usage() : args[0] switch
{
    "gemm" => GemmBench.Run(args.AsSpan(1)),
    "mlp" => MlpBench.Run(args.AsSpan(1)),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("usage: Dsl.Bench <command> [options]");
    Console.Error.WriteLine("  gemm [--runs N] [--double] [--only TEXT]   matrix products of an MLP 784-1024-1024-10 at batch 128, 1 and 2 threads");
    Console.Error.WriteLine("  mlp [--steps N] [--python PATH]             whole TrainStep of the MLP vs PyTorch 1.13, batch 128/16, 1 and 2 threads");
    Console.Error.WriteLine($"  (Vector512 accelerated: {Vector512.IsHardwareAccelerated}; set DOTNET_EnableAVX512F=0 to measure the AVX2 kernel)");
    return 2;
}
