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
    "mlp-worker" => MlpBench.Worker(args.AsSpan(1)),
    "chargpt" => CharGptBench.Run(args.AsSpan(1)),
    "chargpt-worker" => CharGptBench.Worker(args.AsSpan(1)),
    "chargpt-parity" => CharGptParity.Run(args.AsSpan(1)),
    "ddp" => DataParallelBench.Run(args.AsSpan(1)),
    "ddp-run" => DataParallelBench.RunChild(args.AsSpan(1)),
    "guard" => GuardBench.Run(args.AsSpan(1)),
    "attention" => AttentionBench.Run(args.AsSpan(1)),
    "peak" => Peak(),
    _ => Usage(),
};

static int Peak()
{
    Console.WriteLine($"{Machine.Cpu()}; load average {Machine.LoadAverage()}");
    Console.WriteLine($"FMA peak: {Machine.FmaPeak(1):F1} GFLOP/s on 1 thread, {Machine.FmaPeak(2):F1} on 2 (thread CPU time, best of 7)");
    return 0;
}

static int Usage()
{
    Console.Error.WriteLine("usage: Dsl.Bench <command> [options]");
    Console.Error.WriteLine("  gemm [--runs N] [--only TEXT] [--double] [--no-torch] [--python PATH] [--compare-pack-b]");
    Console.Error.WriteLine("      the products of the MLP, CharGpt and 512–2048 squares in all three forms, 1 and 2 threads, against");
    Console.Error.WriteLine("      the measured FMA peak and OpenBLAS (torch.mm) in the same run");
    Console.Error.WriteLine("  peak                                        the FP32 FMA peak of 1 and 2 cores");
    Console.Error.WriteLine("  attention [--batch N] [--seq N] [--heads N] [--head-size N] [--runs N] [--full]");
    Console.Error.WriteLine("      the CPU softmax attention forward and backward, CharGpt's shape by default, 1 and 2 threads");
    Console.Error.WriteLine("  pool                                        WorkerPool.Run round trip, back to back and after serial work");
    Console.Error.WriteLine("  primitives [--rounds N]                     TensorPrimitives vs the hand-written elementwise loops (add, scale, fused scale-add)");
    Console.Error.WriteLine("  mlp [--steps N] [--rounds N] [--batch 128,16] [--no-infer] [--profile] [--python PATH]");
    Console.Error.WriteLine("      TrainStep of the MLP and batch-1 Predict vs PyTorch 1.13 stock and tuned, 1 and 2 threads;");
    Console.Error.WriteLine("      --profile prints the time per schedule step instead");
    Console.Error.WriteLine("  chargpt [--steps N] [--rounds N] [--profile] [--python PATH] [--data PATH]");
    Console.Error.WriteLine("      CharGpt training iteration vs PyTorch 1.13 stock and tuned, 1 and 2 threads");
    Console.Error.WriteLine("  chargpt-parity [--steps N] [--python PATH] [--data PATH] [--dir DIR]");
    Console.Error.WriteLine("      reference check: CharGpt from PyTorch's initial weights on PyTorch's batches, loss per step side by side");
    Console.Error.WriteLine("  ddp [--steps N]                             data parallel: MLP and CharGpt step, 1 process × 2 threads vs 2 MPI ranks × 1 thread,");
    Console.Error.WriteLine("      with and without overlapping the gradient all-reduce; all-reduce bandwidth and the ring estimate for 8 and 64 nodes");
    Console.Error.WriteLine("  guard [--steps N] [--data PATH]            CharGpt TrainStep with the non-finite guard on and off, alternating, 1 and 2 threads");
    Console.Error.WriteLine($"  (Vector512 accelerated: {Vector512.IsHardwareAccelerated}; DOTNET_PreferredVectorBitWidth=256 measures the AVX2 kernels)");
    return 2;
}
