using System;
using System.Runtime.Intrinsics;
using Dsl.Bench;

// Entry point: one subcommand per benchmark family; add new ones to the switch.
return args.Length == 0 ? Usage() : args[0] switch
{
    "gemm" => GemmBench.Run(args.AsSpan(1)),
    "pool" => PoolBench.Run(args.AsSpan(1)),
    "primitives" => TensorPrimitivesBench.Run(args.AsSpan(1)),
    "mlp" => MlpBench.Run(args.AsSpan(1)),
    "chargpt" => CharGptBench.Run(args.AsSpan(1)),
    "chargpt-parity" => CharGptParity.Run(args.AsSpan(1)),
    "ddp" => DataParallelBench.Run(args.AsSpan(1)),
    "ddp-run" => DataParallelBench.RunChild(args.AsSpan(1)),
    "guard" => GuardBench.Run(args.AsSpan(1)),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("usage: Dsl.Bench <command> [options]");
    Console.Error.WriteLine("  gemm [--runs N] [--double] [--only TEXT] [--cpu]");
    Console.Error.WriteLine("      matrix products of an MLP 784-1024-1024-10 at batch 128 on 1 and 2 threads;");
    Console.Error.WriteLine("      --cpu times one thread by its CPU time (steadier on a shared machine)");
    Console.Error.WriteLine("  pool                                        WorkerPool.Run round trip, back to back and after serial work");
    Console.Error.WriteLine("  primitives [--rounds N]                     TensorPrimitives vs the hand-written elementwise loops (add, scale, fused scale-add)");
    Console.Error.WriteLine("  mlp [--steps N] [--python PATH]             whole TrainStep of the MLP vs PyTorch 1.13, batch 128/16, 1 and 2 threads");
    Console.Error.WriteLine("  chargpt [--steps N] [--python PATH] [--data PATH]  CharGpt training iteration vs PyTorch 1.13, 1 and 2 threads");
    Console.Error.WriteLine("  chargpt-parity [--steps N] [--python PATH] [--data PATH] [--dir DIR]");
    Console.Error.WriteLine("      reference check: CharGpt from PyTorch's initial weights on PyTorch's batches, loss per step side by side");
    Console.Error.WriteLine("  ddp [--steps N]                             data parallel: MLP and CharGpt step, 1 process × 2 threads vs 2 MPI ranks × 1 thread,");
    Console.Error.WriteLine("      with and without overlapping the gradient all-reduce; all-reduce bandwidth and the ring estimate for 8 and 64 nodes");
    Console.Error.WriteLine("  guard [--steps N] [--data PATH]            CharGpt TrainStep with the non-finite guard on and off, alternating, 1 and 2 threads");
    Console.Error.WriteLine($"  (Vector512 accelerated: {Vector512.IsHardwareAccelerated}; DOTNET_PreferredVectorBitWidth=256 measures the AVX2 kernels)");
    return 2;
}
