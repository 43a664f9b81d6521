"""Generate text with a GPT-2 checkpoint (a Hugging Face model directory).

    python examples/gpt2_generate.py CHECKPOINT_DIR --prompt "Hello, my name is"
    python examples/gpt2_generate.py DIR --prompt "Once upon a time" --sample --top-p 0.9
    python examples/gpt2_generate.py DIR --device cuda   # on a GPU

CHECKPOINT_DIR holds config.json and model.safetensors (e.g. what
``transformers.GPT2LMHeadModel.save_pretrained(dir)`` writes, or a downloaded
``gpt2`` snapshot), plus vocab.json and merges.txt for the tokenizer; without
those pass token ids with ``--ids 15496,11``.  Decoding is greedy unless
``--sample``; it uses the KV cache unless ``--no-cache``.  Nothing is
downloaded.
"""
import argparse
import os
import sys
import time

import _common  # first: it caps BLAS threads before NumPy loads

import ember
from ember.models import GPT


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("checkpoint", help="directory with config.json and model.safetensors")
    p.add_argument("--prompt", default="Hello, I'm a language model,")
    p.add_argument("--ids", default=None, help="comma-separated prompt token ids (no tokenizer)")
    p.add_argument("--max-new-tokens", type=int, default=40)
    p.add_argument("--sample", action="store_true", help="sample instead of greedy decoding")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--top-k", type=int, default=None)
    p.add_argument("--top-p", type=float, default=None)
    p.add_argument("--num-samples", type=int, default=1)
    p.add_argument("--no-cache", action="store_true", help="recompute the context every token")
    p.add_argument("--seed", type=int, default=0)
    _common.add_device_arg(p)
    args = p.parse_args(argv)
    device = _common.device(args.device)

    if not os.path.isfile(os.path.join(args.checkpoint, "config.json")):
        print(f"{args.checkpoint}: no config.json (expected a Hugging Face GPT-2 directory)",
              file=sys.stderr)
        sys.exit(2)
    model = GPT.from_pretrained(args.checkpoint).eval().to(device)
    tok = None
    if os.path.isfile(os.path.join(args.checkpoint, "vocab.json")):
        from ember.text import GPT2Tokenizer
        tok = GPT2Tokenizer.from_pretrained(args.checkpoint)
    if args.ids is not None:
        ids = [int(i) for i in args.ids.split(",") if i.strip()]
    elif tok is not None:
        ids = tok.encode(args.prompt)
    else:
        print("no vocab.json/merges.txt in the checkpoint: pass --ids", file=sys.stderr)
        sys.exit(2)
    if not ids:
        ids = [tok.eos_token_id if tok is not None else 0]  # start from <|endoftext|>
    c = model.config
    print(f"GPT-2: {c.n_layer} layers, {c.n_head} heads, {c.n_embd} wide, vocab {c.vocab_size}; "
          f"{model.num_params():,} parameters")

    ember.manual_seed(args.seed)
    idx = ember.tensor([ids] * args.num_samples, device=device)
    t0 = time.perf_counter()
    out = model.generate(idx, args.max_new_tokens, temperature=args.temperature, top_k=args.top_k,
                         top_p=args.top_p, do_sample=args.sample, use_cache=not args.no_cache)
    if device.type == "cuda":
        ember.cuda.synchronize()   # (GPU kernels run asynchronously: time them all)
    secs = time.perf_counter() - t0
    results = []
    for row in out.tolist():
        text = tok.decode(row) if tok is not None else " ".join(map(str, row))
        results.append(row)
        print("-" * 60)
        print(text)
    n = args.max_new_tokens * args.num_samples
    print("-" * 60)
    print(f"{n} tokens in {secs:.2f} s ({n / max(secs, 1e-9):.1f} tokens/s, "
          f"{'no cache' if args.no_cache else 'KV cache'})")
    return results


if __name__ == "__main__":
    main()
