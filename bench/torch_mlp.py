"""The PyTorch side of `Dsl.Bench mlp`: the same MLP (784-1024-1024-10, ReLU), the same loss and
optimizer (softmax cross-entropy, AdamW), timed per training step. Prints one JSON line.
Run with Debian's PyTorch: /usr/bin/python3 bench/torch_mlp.py --batch 128 --threads 1"""
import argparse
import json
import statistics
import time

import torch

parser = argparse.ArgumentParser()
parser.add_argument("--batch", type=int, default=128)
parser.add_argument("--threads", type=int, default=1)
parser.add_argument("--steps", type=int, default=60)
parser.add_argument("--warmup", type=int, default=10)
args = parser.parse_args()

torch.set_num_threads(args.threads)
torch.manual_seed(0)
model = torch.nn.Sequential(
    torch.nn.Linear(784, 1024), torch.nn.ReLU(),
    torch.nn.Linear(1024, 1024), torch.nn.ReLU(),
    torch.nn.Linear(1024, 10))
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
loss_fn = torch.nn.CrossEntropyLoss()
x = torch.randn(args.batch, 784)
y = torch.randint(0, 10, (args.batch,))


def step():
    optimizer.zero_grad(set_to_none=True)
    loss = loss_fn(model(x), y)
    loss.backward()
    optimizer.step()
    return loss


for _ in range(args.warmup):
    step()
times = []
for _ in range(args.steps):
    start = time.perf_counter()
    step()
    times.append(time.perf_counter() - start)
print(json.dumps({"torch": torch.__version__, "batch": args.batch, "threads": torch.get_num_threads(),
                  "median_ms": 1000 * statistics.median(times)}))
