"""Memory: graphs and saved arrays are freed, nothing leaks over training.

* backward releases every saved array at once (the graph may stay alive);
* graphs are freed by reference counting alone -- no reference cycles
  (tested with the garbage collector off), whatever was used: custom
  Functions saving their outputs, hooks, retain_grad, views and in-place
  ops, modules and optimizers;
* a training loop keeps memory flat (tracemalloc sees NumPy's arrays): a
  short run here, 1,000 steps with RSS too under ``-m slow``.
"""
import gc
import tracemalloc
import weakref

import numpy as np
import pytest

import ember
import ember.nn as nn
import ember.nn.functional as F


class _NoGC:
    """Garbage collector off inside: what isn't freed by refcounting stays.

    The objects alive on entry (torch, the test modules: ~10^6 of them in a
    full run) are frozen, so ``gc.collect()`` inside and on exit only walks
    what the test made since, instead of the whole heap each time; refcounting
    and the cycles among new objects are untouched.  Garbage made before entry
    is frozen too, so it is not counted inside (and is not collected on entry
    either: a full collection of that heap took ~0.2 s of CPU per block).  The
    loops below run a step before entering and at least three inside, so a
    step's graph always dies inside the block, where its cycles would be counted."""

    def __enter__(self):
        gc.freeze()
        self._was = gc.isenabled()
        gc.disable()
        return self

    def __exit__(self, *exc):
        if self._was:
            gc.enable()
        gc.collect()
        gc.unfreeze()


def _nodes(t):
    """Every node reachable from ``t.grad_fn``."""
    out, stack, seen = [], [t.grad_fn], set()
    while stack:
        n = stack.pop()
        if n is None or id(n) in seen:
            continue
        seen.add(id(n))
        out.append(n)
        stack.extend(m for m, _ in n.next_functions)
    return out


def _saved_arrays(nodes):
    arrs = []
    for n in nodes:
        saved = n._saved
        if isinstance(saved, tuple):
            arrs += [s for s in saved if isinstance(s, np.ndarray)]
    return arrs


def _alive(refs):
    return [r() for r in refs if r() is not None]


# ---- saved arrays and graphs ---------------------------------------------------------

def test_backward_frees_saved_arrays_while_the_graph_lives():
    x = ember.randn(64, 64, requires_grad=True)
    w = ember.randn(64, 64, requires_grad=True)
    loss = (x @ w).tanh().exp().sigmoid().sum()
    nodes = _nodes(loss)
    # intermediates saved for backward: the only references are the nodes'
    inter = [a for a in _saved_arrays(nodes) if a is not x._data and a is not w._data]
    assert len(inter) >= 3
    refs = [weakref.ref(a) for a in inter]
    del inter
    with _NoGC():
        loss.backward()
        assert _alive(refs) == []
    assert loss.grad_fn is not None  # the graph itself is still there...
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        loss.backward()              # ...but its saved arrays are gone, as in torch


def test_retain_graph_keeps_saved_arrays_until_the_graph_goes():
    x = ember.randn(32, requires_grad=True)
    loss = x.exp().tanh().sum()
    refs = [weakref.ref(a) for a in _saved_arrays(_nodes(loss)) if a is not x._data]
    node_refs = [weakref.ref(n) for n in _nodes(loss)]
    with _NoGC():
        loss.backward(retain_graph=True)
        assert len(_alive(refs)) == len(refs)
        loss.backward()
        np.testing.assert_allclose(x.grad.numpy(), 2 * _dtanh_exp(x.detach().numpy()), rtol=1e-5)
        del loss
        assert _alive(refs) == [] and _alive(node_refs) == []


def _dtanh_exp(x):
    return (1 - np.tanh(np.exp(x)) ** 2) * np.exp(x)


def _graph_is_freed(build):
    """``build()`` returns tensors; after dropping them, every node, tensor and
    saved array must be gone without the garbage collector."""
    with _NoGC():
        outs = build()
        outs = outs if isinstance(outs, (tuple, list)) else (outs,)
        nodes = [n for o in outs if isinstance(o, ember.Tensor) for n in _nodes(o)]
        refs = [weakref.ref(o) for o in outs if isinstance(o, ember.Tensor)]
        refs += [weakref.ref(n) for n in nodes]
        refs += [weakref.ref(a) for a in _saved_arrays(nodes)]
        del outs, nodes
        alive = _alive(refs)
        assert alive == [], f"kept alive by a reference cycle: {[type(a).__name__ for a in alive]}"


def test_graph_freed_without_backward():
    def build():
        x = ember.randn(8, 8, requires_grad=True)    # a temporary leaf: leaf <-> node cycle?
        return (x * 2).exp().sum(), x
    _graph_is_freed(build)


def test_graph_freed_after_backward():
    def build():
        x = ember.randn(8, 8, requires_grad=True)
        y = (x.relu() @ x.t()).logsumexp(1).mean()
        y.backward()
        return y, x
    _graph_is_freed(build)


class _SquareSavingOutput(ember.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        y = x * x
        ctx.save_for_backward(x, y)   # output saved: output -> ctx -> output
        return y

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        assert y.grad_fn is not None   # the saved output comes back connected
        return 2 * x * g


def test_custom_function_saving_its_output_makes_no_cycle():
    def build():
        x = ember.randn(5, requires_grad=True)
        return _SquareSavingOutput.apply(x), x
    _graph_is_freed(build)

    def build_and_backward():
        x = ember.randn(5, requires_grad=True)
        y = _SquareSavingOutput.apply(x)
        y.sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), 2 * x.detach().numpy())
        return y, x
    _graph_is_freed(build_and_backward)


def test_custom_function_saved_output_double_backward():
    x = ember.tensor([1.0, 2.0, 3.0], dtype=ember.float64, requires_grad=True)

    class Cube(ember.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            y = x * x * x
            ctx.save_for_backward(x, y)
            return y

        @staticmethod
        def backward(ctx, g):
            x, y = ctx.saved_tensors
            return g * 3 * y / x   # uses the saved output: must be differentiable

    y = Cube.apply(x)
    g, = ember.autograd.grad(y.sum(), x, create_graph=True)
    g2, = ember.autograd.grad(g.sum(), x)
    np.testing.assert_allclose(g2.numpy(), 6 * x.detach().numpy())


def test_hooks_retain_grad_views_inplace_make_no_cycle():
    def build():
        x = ember.randn(4, 6, requires_grad=True)
        x.register_hook(lambda g: g * 2)
        y = x * 3
        y.retain_grad()
        v = y[1:]                      # a view of a non-leaf...
        v.mul_(2)                      # ...changed in place (rebases y: CopySlices)
        w = y.view(24)                 # a sibling view, regenerated after the change
        z = (v.exp().sum() + w.sum())
        z.register_hook(lambda g: g)
        z.backward()
        return z, y, v, w, x
    _graph_is_freed(build)


def test_create_graph_grad_makes_no_cycle():
    def build():
        x = ember.randn(5, dtype=ember.float64, requires_grad=True)
        y = (x.sin() * x).sum()
        g, = ember.autograd.grad(y, x, create_graph=True)
        g2, = ember.autograd.grad(g.sum(), x)
        return y, g, g2, x
    _graph_is_freed(build)


def test_leaf_gradient_is_adopted_not_shared():
    """backward hands a fresh gradient array to .grad without copying it, but
    never one that something else still holds."""
    a = ember.randn(3, requires_grad=True)
    b = ember.randn(3, requires_grad=True)
    (a + b).sum().backward()                   # Add sends the same array to both
    assert not np.shares_memory(a.grad.numpy(), b.grad.numpy())
    a.grad.add_(1)
    np.testing.assert_array_equal(b.grad.numpy(), np.ones(3, np.float32))

    kept = []
    c = ember.randn(3, requires_grad=True)
    c.register_hook(lambda g: kept.append(g))  # a hook keeps the incoming gradient
    (c * 2).sum().backward()
    c.grad.zero_()
    np.testing.assert_array_equal(kept[0].numpy(), np.full(3, 2, np.float32))

    class Fresh(ember.autograd.Function):
        arr = None

        @staticmethod
        def forward(ctx, x):
            return x * 1

        @staticmethod
        def backward(ctx, g):
            arr = np.full(3, 7.0, dtype=np.float32)
            Fresh.arr = weakref.ref(arr)
            return ember.from_numpy(arr)

    d = ember.randn(3, requires_grad=True)
    if d.device.type != "cpu":
        return      # (a CPU gradient for another device's leaf is refused, as torch refuses it)
    Fresh.apply(d).sum().backward()
    assert d.grad.numpy() is Fresh.arr()       # adopted: no copy


def test_leaf_gradient_view_adopted_only_when_sole_holder_of_its_base():
    """A gradient that is a reshaped view of a fresh array (a conv's weight
    gradient) is adopted when it alone holds that array; two views of one
    array, or a view of part of one, are copied."""
    class Views(ember.autograd.Function):
        base = None

        @staticmethod
        def forward(ctx, x, y):
            return x * 1 + y.sum()

        @staticmethod
        def backward(ctx, g):
            buf = np.arange(6, dtype=np.float32)
            Views.base = weakref.ref(buf)
            if Views.mode == "sole":
                return ember.from_numpy(buf.reshape(2, 3)), None
            if Views.mode == "two":
                return ember.from_numpy(buf.reshape(2, 3)), ember.from_numpy(buf.reshape(3, 2))
            return ember.from_numpy(buf[:6].reshape(2, 3)), ember.from_numpy(buf[:4].reshape(2, 2))

    x = ember.zeros(2, 3, requires_grad=True)
    if x.device.type != "cpu":
        return      # (a CPU gradient for another device's leaf is refused, as torch refuses it)
    Views.mode = "sole"
    Views.apply(x, ember.zeros(3, 2)).sum().backward()
    base = Views.base()
    assert base is not None and x.grad.numpy().base is base     # adopted: no copy
    del base
    for mode, shape in (("two", (3, 2)), ("part", (2, 2))):
        x = ember.zeros(2, 3, requires_grad=True)
        y = ember.zeros(*shape, requires_grad=True)
        Views.mode = mode
        Views.apply(x, y).sum().backward()
        assert not np.shares_memory(x.grad.numpy(), y.grad.numpy())
        x.grad.add_(100)
        np.testing.assert_array_equal(y.grad.numpy().reshape(-1), np.arange(y.numel()))


# ---- training loops ----------------------------------------------------------------------

def _mlp_step(seed=0, batch=32, fresh_leaf=True):
    ember.manual_seed(seed)
    model = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(),
                          nn.Linear(64, 5))
    opt = ember.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    rng = np.random.default_rng(seed)

    def step():
        x = ember.tensor(rng.standard_normal((batch, 20)).astype(np.float32))
        if fresh_leaf:
            x.requires_grad_(True)   # a new leaf every step (e.g. adversarial training)
        y = ember.tensor(rng.integers(0, 5, batch))
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()
    return step


def test_training_step_creates_no_cyclic_garbage():
    step = _mlp_step()
    step()
    with _NoGC():
        for _ in range(5):
            step()
        assert gc.collect() == 0


def _conv_step():
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 4 * 4, 3))
    opt = ember.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = ember.randn(4, 1, 8, 8)
    y = ember.tensor([0, 1, 2, 1])

    def step():
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    return step


def test_conv_training_step_creates_no_cyclic_garbage():
    step = _conv_step()
    step()
    with _NoGC():
        for _ in range(3):
            step()
        assert gc.collect() == 0


def _traced_growth(step, first, last):
    """tracemalloc's current size at step ``first`` and ``last`` (bytes)."""
    tracemalloc.start()
    try:
        for i in range(1, last + 1):
            step()
            if i == first:
                a = tracemalloc.get_traced_memory()[0]
        b = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    return a, b


def test_memory_flat_over_a_short_run():
    a, b = _traced_growth(_mlp_step(), 30, 150)
    assert b - a < 64 * 1024, f"grew {b - a} bytes from step 30 to 150"


def _rss():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None


@pytest.mark.slow
def test_memory_flat_over_1000_steps():
    """1,000 Adam steps of an MLP: traced memory and RSS at step 100 vs 1000."""
    step = _mlp_step(batch=64)
    tracemalloc.start()
    try:
        for i in range(1, 1001):
            step()
            if i == 100:
                t100, r100 = tracemalloc.get_traced_memory()[0], _rss()
        t1000, r1000 = tracemalloc.get_traced_memory()[0], _rss()
    finally:
        tracemalloc.stop()
    print(f"\ntracemalloc: step 100 {t100 / 1024:.1f} KiB, step 1000 {t1000 / 1024:.1f} KiB "
          f"(growth {(t1000 - t100) / 1024:.1f} KiB)")
    if r100 is not None:
        print(f"RSS: step 100 {r100 / 2**20:.1f} MiB, step 1000 {r1000 / 2**20:.1f} MiB "
              f"(growth {(r1000 - r100) / 2**20:.2f} MiB)")
        assert r1000 - r100 < 16 * 2**20
    assert t1000 - t100 < 256 * 1024


def test_view_registry_of_a_long_lived_base_stays_small():
    """Every forward slices the same buffer (a causal mask, say): the base's
    weak list of views drops dead entries, and live views still follow an
    in-place change to the base."""
    base = ember.zeros(8, 8).requires_grad_()
    y = base * 1.0
    for _ in range(1000):
        y[:, :4].sum()
    assert len(y._views) <= 64
    keep = y[2:4]
    y.add_(1.0)
    assert keep.grad_fn is not None and keep.grad_fn.name() == "AsStridedBackward0"
    keep.sum().backward()
    np.testing.assert_array_equal(base.grad.numpy()[2:4], np.ones((2, 8), np.float32))
