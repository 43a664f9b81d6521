"""Train the character GPT data-parallel: one process per core, gradients averaged over MPI.

    python -m ember.distributed.run --nproc-per-node 2 examples/ddp_char_gpt.py [PATH] [--steps 500]
    mpiexec -n 2 python examples/ddp_char_gpt.py [PATH]          # the same, MPI's own launcher
    python examples/ddp_char_gpt.py [PATH]                        # one process (world of 1)

PATH is any UTF-8 text file (default: <data root>/tinyshakespeare/input.txt).
Every rank builds the same model (DistributedDataParallel broadcasts rank
0's weights), draws its own random windows of the text (seeded by rank),
and after each backward holds the gradients averaged over all ranks, so the
effective batch is ``--batch-size`` times the number of ranks.  Validation
losses are averaged over the ranks too.  Rank 0 alone shows the progress
bar, prints, and writes ``checkpoint.ember`` (the unwrapped model's
weights, config and vocabulary) under ``--out``.  Needs
``pip install 'ember[distributed]'``.
"""
import argparse
import os
import sys
import time

import _common as C  # first: it caps BLAS threads before NumPy loads

import numpy as np

import ember
import ember.distributed as dist
from ember.models import GPT, GPTConfig
from ember.nn.parallel import DistributedDataParallel as DDP
from ember.text import CharTokenizer


def windows(ids, rng, batch_size, block_size):
    """Random windows x (B, T) and their next characters y (B, T)."""
    starts = rng.integers(0, len(ids) - block_size, size=batch_size)
    idx = starts[:, None] + np.arange(block_size)
    return ember.from_numpy(ids[idx]), ember.from_numpy(ids[idx + 1])


def estimate_loss(model, splits, args, rank):
    """Mean loss over ``--eval-iters`` batches per split on each rank, averaged over ranks."""
    model.eval()
    out = {}
    with ember.no_grad():
        for name, ids in splits.items():
            rng = np.random.default_rng(10_000 + rank)
            losses = [model(*windows(ids, rng, args.batch_size, args.block_size))[1].item()
                      for _ in range(args.eval_iters)]
            mean = ember.tensor([float(np.mean(losses))])
            dist.all_reduce(mean, op=dist.ReduceOp.AVG)
            out[name] = mean.item()
    model.train()
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("path", nargs="?", default=None)
    p.add_argument("--steps", type=int, default=500)
    p.add_argument("--batch-size", type=int, default=16, help="per rank")
    p.add_argument("--block-size", type=int, default=64)
    p.add_argument("--n-layer", type=int, default=4)
    p.add_argument("--n-head", type=int, default=4)
    p.add_argument("--n-embd", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--eval-interval", type=int, default=100)
    p.add_argument("--eval-iters", type=int, default=10)
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--sample", type=int, default=200, help="characters to generate at the end")
    p.add_argument("--out", default="runs/ddp_char_gpt")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)

    dist.init_process_group("gloo")            # rank and world size from the launcher
    rank, world = dist.get_rank(), dist.get_world_size()
    ember.set_num_threads(1)                   # one core per rank

    path = args.path or os.path.join(C.data_root(None), "tinyshakespeare", "input.txt")
    if not os.path.isfile(path):
        if rank == 0:
            print(f"{path} not found: pass a text file as PATH (nothing is downloaded).",
                  file=sys.stderr)
        dist.destroy_process_group()
        return 2
    with open(path, encoding="utf-8") as f:
        text = f.read()
    tok = CharTokenizer.from_text(text)
    ids = np.asarray(tok.encode(text), dtype=np.int64)
    n_val = len(ids) // 10
    splits = {"train": ids[:-n_val], "val": ids[-n_val:]}
    config = GPTConfig(vocab_size=tok.vocab_size, block_size=args.block_size, n_layer=args.n_layer,
                       n_head=args.n_head, n_embd=args.n_embd, dropout=0.0)
    ember.manual_seed(args.seed)
    model = DDP(GPT(config))
    opt = ember.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.99), weight_decay=0.1)
    sched = ember.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.steps, eta_min=args.lr / 10)
    if rank == 0:
        print(f"{world} rank(s) x batch {args.batch_size}; "
              f"{sum(p.numel() for p in model.parameters()):,} parameters; "
              f"{len(ids):,} characters, vocabulary {tok.vocab_size}", flush=True)

    rng = np.random.default_rng(args.seed + rank)      # each rank its own windows
    bar = C.progress(range(1, args.steps + 1), f"ddp x{world}", rank == 0 and not args.no_progress)
    t0 = time.perf_counter()
    running = None
    for step in bar:
        x, y = windows(splits["train"], rng, args.batch_size, args.block_size)
        _, loss = model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()                                 # gradients averaged over the ranks here
        ember.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        running = loss.item() if running is None else 0.9 * running + 0.1 * loss.item()
        bar.set_postfix(loss=f"{running:.3f}", refresh=False)
        if step % args.eval_interval == 0 or step == args.steps:
            est = estimate_loss(model, splits, args, rank)
            if rank == 0:
                print(f"\rstep {step}: train {est['train']:.3f}, val {est['val']:.3f} "
                      f"({time.perf_counter() - t0:.1f} s)", flush=True)
    bar.close()
    if rank == 0:
        ckpt = C.save_checkpoint(os.path.join(args.out, "checkpoint.ember"), model.module,
                                 config=vars(config), vocab=tok.chars)
        seed = ember.tensor([tok.encode(text[0])])
        sample = model.module.generate(seed, args.sample, do_sample=True, top_k=10)
        print(f"checkpoint: {ckpt}\n--- sample ---\n{tok.decode(sample[0].tolist())}", flush=True)
    dist.barrier()                     # the others wait for rank 0's checkpoint
    dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
