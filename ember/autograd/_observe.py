"""Watching every op run -- for the profiler and for ``SummaryWriter.add_graph``
-- at no cost while no one watches.

Every op, whichever path calls it (``Op.apply``, the operator fast paths in
``ops/elementwise.py``, a custom ``Function``), ends in its class's
``forward``; every backward node ends in its class's ``backward`` (or, for a
leaf, in the engine's ``_accumulate_leaf``).  So rather than test a flag on
every call, a watcher's arrival replaces those methods on every Function
subclass with a wrapper that reports to the watchers, and its departure puts
the originals back.  Ops run exactly the code they ran before when nothing
watches.

A watcher is an object with two methods, each of which must call ``run()``
exactly once and return its result:

* ``forward(cls, args, run)`` -- ``args`` are what forward got (raw arrays
  for Ember's own Ops, Tensors for a custom Function; ``ctx`` first);
* ``backward(node, grads, run)`` -- ``node`` is the graph node being run (an
  ``AccumulateGrad`` for a leaf), ``grads`` the gradients it received.

Classes defined while a watcher is active are not watched.  Watchers see
every thread's ops (as torch's profiler does).
"""
import functools
import threading

from .function import Function
from . import engine as _engine

_LOCK = threading.Lock()
_watchers = []          # the active watchers, outermost first
_originals = {}         # class -> {"forward": raw attribute or None, "backward": ...}
_accumulate_leaf = None  # the engine's own _accumulate_leaf while patched


def active():
    """True while some watcher is installed."""
    return bool(_watchers)


def add(watcher):
    """Start reporting every op to ``watcher`` (until ``remove``)."""
    with _LOCK:
        if not _watchers:
            _install()
        _watchers.append(watcher)


def remove(watcher):
    with _LOCK:
        if watcher in _watchers:
            _watchers.remove(watcher)
            if not _watchers:
                _uninstall()


def _function_classes():
    seen = []
    stack = [Function]
    found = set()
    while stack:
        for sub in stack.pop().__subclasses__():
            if sub not in found:
                found.add(sub)
                seen.append(sub)
                stack.append(sub)
    return seen


def _chain(kind, first, args, run):
    """Call the watchers' ``kind`` method, each wrapping the next; the last
    one wraps the real call."""
    ws = _watchers
    if len(ws) == 1:
        return getattr(ws[0], kind)(first, args, run)
    ws = list(ws)
    call = run
    for w in reversed(ws):
        call = functools.partial(getattr(w, kind), first, args, call)
    return call()


def _watch_forward(cls, bound):
    def forward(*args, **kwargs):
        return _chain("forward", cls, args, lambda: bound(*args, **kwargs))
    return forward


def _watch_backward(bound):
    def backward(ctx, *grads):
        return _chain("backward", ctx, grads, lambda: bound(ctx, *grads))
    if getattr(bound, "_once_differentiable", False):
        backward._once_differentiable = True   # (the engine asks, see _call_node)
    return backward


def _watch_accumulate(orig):
    def accumulate_leaf(node, g, create_graph):
        return _chain("backward", node, (g,), lambda: orig(node, g, create_graph))
    return accumulate_leaf


def _install():
    global _accumulate_leaf
    classes = _function_classes()
    # Resolve every original first: once a parent is patched, a subclass
    # that inherits forward would otherwise find the parent's wrapper.
    plan = []
    for cls in classes:
        fwd, bwd = cls.forward, cls.backward     # (plain or bound functions)
        plan.append((cls, fwd, bwd))
        _originals[cls] = {name: cls.__dict__.get(name) for name in ("forward", "backward")}
    for cls, fwd, bwd in plan:
        cls.forward = staticmethod(_watch_forward(cls, fwd))
        cls.backward = staticmethod(_watch_backward(bwd))
    _accumulate_leaf = _engine._accumulate_leaf
    _engine._accumulate_leaf = _watch_accumulate(_accumulate_leaf)


def _uninstall():
    global _accumulate_leaf
    for cls, attrs in _originals.items():
        for name, raw in attrs.items():
            if raw is None:
                delattr(cls, name)     # (it was inherited: inherit it again)
            else:
                setattr(cls, name, raw)
    _originals.clear()
    _engine._accumulate_leaf = _accumulate_leaf
    _accumulate_leaf = None


# torch's names for the ops whose Ember class name doesn't lower-case into one.
_TORCH_NAMES = {
    "AddMm": "addmm", "BaddBmm": "baddbmm", "MatMul": "matmul", "Linear": "linear",
    "CrossEntropy": "cross_entropy_loss", "LogSoftmax": "log_softmax", "NLLLoss": "nll_loss",
    "MSELoss": "mse_loss", "L1Loss": "l1_loss", "LayerNorm": "layer_norm",
    "GroupNorm": "group_norm", "RMSNorm": "rms_norm", "Conv": "convolution",
    "ConvT": "convolution", "MaxPool": "max_pool", "AvgPool": "avg_pool", "GELU": "gelu",
    "SiLU": "silu", "ELU": "elu", "LeakyReLU": "leaky_relu", "BCE": "binary_cross_entropy",
    "BCEWithLogits": "binary_cross_entropy_with_logits", "SDPA": "scaled_dot_product_attention",
    "LSTMLayer": "lstm", "GRULayer": "gru", "RNNLayer": "rnn", "SmoothL1Loss": "smooth_l1_loss",
    "HuberLoss": "huber_loss", "IndexSelect": "index_select", "MaskedFill": "masked_fill",
    "AdvIndex": "index", "SliceView": "slice", "Cast": "to", "ToDevice": "to",
    "LogSumExp": "logsumexp", "VectorNorm": "linalg_vector_norm", "Embedding": "embedding",
    "Dropout": "dropout", "Softplus": "softplus", "Hardtanh": "hardtanh",
}


def op_name(cls):
    """What the profiler and the graph call an op: torch's ``aten::`` name for
    Ember's own ops (``_Linear`` -> ``aten::linear``), the class name for a
    custom Function (as torch's profiler)."""
    name = cls.__name__
    if not cls._raw:
        return name
    base = name.lstrip("_")
    return "aten::" + _TORCH_NAMES.get(base, base.lower())
