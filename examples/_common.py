"""What every example shares: finding the data, the training loop, metrics,
checkpoints and learning-curve plots.

Import this module BEFORE ember/numpy in a script: it caps the BLAS thread
pool (see below), which only works before NumPy loads.

The training loop (``fit``) is written against torch's API and takes the
library as an argument, so the accuracy tests run the very same loop with
``ember`` and with ``torch`` and compare.
"""
import argparse
import contextlib
import math
import os
import sys
import time

# One BLAS thread unless the user chose otherwise.  The matrices in these
# models are small, and on a machine whose cores are busy OpenBLAS's
# spinning worker threads make each product 10-50x slower (measured: a
# LeNet step at batch 64 went from ~40 ms to ~470 ms with 2 threads on 2
# shared cores).  The variables only work before NumPy is first imported,
# i.e. when a script imports this first; a process that already has NumPy
# (tests, notebooks) is left alone and can use ``blas_threads`` below.
if "numpy" not in sys.modules:
    for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402


def _openblas_threads_api():
    """(get, set) of the OpenBLAS NumPy loaded, via ctypes, or None (another
    BLAS, or not Linux).  For processes where NumPy was imported before this
    module, so the environment variable above came too late."""
    import ctypes
    try:
        with open("/proc/self/maps") as f:
            paths = sorted({ln.split()[-1] for ln in f if "openblas" in ln.lower()})
    except OSError:
        return None
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for pre, suf in (("scipy_openblas", "64_"), ("openblas", "64_"), ("openblas", "")):
            get = getattr(lib, f"{pre}_get_num_threads{suf}", None)
            put = getattr(lib, f"{pre}_set_num_threads{suf}", None)
            if get and put:
                return get, put
    return None


@contextlib.contextmanager
def blas_threads(n=1):
    """Run the block with NumPy's OpenBLAS limited to ``n`` threads (a no-op
    where that can't be done); the old count is restored after."""
    api = _openblas_threads_api()
    if api is None:
        yield
        return
    old = api[0]()
    api[1](n)
    try:
        yield
    finally:
        api[1](old)

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081
MNIST_TRAIN = 8000  # fixed split of the 10,000 official test digits: first 8,000 train

DATA_HELP = """\
The MNIST test files were not found{where}.
Put the two official files
    t10k-images-idx3-ubyte.gz   t10k-labels-idx1-ubyte.gz
in DIR/mnist/ (or DIR/ itself) and run with --data DIR or EMBER_DATA=DIR.
Nothing is downloaded: examples run offline."""


# ---- command line and data ------------------------------------------------------------

def parser(description, epochs, batch_size, lr, out, device=True):
    """An argparse parser with the flags every example has (``--device`` unless
    ``device=False``: the scalar example has no tensors to move)."""
    p = argparse.ArgumentParser(description=description,
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data", default=None,
                   help="data folder (default: $EMBER_DATA, else ../shared/data when present)")
    p.add_argument("--epochs", type=int, default=epochs, help="passes over the training set")
    p.add_argument("--steps", type=int, default=None,
                   help="stop each epoch after this many batches (quick runs)")
    p.add_argument("--batch-size", type=int, default=batch_size)
    p.add_argument("--lr", type=float, default=lr, help="learning rate")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=out, help="folder for the checkpoint and the curve PNG")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    if device:
        add_device_arg(p)
    return p


def add_device_arg(p):
    """``--device``, as in pytorch/examples: where the model and batches live."""
    p.add_argument("--device", default="cpu",
                   help='"cpu", or "cuda" / "cuda:N" for a GPU (needs CuPy: pip install -e '
                        '".[cuda]")')
    return p


def device(name):
    """``ember.device(name)``; exits with status 2 and a message when it names a GPU
    Ember cannot use here, instead of failing at the first tensor moved."""
    import ember
    dev = ember.device(name)
    if dev.type == "cuda" and not ember.cuda.is_available():
        print(f"--device {name}: Ember has no GPU here (ember.cuda.is_available() is False; "
              f"it needs an NVIDIA GPU and CuPy, see the README's GPU section)",
              file=sys.stderr)
        sys.exit(2)
    return dev


def data_root(arg):
    """The data folder: ``arg``, else ember.datasets.default_data_root(); exits
    with status 2 and a message saying where to put the files when none exists."""
    from ember.datasets import default_data_root
    root = arg or default_data_root()
    if root is None or not os.path.isdir(root):
        where = f" (no folder {root})" if root else " (no --data, EMBER_DATA or ../shared/data)"
        missing_data(where)
    return root


def missing_data(where=""):
    print(DATA_HELP.format(where=where), file=sys.stderr)
    sys.exit(2)


def load_mnist_split(root, train_size=None, test_size=None):
    """The fixed MNIST split: the first 8,000 of the 10,000 official test digits
    to train, the last 2,000 to test.

    Returns ``((x_train, y_train), (x_test, y_test))``: images (N, 1, 28, 28)
    float32 normalised with MNIST's mean and std, labels (N,) int64.
    ``train_size`` / ``test_size`` keep only the first so many (quick runs).
    Exits with status 2 and a message when the files are not under ``root``.
    """
    from ember.datasets import MNIST
    try:
        ds = MNIST(root, train=False)
    except FileNotFoundError:
        missing_data(f" under {root}")
    x = ((ds.data.float() / 255.0 - MNIST_MEAN) / MNIST_STD).unsqueeze(1)
    y = ds.targets
    train = x[:MNIST_TRAIN][:train_size], y[:MNIST_TRAIN][:train_size]
    test = x[MNIST_TRAIN:][:test_size], y[MNIST_TRAIN:][:test_size]
    return train, test


def to_lib(t, lib):
    """The same values as a tensor of ``lib`` (ember or torch)."""
    return lib.from_numpy(np.array(t.detach().numpy()))


# ---- progress and metrics -------------------------------------------------------------

def progress(iterable, desc, enabled=True, total=None):
    """A tqdm progress bar over ``iterable`` (plain iteration without tqdm)."""
    if not enabled:
        return _NoBar(iterable)
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return _NoBar(iterable)
    return tqdm(iterable, desc=desc, total=total, leave=False, dynamic_ncols=True,
                mininterval=0.5, file=sys.stderr)


class _NoBar:
    def __init__(self, iterable):
        self.iterable = iterable

    def __iter__(self):
        return iter(self.iterable)

    def set_postfix(self, *args, **kwargs):
        pass

    def write(self, msg):
        """As tqdm's ``bar.write``: a line of output (there is no bar to keep clear)."""
        print(msg)

    def close(self):
        pass


class History:
    """Per-epoch metrics: ``h.add(epoch=1, train_loss=0.3, ...)``, ``h["train_loss"]``."""

    def __init__(self):
        self.rows = []

    def add(self, **metrics):
        self.rows.append(metrics)
        return self

    def __getitem__(self, name):
        return [r[name] for r in self.rows if name in r]

    def last(self, name):
        return self[name][-1]

    def as_dict(self):
        names = []
        for r in self.rows:
            names += [n for n in r if n not in names]
        return {n: self[n] for n in names}

    @staticmethod
    def format(row):
        parts = []
        for k, v in row.items():
            if k.endswith("acc"):
                parts.append(f"{k} {100 * v:.2f}%")
            elif k == "seconds":
                parts.append(f"({v:.1f} s)")
            elif isinstance(v, float):
                parts.append(f"{k} {v:.4f}")
            else:
                parts.append(f"{k} {v}")
        return "  ".join(parts)


def plot_curves(history, path, title, x="epoch"):
    """Save a PNG of the curves in ``history``: one panel of losses, one of
    accuracies when there are any.  Uses matplotlib's Agg backend (no display)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = history.as_dict()
    xs = data.pop(x, None) or list(range(1, len(history.rows) + 1))
    groups = [[k for k in data if "loss" in k], [k for k in data if k.endswith("acc")]]
    groups = [g for g in groups if g]
    fig, axes = plt.subplots(1, len(groups), figsize=(5 * len(groups), 3.6), squeeze=False)
    for ax, keys in zip(axes[0], groups):
        for k in keys:
            vals = data[k]
            if k.endswith("acc"):
                vals = [100 * v for v in vals]
            ax.plot(xs[:len(vals)], vals, marker="o" if len(vals) < 30 else None, label=k)
        ax.set_xlabel(x)
        ax.set_ylabel("accuracy (%)" if keys[0].endswith("acc") else "loss")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def save_checkpoint(path, model, optimizer=None, **extra):
    """``ember.save`` the model's (and optimizer's) state dict plus ``extra``."""
    import ember
    state = {"model": model.state_dict()}
    if optimizer is not None:
        state["optimizer"] = optimizer.state_dict()
    state.update(extra)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    ember.save(state, path)
    return path


# ---- the classification training loop ------------------------------------------------

def evaluate(model, data, lib, batch_size=500, device=None):
    """Mean cross-entropy and accuracy of ``model`` on ``data = (x, y)``; each
    batch is moved to ``device`` (when given) on its way to the model."""
    F = lib.nn.functional
    x, y = data
    model.eval()
    total_loss, correct = 0.0, 0
    with lib.no_grad():
        for i in range(0, len(y), batch_size):
            xb, yb = x[i:i + batch_size], y[i:i + batch_size]
            if device is not None:
                xb, yb = xb.to(device), yb.to(device)
            logits = model(xb)
            total_loss += F.cross_entropy(logits, yb, reduction="sum").item()
            correct += (logits.argmax(1) == yb).sum().item()
    n = max(len(y), 1)
    return total_loss / n, correct / n


def fit(model, optimizer, train, test, lib, epochs, batch_size, seed=0, steps=None,
        scheduler=None, show_progress=True, log=print, desc="", device=None):
    """Train ``model`` on ``train = (x, y)`` with cross-entropy; after each epoch
    evaluate on ``test`` and log one line of metrics.  Returns a History.

    Works with ``lib=ember`` or ``lib=torch``: batches come from a NumPy
    generator seeded with ``seed``, so both libraries see the same batches in
    the same order.  ``scheduler`` (if any) is stepped once per batch.  The data
    stays where it is; each batch is moved to ``device`` (when given), where the
    model must already be.
    """
    F = lib.nn.functional
    x, y = train
    n = len(y)
    rng = np.random.default_rng(seed)
    n_batches = math.ceil(n / batch_size)
    if steps is not None:
        n_batches = min(n_batches, steps)
    history = History()
    for epoch in range(1, epochs + 1):
        model.train()
        order = rng.permutation(n)
        seen, loss_sum, correct = 0, 0.0, 0
        t0 = time.perf_counter()
        bar = progress(range(n_batches), f"{desc}epoch {epoch}/{epochs}", show_progress)
        for b in bar:
            # (the indices go where the data is, which need not be the model's device)
            idx = lib.from_numpy(order[b * batch_size:(b + 1) * batch_size]).to(x.device)
            xb, yb = x[idx], y[idx]
            if device is not None:
                xb, yb = xb.to(device), yb.to(device)
            logits = model(xb)
            loss = F.cross_entropy(logits, yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            k = len(yb)
            seen += k
            loss_sum += loss.item() * k
            correct += (logits.argmax(1) == yb).sum().item()
            bar.set_postfix(loss=f"{loss_sum / seen:.4f}", acc=f"{100 * correct / seen:.1f}%",
                            refresh=False)
        bar.close()
        test_loss, test_acc = evaluate(model, test, lib, device=device)
        history.add(epoch=epoch, train_loss=loss_sum / max(seen, 1),
                    train_acc=correct / max(seen, 1), test_loss=test_loss, test_acc=test_acc,
                    seconds=round(time.perf_counter() - t0, 1))
        log(History.format(history.rows[-1]))
    return history


def mnist_parser(description, epochs, batch_size, lr, out):
    """``parser`` plus the MNIST examples' flags (--train-size/--test-size)."""
    p = parser(description, epochs, batch_size, lr, out)
    p.add_argument("--train-size", type=int, default=None,
                   help="use only the first N of the 8,000 training digits")
    p.add_argument("--test-size", type=int, default=None,
                   help="use only the first N of the 2,000 test digits")
    return p


def finish(model, optimizer, history, args, title):
    """Save the checkpoint and the curve PNG into ``args.out``; print where."""
    ckpt = save_checkpoint(os.path.join(args.out, "checkpoint.ember"), model, optimizer,
                           history=history.as_dict(), args=vars(args))
    png = plot_curves(history, os.path.join(args.out, "curves.png"), title)
    print(f"checkpoint: {ckpt}")
    print(f"curves: {png}")
    return ckpt, png
