"""The OpenBLAS side of `Dsl.Bench gemm`: the same products through torch.mm (Debian's PyTorch 1.13, which calls
OpenBLAS's sgemm with the transposition flags of the views), timed the same way as the Dsl side: with one thread,
by the thread's CPU time (time.thread_time: OpenBLAS computes on the calling thread), with more, by wall time.
Each sample repeats the product until it lasts about 2 ms; prints one JSON line: GFLOP/s (median and best) per shape.

  /usr/bin/python3 bench/torch_gemm.py --threads 1 --shapes nt:128x1024x784,tn:1024x784x128,nn:128x784x1024

Forms: nt = A·Bᵀ (A m×k, B n×k, as X·Wᵀ), tn = Aᵀ·B (A k×m, B k×n, as dYᵀ·X), nn = A·B (as dY·W).
Thread settings must be made before torch is imported: --threads sets the thread variables first."""
import argparse
import json
import os
import statistics
import time

parser = argparse.ArgumentParser()
parser.add_argument("--threads", type=int, default=1)
parser.add_argument("--shapes", required=True, help="comma-separated form:MxNxK")
parser.add_argument("--runs", type=int, default=31)
parser.add_argument("--budget", type=float, default=1.5, help="seconds of timed runs per shape at most")
args = parser.parse_args()
for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[name] = str(args.threads)

import torch  # noqa: E402

torch.set_num_threads(args.threads)
torch.manual_seed(42)
clock = time.thread_time if args.threads == 1 else time.perf_counter
results = []
for spec in args.shapes.split(","):
    form, dims = spec.split(":")
    m, n, k = (int(v) for v in dims.split("x"))
    if form == "nt":
        a, b = torch.rand(m, k) * 2 - 1, (torch.rand(n, k) * 2 - 1).t()
    elif form == "tn":
        a, b = (torch.rand(k, m) * 2 - 1).t(), torch.rand(k, n) * 2 - 1
    else:
        a, b = torch.rand(m, k) * 2 - 1, torch.rand(k, n) * 2 - 1
    c = torch.empty(m, n)
    flops = 2.0 * m * n * k
    start = time.perf_counter()
    while time.perf_counter() - start < 0.3:
        torch.mm(a, b, out=c)
    repeats = max(1, int(2e-3 * 30e9 / flops))
    samples = []
    spent = time.perf_counter()
    for r in range(args.runs):
        t0 = clock()
        for _ in range(repeats):
            torch.mm(a, b, out=c)
        samples.append((clock() - t0) / repeats)
        if r >= 4 and time.perf_counter() - spent > args.budget:
            break
    results.append({"form": form, "m": m, "n": n, "k": k,
                     "gflops": flops / statistics.median(samples) / 1e9, "best_gflops": flops / min(samples) / 1e9})
print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "results": results}))
