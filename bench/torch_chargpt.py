"""The PyTorch side of the character-level GPT comparison: nanoGPT's "baby GPT" shakespeare_char
configuration for CPUs, written from scratch for this repository (same model, data pipeline,
optimizer, schedule and evaluation as nanoGPT's train.py with the README's CPU flags:
--block_size=64 --batch_size=12 --n_layer=4 --n_head=4 --n_embd=128 --max_iters=2000
--lr_decay_iters=2000 --dropout=0.0 --eval_iters=20).

Model: token and learned position embeddings (128), 4 pre-norm blocks of causal self-attention
(4 heads of 32, manual softmax attention: torch 1.13 has no scaled_dot_product_attention) and an
MLP 128-512-128 with exact (erf) GELU, as nanoGPT's nn.GELU(); a final LayerNorm; the output
projection tied to the token embedding. No biases anywhere (Linear and LayerNorm, bias=False),
LayerNorm eps 1e-5, dropout 0. Init: every Linear and Embedding weight N(0, 0.02), then the two
residual output projections per block (attention c_proj, MLP c_proj) N(0, 0.02/sqrt(2*n_layer));
LayerNorm gains 1.

Training: AdamW lr 1e-3, betas (0.9, 0.99), eps 1e-8, weight decay 0.1 on parameters with >= 2
dimensions (all matrices and both embeddings), 0 on the LayerNorm gains; gradient clipping to
global norm 1.0; learning rate per iteration it = 0, 1, ...: 1e-3*(it+1)/(100+1) for it < 100,
then cosine from 1e-3 to 1e-4 at it = 2000 (nanoGPT's get_lr).

Data: tinyshakespeare; vocabulary = sorted distinct characters (65); first int(0.9*n) characters
train, the rest validation. A batch is 12 windows with starts drawn by torch.randint(len - 64)
from the global generator; targets are the inputs shifted by one.

Evaluation: every --eval-interval iterations (before that iteration's step, so "iteration 250"
means after 250 steps) and after the last step, the mean loss of --eval-iters random batches of
each split (nanoGPT's estimate_loss). --full-val adds, after training, the exact validation loss:
the validation split cut into W = (len(val) - 1) // 64 non-overlapping windows (window w has
inputs val[64w : 64w+64] and targets val[64w+1 : 64w+65]; the last few characters are unused;
1742 windows for tinyshakespeare), and the mean cross-entropy over all 64*W predicted characters.

One difference from nanoGPT's loop: nanoGPT runs max_iters + 1 steps (its last step follows its
last evaluation and is never measured); this script runs exactly --iters steps.

Run with Debian's PyTorch (the pyenv python3 on PATH has no torch):
  /usr/bin/python3 bench/torch_chargpt.py --threads 1 --full-val
Thread settings must be made before torch is imported, so --threads sets OMP_NUM_THREADS,
MKL_NUM_THREADS and OPENBLAS_NUM_THREADS first, then torch.set_num_threads.
"""
import argparse
import json
import math
import os
import resource
import statistics
import sys
import time


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="/work/shared/data/tinyshakespeare/input.txt", help="tinyshakespeare input.txt")
    parser.add_argument("--iters", type=int, default=2000, help="optimizer steps (nanoGPT max_iters)")
    parser.add_argument("--decay-iters", type=int, default=None, help="end of the cosine (default: 2000, nanoGPT's lr_decay_iters)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch, OpenMP and BLAS (default: torch's default)")
    parser.add_argument("--eval-interval", type=int, default=250)
    parser.add_argument("--eval-iters", type=int, default=20, help="random batches per split per evaluation")
    parser.add_argument("--log-interval", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1337, help="torch.manual_seed (nanoGPT's default)")
    parser.add_argument("--full-val", action="store_true", help="after training, the loss over the whole validation split in non-overlapping windows")
    parser.add_argument("--target", type=float, default=1.88, help="report when the estimated val loss first reaches <= this")
    parser.add_argument("--timing-warmup", type=int, default=10, help="iterations left out of the per-iteration median")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda: eager on the GPU, TF32 off, "
                        "each timed iteration synchronised")
    parser.add_argument("--synthetic", type=int, default=0, metavar="N",
                        help="instead of --data, N characters of seeded random text over 65 symbols (for timing where "
                             "the corpus is absent)")
    parser.add_argument("--json", default=None, help="also write the summary line to this file")
    parser.add_argument("--export", default=None, metavar="DIR",
                        help="parity trace for `Dsl.Bench chargpt-parity`: write DIR/init.safetensors (the initial "
                             "weights under the DSL model's tensor names), DIR/batches.bin (every step's inputs then "
                             "targets, int32) and DIR/losses.txt (every step's loss and gradient norm)")
    return parser.parse_args()


ARGS = parse_args()
if ARGS.threads is not None:
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = str(ARGS.threads)

import torch  # noqa: E402  (after the thread environment is set)
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

if ARGS.threads is not None:
    torch.set_num_threads(ARGS.threads)
DEVICE = torch.device(ARGS.device)
if DEVICE.type == "cuda":
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False


def sync():
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()

# The configuration (nanoGPT's README CPU flags for shakespeare_char).
N_LAYER, N_HEAD, N_EMBD, BLOCK, BATCH = 4, 4, 128, 64, 12
PEAK_LR, MIN_LR, WARMUP = 1e-3, 1e-4, 100
DECAY_ITERS = ARGS.decay_iters if ARGS.decay_iters is not None else 2000
BETAS, WEIGHT_DECAY, GRAD_CLIP, LN_EPS = (0.9, 0.99), 0.1, 1.0, 1e-5


# ---------------------------------------------------------------------------- data

def load_corpus(path):
    if ARGS.synthetic > 0:
        generator = torch.Generator().manual_seed(ARGS.seed)
        symbols = [chr(32 + i) for i in range(65)]
        ids = torch.randint(65, (ARGS.synthetic,), generator=generator)
        cut = int(len(ids) * 0.9)
        return symbols, ids[:cut], ids[cut:]
    if not os.path.isfile(path):
        sys.exit(f"corpus not found: {path} (pass --data PATH to tinyshakespeare's input.txt)")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    vocabulary = sorted(set(text))
    index = {c: i for i, c in enumerate(vocabulary)}
    ids = torch.tensor([index[c] for c in text], dtype=torch.long)
    cut = int(len(ids) * 0.9)
    return vocabulary, ids[:cut], ids[cut:]


def random_batch(split):
    starts = torch.randint(len(split) - BLOCK, (BATCH,))
    x = torch.stack([split[s:s + BLOCK] for s in starts.tolist()])
    y = torch.stack([split[s + 1:s + 1 + BLOCK] for s in starts.tolist()])
    return x.to(DEVICE), y.to(DEVICE)


# ---------------------------------------------------------------------------- model

class GainOnlyLayerNorm(nn.Module):
    """LayerNorm with a gain and no bias (torch 1.13's nn.LayerNorm cannot drop only the bias)."""

    def __init__(self, width):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(width))

    def forward(self, x):
        return F.layer_norm(x, self.weight.shape, self.weight, None, LN_EPS)


class CausalAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.qkv = nn.Linear(N_EMBD, 3 * N_EMBD, bias=False)
        self.out = nn.Linear(N_EMBD, N_EMBD, bias=False)  # a residual output projection
        self.register_buffer("allowed", torch.tril(torch.ones(BLOCK, BLOCK, dtype=torch.bool)))

    def forward(self, x):
        b, t, c = x.shape
        head = c // N_HEAD
        q, k, v = self.qkv(x).split(c, dim=2)
        q = q.view(b, t, N_HEAD, head).transpose(1, 2)  # (b, heads, t, head)
        k = k.view(b, t, N_HEAD, head).transpose(1, 2)
        v = v.view(b, t, N_HEAD, head).transpose(1, 2)
        scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(head))
        scores = scores.masked_fill(~self.allowed[:t, :t], float("-inf"))
        weights = F.softmax(scores, dim=-1)
        y = (weights @ v).transpose(1, 2).contiguous().view(b, t, c)
        return self.out(y)


class FeedForward(nn.Module):
    def __init__(self):
        super().__init__()
        self.up = nn.Linear(N_EMBD, 4 * N_EMBD, bias=False)
        self.gelu = nn.GELU()  # exact erf form, as nanoGPT
        self.out = nn.Linear(4 * N_EMBD, N_EMBD, bias=False)  # a residual output projection

    def forward(self, x):
        return self.out(self.gelu(self.up(x)))


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm1 = GainOnlyLayerNorm(N_EMBD)
        self.attention = CausalAttention()
        self.norm2 = GainOnlyLayerNorm(N_EMBD)
        self.mlp = FeedForward()

    def forward(self, x):
        x = x + self.attention(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class CharGpt(nn.Module):
    def __init__(self, vocabulary_size):
        super().__init__()
        self.tokens = nn.Embedding(vocabulary_size, N_EMBD)
        self.positions = nn.Embedding(BLOCK, N_EMBD)
        self.blocks = nn.ModuleList([Block() for _ in range(N_LAYER)])
        self.final_norm = GainOnlyLayerNorm(N_EMBD)
        self.head = nn.Linear(N_EMBD, vocabulary_size, bias=False)
        self.head.weight = self.tokens.weight  # tied
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, mean=0.0, std=0.02)
        for block in self.blocks:
            for projection in (block.attention.out, block.mlp.out):
                nn.init.normal_(projection.weight, mean=0.0, std=0.02 / math.sqrt(2 * N_LAYER))

    def forward(self, idx, targets):
        t = idx.shape[1]
        x = self.tokens(idx) + self.positions(torch.arange(t, device=idx.device))
        for block in self.blocks:
            x = block(x)
        logits = self.head(self.final_norm(x))
        return F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.reshape(-1))


def learning_rate(it):
    if it < WARMUP:
        return PEAK_LR * (it + 1) / (WARMUP + 1)
    if it >= DECAY_ITERS:
        return MIN_LR
    ratio = (it - WARMUP) / (DECAY_ITERS - WARMUP)
    return MIN_LR + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (PEAK_LR - MIN_LR)


# ---------------------------------------------------------------------------- evaluation

@torch.no_grad()
def estimate(model, splits):
    model.eval()
    result = {}
    for name, split in splits.items():
        losses = [model(*random_batch(split)).item() for _ in range(ARGS.eval_iters)]
        result[name] = sum(losses) / len(losses)
    model.train()
    return result


@torch.no_grad()
def full_validation(model, val, chunk=64):
    """Mean cross-entropy over all 64*W targets of the W = (len - 1) // 64 non-overlapping windows."""
    model.eval()
    windows = (len(val) - 1) // BLOCK
    total, count = 0.0, 0
    for first in range(0, windows, chunk):
        starts = range(first * BLOCK, min(windows, first + chunk) * BLOCK, BLOCK)
        x = torch.stack([val[s:s + BLOCK] for s in starts])
        y = torch.stack([val[s + 1:s + 1 + BLOCK] for s in starts])
        x, y = x.to(DEVICE), y.to(DEVICE)
        total += model(x, y).item() * y.numel()  # the batch mean times its number of targets
        count += y.numel()
    model.train()
    return total / count, windows


# ---------------------------------------------------------------------------- parity export

def dsl_tensors(model):
    """The model's weights under the names and [out, in] layouts of samples/CharGpt's CharGpt."""
    c = N_EMBD
    out = {"Tokens.weight": model.tokens.weight, "Positions.weight": model.positions.weight,
           "Final.weight": model.final_norm.weight}
    for i, block in enumerate(model.blocks):
        qkv = block.attention.qkv.weight
        prefix = f"Blocks.{i}."
        out[prefix + "Norm1.weight"] = block.norm1.weight
        out[prefix + "Attend.query.weight"] = qkv[0:c]
        out[prefix + "Attend.key.weight"] = qkv[c:2 * c]
        out[prefix + "Attend.value.weight"] = qkv[2 * c:3 * c]
        out[prefix + "Attend.output.weight"] = block.attention.out.weight
        out[prefix + "Norm2.weight"] = block.norm2.weight
        out[prefix + "Up.weight"] = block.mlp.up.weight
        out[prefix + "Down.weight"] = block.mlp.out.weight
    return out


def write_safetensors(path, tensors):
    """The safetensors format: an 8-byte little-endian header length, a JSON header naming each
    tensor's dtype, shape and byte range, then the raw little-endian data."""
    header, blobs, offset = {}, [], 0
    for name, tensor in tensors.items():
        data = tensor.detach().contiguous().to(torch.float32).numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensor.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(len(text).to_bytes(8, "little"))
        f.write(text)
        for blob in blobs:
            f.write(blob)


# ---------------------------------------------------------------------------- main

def blas_library():
    try:
        return os.path.realpath("/lib/x86_64-linux-gnu/libblas.so.3")
    except OSError:
        return "unknown"


def main():
    torch.manual_seed(ARGS.seed)
    vocabulary, train, val = load_corpus(ARGS.data)
    model = CharGpt(len(vocabulary)).to(DEVICE)
    parameters = list(model.parameters())  # the tied matrix appears once
    decayed = [p for p in parameters if p.dim() >= 2]
    undecayed = [p for p in parameters if p.dim() < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decayed, "weight_decay": WEIGHT_DECAY}, {"params": undecayed, "weight_decay": 0.0}],
        lr=PEAK_LR, betas=BETAS, eps=1e-8)
    count = sum(p.numel() for p in parameters)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, BLAS {blas_library()}")
    print(f"vocabulary {len(vocabulary)}, train {len(train):,}, val {len(val):,} characters")
    print(f"parameters {count:,} ({count - model.positions.weight.numel():,} without positions); "
          f"{len(decayed)} decayed tensors, {len(undecayed)} not")

    splits = {"train": train, "val": val}
    trace = None
    if ARGS.export:
        os.makedirs(ARGS.export, exist_ok=True)
        write_safetensors(os.path.join(ARGS.export, "init.safetensors"), dsl_tensors(model))
        trace = {"batches": open(os.path.join(ARGS.export, "batches.bin"), "wb"),
                 "losses": open(os.path.join(ARGS.export, "losses.txt"), "w")}
    step_seconds, evals = [], []
    reached = None
    eval_seconds = 0.0
    start = time.perf_counter()

    def evaluate(it):
        nonlocal reached, eval_seconds
        t0 = time.perf_counter()
        losses = estimate(model, splits)
        eval_seconds += time.perf_counter() - t0
        wall = time.perf_counter() - start
        evals.append({"iter": it, "train": losses["train"], "val": losses["val"], "wall_s": wall})
        print(f"iter {it}: train loss {losses['train']:.4f}, val loss {losses['val']:.4f} (wall {wall:.1f} s)", flush=True)
        if reached is None and losses["val"] <= ARGS.target:
            reached = {"iter": it, "wall_s": wall, "train_s": wall - eval_seconds, "val": losses["val"]}

    for it in range(ARGS.iters):
        if it % ARGS.eval_interval == 0:
            evaluate(it)
        lr = learning_rate(it)
        for group in optimizer.param_groups:
            group["lr"] = lr
        t0 = time.perf_counter()
        x, y = random_batch(train)
        loss = model(x, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(parameters, GRAD_CLIP)
        optimizer.step()
        sync()
        step_seconds.append(time.perf_counter() - t0)
        if trace:
            trace["batches"].write(x.to(torch.int32).cpu().numpy().tobytes() + y.to(torch.int32).cpu().numpy().tobytes())
            trace["losses"].write(f"{loss.item():.9g} {norm.item():.9g}\n")
        if it % ARGS.log_interval == 0:
            print(f"iter {it}: loss {loss.item():.4f}, grad norm {norm.item():.3f}, lr {lr:.2e}, "
                  f"{1000 * step_seconds[-1]:.1f} ms", flush=True)
    evaluate(ARGS.iters)
    wall = time.perf_counter() - start
    if trace:
        for f in trace.values():
            f.close()

    timed = step_seconds[ARGS.timing_warmup:] or step_seconds
    median_ms = 1000 * statistics.median(timed)
    summary = {
        "torch": torch.__version__, "threads": torch.get_num_threads(), "seed": ARGS.seed, "iters": ARGS.iters,
        "median_iter_ms": median_ms, "median_ms": median_ms, "timed_iters": len(timed),
        "wall_s": wall, "train_s": wall - eval_seconds, "eval_s": eval_seconds,
        "final_estimated_val": evals[-1]["val"], "final_estimated_train": evals[-1]["train"],
        "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "target": ARGS.target, "reached": reached,
    }
    if DEVICE.type == "cuda":
        summary["device"] = torch.cuda.get_device_name(DEVICE)
    print(f"median {median_ms:.2f} ms per iteration (iterations {ARGS.timing_warmup}..{ARGS.iters - 1}, "
          f"batch fetch + forward + backward + clip + step)")
    print(f"wall {wall:.1f} s ({wall - eval_seconds:.1f} s training, {eval_seconds:.1f} s estimating)")
    if reached:
        print(f"estimated val loss {reached['val']:.4f} <= {ARGS.target} first at iteration {reached['iter']}, "
              f"wall {reached['wall_s']:.1f} s ({reached['train_s']:.1f} s training)")
    else:
        print(f"estimated val loss never reached <= {ARGS.target} (final {evals[-1]['val']:.4f})")
    if ARGS.full_val:
        t0 = time.perf_counter()
        loss, windows = full_validation(model, val)
        summary["full_val"] = loss
        summary["full_val_windows"] = windows
        print(f"full validation loss {loss:.4f} over {windows} windows of {BLOCK} "
              f"({windows * BLOCK:,} targets, {time.perf_counter() - t0:.1f} s)")
    line = json.dumps(summary)
    print(line)
    if ARGS.json:
        with open(ARGS.json, "w") as f:
            f.write(line + "\n")


if __name__ == "__main__":
    main()
