"""The PyTorch side of `Dsl.Bench mlp`: the same MLP (784-1024-1024-10, ReLU), the same loss and
optimizer (softmax cross-entropy, AdamW), timed per training step. Prints one JSON line (with the process's peak RSS).
Run with Debian's PyTorch: /usr/bin/python3 bench/torch_mlp.py --batch 128 --threads 1
--infer times the forward alone under torch.inference_mode() (the latency of one call) instead.
--device cuda runs it on the GPU (eager, TF32 off, each step synchronised before it is timed)."""
import argparse
import json
import resource
import statistics
import time

import torch

parser = argparse.ArgumentParser()
parser.add_argument("--batch", type=int, default=128)
parser.add_argument("--threads", type=int, default=1)
parser.add_argument("--steps", type=int, default=60)
parser.add_argument("--warmup", type=int, default=10)
parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
parser.add_argument("--infer", action="store_true", help="time the forward alone (inference latency)")
args = parser.parse_args()
device = torch.device(args.device)
if device.type == "cuda":
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False

torch.set_num_threads(args.threads)
torch.manual_seed(0)
model = torch.nn.Sequential(
    torch.nn.Linear(784, 1024), torch.nn.ReLU(),
    torch.nn.Linear(1024, 1024), torch.nn.ReLU(),
    torch.nn.Linear(1024, 10)).to(device)
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
loss_fn = torch.nn.CrossEntropyLoss()
x = torch.randn(args.batch, 784).to(device)
y = torch.randint(0, 10, (args.batch,)).to(device)


def sync():
    if device.type == "cuda":
        torch.cuda.synchronize()


def step():
    optimizer.zero_grad(set_to_none=True)
    loss = loss_fn(model(x), y)
    loss.backward()
    optimizer.step()
    return loss


def infer():
    with torch.inference_mode():
        return model(x)


work = infer if args.infer else step
for _ in range(args.warmup):
    work()
sync()
times = []
for _ in range(args.steps):
    start = time.perf_counter()
    work()
    sync()
    times.append(time.perf_counter() - start)
summary = {"torch": torch.__version__, "batch": args.batch, "threads": torch.get_num_threads(),
           "mode": "infer" if args.infer else "train",
           "median_ms": 1000 * statistics.median(times), "min_ms": 1000 * min(times),
           "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}
if device.type == "cuda":
    summary["device"] = torch.cuda.get_device_name(device)
print(json.dumps(summary))
