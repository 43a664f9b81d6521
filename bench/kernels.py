"""Why Ember has compiled kernels: the ops they replace, three ways.

    python bench/kernels.py

For each op (forward + backward, at the char GPT's sizes) prints the median
ms of Ember with its Numba kernels, Ember with NumPy only (EMBER_JIT=0),
and torch, timed in one process in alternating blocks (with bench/run.py's
pause between blocks).  Needs Numba (``pip install ember[fast]``).
"""
import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def ops(lib):
    """name -> (description, step) at the bench GPT's sizes (B 16, T 64, C 128)
    and the bench ResNet's."""
    F = lib.nn.functional
    x = lib.randn(16, 64, 128, requires_grad=True)
    ln = lib.nn.LayerNorm(128)
    h = lib.randn(16, 64, 512, requires_grad=True)
    att = lib.randn(16, 4, 64, 64, requires_grad=True)
    mask = lib.tril(lib.ones(64, 64)).view(1, 1, 64, 64) == 0
    g128, g512, g_att = lib.randn(16, 64, 128), lib.randn(16, 64, 512), lib.randn(16, 4, 64, 64)
    bn = lib.nn.BatchNorm2d(16)                 # (the bench ResNet's first block)
    img = lib.randn(32, 16, 32, 32, requires_grad=True)
    g_img = lib.randn(32, 16, 32, 32)

    def layer_norm():
        ln(x).backward(g128)

    def gelu():
        F.gelu(h).backward(g512)

    def softmax():
        F.softmax(att.masked_fill(mask, float("-inf")), dim=-1).backward(g_att)

    def batch_norm():
        bn(img).backward(g_img)

    return {"layer_norm": ("LayerNorm(128) on (16, 64, 128), fwd+bwd", layer_norm),
            "gelu": ("GELU (exact) on (16, 64, 512), fwd+bwd", gelu),
            "softmax": ("masked_fill + softmax on (16, 4, 64, 64), fwd+bwd", softmax),
            "batch_norm": ("BatchNorm2d(16) training on (32, 16, 32, 32), fwd+bwd", batch_norm)}


def _block(step, n):
    t0 = time.perf_counter()
    for _ in range(n):
        step()
    return (time.perf_counter() - t0) / n


def main(argv=None):
    # (parsed first, so --help prints this and runs nothing)
    argparse.ArgumentParser(description=__doc__.split("\n")[0],
                            epilog="Prints one table; takes no options.").parse_args(argv)
    # Imported only now: --help needs none of them (torch alone takes ~2 s of CPU).
    import torch
    import ember
    from ember.backends.cpu import _jit
    from run import GAP
    if not _jit.available():
        print("Numba is not installed: nothing to compare (pip install ember[fast])")
        return 1
    ember.manual_seed(0)
    torch.manual_seed(0)
    mine, theirs = ops(ember), ops(torch)
    print(f"numba on vs off vs torch {torch.__version__} (threads {torch.get_num_threads()}), "
          "median ms of fwd+bwd")
    print(f"{'op':12s} {'kernels':>9s} {'numpy':>9s} {'torch':>9s}  {'numpy/kernels':>13s}  "
          f"{'kernels/torch':>13s}  description")
    for name, (desc, step_e) in mine.items():
        step_t = theirs[name][1]
        times = {"kernels": [], "numpy": [], "torch": []}
        for _ in range(3):                      # warm-up (and compile)
            for on in (True, False):
                _jit.set_enabled(on)
                step_e()
            step_t()
        for _ in range(7):
            for key in times:
                time.sleep(GAP)
                if key == "torch":
                    times[key].append(_block(step_t, 20))
                else:
                    _jit.set_enabled(key == "kernels")
                    times[key].append(_block(step_e, 20))
        _jit.set_enabled(True)
        k, n, t = (statistics.median(times[key]) * 1e3 for key in ("kernels", "numpy", "torch"))
        print(f"{name:12s} {k:9.3f} {n:9.3f} {t:9.3f}  {n / k:13.2f}  {k / t:13.2f}  {desc}",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
