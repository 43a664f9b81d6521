"""Train a character-level GPT on tiny Shakespeare, then sample from it.

    python examples/char_gpt.py [PATH] [--steps 2000] [--n-layer 4 --n-head 4 --n-embd 128]
    python examples/char_gpt.py PATH --torch      # the same model and run under real torch
    python examples/char_gpt.py PATH --compare    # both, then the two validation losses
    python examples/char_gpt.py --preset gpu --device cuda --compare --max-gap 3
                                 # nanoGPT's shakespeare-char shape on a GPU, vs torch there

PATH is any UTF-8 text file (default: <data root>/tinyshakespeare/input.txt,
the data root being $EMBER_DATA or ../shared/data).  The last 10% of the
text is held out.  Every ``--eval-interval`` steps the script estimates the
train and validation loss (nats per character; guessing uniformly over
tiny Shakespeare's 65 characters gives ln 65 = 4.17).  At the end it
writes ``checkpoint.ember`` (weights, optimizer, config, vocabulary) and
``loss.png`` under ``--out``, and prints a sample.

The torch run builds the same architecture in torch (``TorchGPT`` below,
with the same parameter names), copies the Ember model's initial weights
into it and draws the same batches, so the two runs differ only in the
frameworks' arithmetic.  With ``--device cuda`` both models and every batch
live on the GPU (the torch run on torch's CUDA); ``--preset gpu`` is
nanoGPT's shakespeare-char model (6 layers, 6 heads, 384 wide, context 256,
batch 64) for a few hundred steps, sized to run Ember and torch one after the
other in a few minutes on one GPU.  Dropout stays 0 there so that the two
runs differ only in arithmetic (CuPy's and torch's random streams differ).
"""
import argparse
import os
import sys
import time

import _common as C  # first: it caps BLAS threads before NumPy loads

import numpy as np

import ember
from ember.models import GPT, GPTConfig
from ember.text import CharTokenizer


def default_path():
    root = C.data_root(None)
    path = os.path.join(root, "tinyshakespeare", "input.txt")
    if not os.path.isfile(path):
        print(f"{path} not found: pass a text file as PATH (nothing is downloaded).",
              file=sys.stderr)
        sys.exit(2)
    return path


# ---- the same model in torch -------------------------------------------------------------------

def torch_gpt(config):
    """A torch twin of ember.models.GPT for ``pos='learned'`` configs (GPT-2's
    layout), with identical parameter names so state dicts move across."""
    import torch
    from torch import nn
    F = nn.functional

    class Attention(nn.Module):
        def __init__(self):
            super().__init__()
            self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
            self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
            self.resid_dropout = nn.Dropout(config.dropout)

        def forward(self, x):
            B, T, C_ = x.shape
            H = config.n_head
            q, k, v = self.c_attn(x).reshape(B, T, 3, H, C_ // H).permute(2, 0, 3, 1, 4).unbind(0)
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True,
                                               dropout_p=config.dropout if self.training else 0.0)
            return self.resid_dropout(self.c_proj(y.transpose(1, 2).reshape(B, T, C_)))

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
            self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
            self.dropout = nn.Dropout(config.dropout)

        def forward(self, x):
            return self.dropout(self.c_proj(F.gelu(self.c_fc(x), approximate=config.gelu_approximate)))

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1 = nn.LayerNorm(config.n_embd, eps=config.norm_eps, bias=config.bias)
            self.attn = Attention()
            self.ln_2 = nn.LayerNorm(config.n_embd, eps=config.norm_eps, bias=config.bias)
            self.mlp = MLP()

        def forward(self, x):
            x = x + self.attn(self.ln_1(x))
            return x + self.mlp(self.ln_2(x))

    class TorchGPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.config = config
            self.transformer = nn.ModuleDict(dict(
                wte=nn.Embedding(config.vocab_size, config.n_embd),
                wpe=nn.Embedding(config.block_size, config.n_embd),
                drop=nn.Dropout(config.dropout),
                h=nn.ModuleList([Block() for _ in range(config.n_layer)]),
                ln_f=nn.LayerNorm(config.n_embd, eps=config.norm_eps, bias=config.bias)))
            self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
            if config.tie_weights:
                self.lm_head.weight = self.transformer.wte.weight

        def forward(self, idx, targets=None):
            B, T = idx.shape
            tr = self.transformer
            x = tr.drop(tr.wte(idx) + tr.wpe(torch.arange(T, device=idx.device)))
            for block in tr.h:
                x = block(x)
            logits = self.lm_head(tr.ln_f(x))
            if targets is None:
                return logits
            return logits, F.cross_entropy(logits.reshape(B * T, -1), targets.reshape(B * T))

        @torch.no_grad()
        def generate(self, idx, max_new_tokens, temperature=1.0, top_k=None, do_sample=False):
            for _ in range(max_new_tokens):
                logits = self(idx[:, -config.block_size:])[:, -1, :] / temperature
                if top_k is not None:
                    v, _ = torch.topk(logits, min(top_k, logits.size(-1)))
                    logits[logits < v[:, [-1]]] = -float("inf")
                probs = F.softmax(logits, dim=-1)
                nxt = torch.multinomial(probs, 1) if do_sample else probs.argmax(-1, keepdim=True)
                idx = torch.cat([idx, nxt], dim=1)
            return idx

    return TorchGPT()


# ---- training ---------------------------------------------------------------------------------

def batch(ids, rng, batch_size, block_size, lib, device="cpu"):
    """Random windows x (B, T) and their next characters y (B, T), from a NumPy rng
    (so the Ember and torch runs draw identical batches), moved to ``device``."""
    starts = rng.integers(0, len(ids) - block_size, size=batch_size)
    idx = starts[:, None] + np.arange(block_size)
    return lib.from_numpy(ids[idx]).to(device), lib.from_numpy(ids[idx + 1]).to(device)


def estimate_loss(model, splits, args, lib, seed):
    """Mean loss over ``--eval-iters`` batches per split (the same batches every time)."""
    model.eval()
    out = {}
    with lib.no_grad():
        for name, ids in splits.items():
            rng = np.random.default_rng(seed)
            losses = [model(*batch(ids, rng, args.batch_size, args.block_size, lib,
                                   args.device))[1].item()
                      for _ in range(args.eval_iters)]
            out[name] = float(np.mean(losses))
    model.train()
    return out


def train(args, lib_name, text, log=print):
    """One full run with ``lib_name`` ('ember' or 'torch'); returns (history, model, tokenizer)."""
    tok = CharTokenizer.from_text(text)
    ids = np.asarray(tok.encode(text), dtype=np.int64)
    n_val = len(ids) // 10
    splits = {"train": ids[:-n_val], "val": ids[-n_val:]}
    config = GPTConfig(vocab_size=tok.vocab_size, block_size=args.block_size, n_layer=args.n_layer,
                       n_head=args.n_head, n_embd=args.n_embd, dropout=args.dropout, bias=True,
                       pos=args.pos)
    ember.manual_seed(args.seed)
    model = GPT(config)  # the Ember model's initial weights seed both runs
    if lib_name == "torch":
        import torch
        if args.pos != "learned":
            raise SystemExit("--torch supports --pos learned only")
        torch.manual_seed(args.seed)
        twin = torch_gpt(config)
        twin.load_state_dict({k: torch.from_numpy(v.numpy().copy())
                              for k, v in model.state_dict().items()})
        model, lib = twin, torch
    else:
        lib = ember
    model.to(args.device)   # (after the copy above: the weights are read on the CPU)
    log(f"[{lib_name}] {sum(p.numel() for p in model.parameters()):,} parameters; "
        f"{len(ids):,} characters, vocabulary {tok.vocab_size}")
    opt = lib.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.99),
                          weight_decay=args.weight_decay)
    sched = lib.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.steps, eta_min=args.lr / 10)
    rng = np.random.default_rng(args.seed)
    history = C.History()
    bar = C.progress(range(1, args.steps + 1), f"{lib_name}", not args.no_progress)
    t0 = time.perf_counter()
    running = None
    for step in bar:
        x, y = batch(splits["train"], rng, args.batch_size, args.block_size, lib, args.device)
        _, loss = model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        lib.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        running = loss.item() if running is None else 0.9 * running + 0.1 * loss.item()
        bar.set_postfix(loss=f"{running:.3f}", refresh=False)
        if step % args.eval_interval == 0 or step == args.steps:
            est = estimate_loss(model, splits, args, lib, seed=args.seed + 1)
            history.add(step=step, train_loss=est["train"], val_loss=est["val"],
                        seconds=round(time.perf_counter() - t0, 1))
            msg = f"[{lib_name}] " + C.History.format(history.rows[-1])
            if hasattr(bar, "write"):
                bar.write(msg)
            else:
                log(msg)
    bar.close()
    return history, model, tok


# Presets: settings chosen together, given before the other flags (which override them).
# gpu: nanoGPT's shakespeare-char model and batch (github.com/karpathy/nanoGPT,
# config/train_shakespeare_char.py) without dropout, for the steps that let Ember
# and then torch train in one device command of a few minutes.
PRESETS = {
    "gpu": dict(n_layer=6, n_head=6, n_embd=384, block_size=256, batch_size=64, steps=400,
                eval_interval=200, eval_iters=10, lr=1e-3, dropout=0.0),
}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("path", nargs="?", default=None, help="a UTF-8 text file")
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--eval-interval", type=int, default=250)
    p.add_argument("--eval-iters", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--block-size", type=int, default=64, help="context length")
    p.add_argument("--n-layer", type=int, default=4)
    p.add_argument("--n-head", type=int, default=4)
    p.add_argument("--n-embd", type=int, default=128)
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--pos", default="learned", choices=["learned", "rope"])
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--text-size", type=int, default=None, help="use the first N characters")
    p.add_argument("--sample", type=int, default=300, help="characters to sample at the end")
    p.add_argument("--out", default="runs/char_gpt")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--preset", choices=sorted(PRESETS), default=None,
                   help="a set of defaults: gpu = nanoGPT's shakespeare-char shape, 400 steps")
    C.add_device_arg(p)
    p.add_argument("--max-gap", type=float, default=None, metavar="PCT",
                   help="with --compare: exit with status 1 when Ember's validation loss "
                        "is more than PCT%% from torch's")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--torch", action="store_true", help="run the same model under real torch")
    g.add_argument("--compare", action="store_true", help="run Ember, then torch; compare")
    preset = p.parse_known_args(argv)[0].preset
    if preset is not None:
        p.set_defaults(**PRESETS[preset])
    args = p.parse_args(argv)
    if args.max_gap is not None and not args.compare:
        p.error("--max-gap needs --compare")
    C.device(args.device)   # (exits with a message when the GPU is not there)

    path = args.path or default_path()
    with open(path, encoding="utf-8") as fh:
        text = fh.read()[:args.text_size]
    print(f"{path}: {len(text):,} characters")
    libs = ["ember", "torch"] if args.compare else ["torch" if args.torch else "ember"]
    results = {}
    for lib_name in libs:
        t0 = time.perf_counter()
        history, model, tok = train(args, lib_name, text)
        secs = time.perf_counter() - t0
        results[lib_name] = history.last("val_loss")
        out = args.out if len(libs) == 1 else os.path.join(args.out, lib_name)
        os.makedirs(out, exist_ok=True)
        png = C.plot_curves(history, os.path.join(out, "loss.png"),
                            f"char GPT ({lib_name}) on {os.path.basename(path)}", x="step")
        if lib_name == "ember":
            ckpt = C.save_checkpoint(os.path.join(out, "checkpoint.ember"), model,
                                     config=vars(model.config), vocab=tok.chars,
                                     history=history.as_dict())
        else:
            import torch
            ckpt = os.path.join(out, "checkpoint.pt")
            torch.save({"model": model.state_dict(), "vocab": tok.chars}, ckpt)
        lib = ember if lib_name == "ember" else __import__("torch")
        lib.manual_seed(args.seed)
        prompt = lib.tensor([tok.encode("\n")], device=args.device)
        sample = model.generate(prompt, args.sample, temperature=0.8, top_k=20, do_sample=True)
        print(f"[{lib_name}] {args.steps} steps in {secs:.1f} s; val loss "
              f"{results[lib_name]:.4f}; checkpoint {ckpt}; curve {png}")
        print(f"[{lib_name}] sample:\n{tok.decode(sample[0].tolist())}\n")
    if args.compare:
        e, t = results["ember"], results["torch"]
        gap = 100 * (e - t) / t
        print(f"val loss: ember {e:.4f}, torch {t:.4f} ({gap:+.2f}%)")
        if args.max_gap is not None and abs(gap) > args.max_gap:
            print(f"FAIL: the gap {gap:+.2f}% exceeds --max-gap {args.max_gap}%")
            sys.exit(1)
    return results


if __name__ == "__main__":
    main()
