"""The backward pass: one iterative topological walk over the recorded graph.

``backward`` accumulates into leaves' ``.grad``; ``grad`` returns gradients
for chosen inputs and runs only the part of the graph that leads to them.
Saved arrays are released as soon as a node has run (unless
``retain_graph``), so memory falls as the walk proceeds.
"""
import threading
from heapq import heappop, heappush
from sys import getrefcount

import numpy as np

from .._dtype import _FROM_NP
from ..backends import (ARRAY_TYPES as _ARRAYS, asarray as _asarray, namespace as _ns, quiet,
                        kernels as _kernels)
from ..backends.generic.elementwise import LARGE as _LARGE
from ..backends._sparse import SparseData as _SparseData
from .._tensor_base import TensorBase, _wrap
from . import _checks
from ._sum_to import sum_to as _sum_to
from .function import AccumulateGrad, _FREED, _BACKWARD_FREED_MSG, _edge
from .grad_mode import state as _gm
from .anomaly import state as _anomaly
from .._bfloat16 import is_float as _isf

__all__ = ["backward", "grad", "run_backward"]


def _as_tuple(x):
    if x is None:
        return None
    if isinstance(x, (tuple, list)):
        return tuple(x)
    return (x,)


def _root_edge(t, i):
    if not t.requires_grad:
        raise RuntimeError(f"element {i} of tensors does not require grad and does not have a grad_fn")
    e = _edge(t)
    return (e[0], e[1])


def _root_grads(tensors, grad_tensors, create_graph):
    if grad_tensors is None:
        grad_tensors = (None,) * len(tensors)
    if len(grad_tensors) != len(tensors):
        raise RuntimeError(f"grad can be implicitly created only for scalar outputs: got "
                           f"{len(grad_tensors)} gradients for {len(tensors)} tensors")
    out = []
    for i, (t, g) in enumerate(zip(tensors, grad_tensors)):
        if g is None:
            if t._data.size != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            if t._data.dtype.kind == "c":
                raise RuntimeError("grad can be implicitly created only for real scalar outputs "
                                   f"but got ember.{_FROM_NP[t._data.dtype].name}")
            g = _ns(t._data).ones_like(t._data)
        elif isinstance(g, TensorBase):
            if g.shape != t.shape:
                raise RuntimeError(f"Mismatch in shape: grad_output[{i}] has a shape of "
                                   f"{g.shape} and output[{i}] has a shape of {t.shape}.")
            if create_graph:
                out.append(g)
                continue
            g = g._data
        else:
            g = _asarray(g, dtype=t._data.dtype)
            if g.shape != t._data.shape:
                raise RuntimeError(f"Mismatch in shape: grad_output[{i}] has a shape of "
                                   f"{tuple(g.shape)} and output[{i}] has a shape of {t.shape}.")
        out.append(_wrap(g) if create_graph else g)
    return out


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False,
             grad_variables=None, inputs=None):
    """Accumulate d(tensors)/d(leaf) into every leaf's ``.grad``.

    ``inputs``, when given, limits accumulation to those tensors.
    """
    tensors = _as_tuple(tensors)
    if grad_tensors is None:
        grad_tensors = grad_variables
    grad_tensors = _as_tuple(grad_tensors)
    if retain_graph is None:
        retain_graph = create_graph
    roots = [_root_edge(t, i) for i, t in enumerate(tensors)]
    grads = _root_grads(tensors, grad_tensors, create_graph)
    targets = None
    if inputs is not None:
        inputs = _as_tuple(inputs)
        if len(inputs) == 0:
            raise RuntimeError("'inputs' argument to backward() cannot be empty.")
        targets = [_target_edge(t, i) for i, t in enumerate(inputs)]
    run_backward(roots, grads, retain_graph, create_graph, targets, accumulate=True,
                 target_tensors=inputs)


def _target_edge(t, i):
    if not t.requires_grad:
        raise RuntimeError("One of the differentiated Tensors does not require grad")
    e = _edge(t)
    return (e[0], e[1])


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         only_inputs=True, allow_unused=None, is_grads_batched=False, materialize_grads=False):
    """Return d(outputs)/d(inputs) as a tuple, without touching ``.grad``."""
    outputs = _as_tuple(outputs)
    single = not isinstance(inputs, (tuple, list))
    inputs = _as_tuple(inputs)
    grad_outputs = _as_tuple(grad_outputs)
    if allow_unused is None:
        allow_unused = materialize_grads
    if retain_graph is None:
        retain_graph = create_graph
    roots = [_root_edge(t, i) for i, t in enumerate(outputs)]
    grads = _root_grads(outputs, grad_outputs, create_graph)
    targets = [_target_edge(t, i) for i, t in enumerate(inputs)]
    result = run_backward(roots, grads, retain_graph, create_graph, targets, accumulate=False)
    out = []
    for i, (g, t) in enumerate(zip(result, inputs)):
        if g is None:
            if materialize_grads:
                g = _ns(t._data).zeros_like(t._data)
            elif not allow_unused:
                raise RuntimeError("One of the differentiated Tensors appears to not have been "
                                   "used in the graph. Set allow_unused=True if this is the "
                                   "desired behavior.")
            else:
                out.append(None)
                continue
        out.append(g if create_graph and isinstance(g, TensorBase) else _wrap(_asarray(g)))
    return tuple(out)


def _fix(g, edge, graph):
    """Bring gradient ``g`` to the input's shape and dtype recorded on ``edge``."""
    if graph:
        if not hasattr(g, "grad_fn"):
            g = _wrap(_asarray(g))
        if g.shape != edge[2]:
            g = _sum_to(g, edge[2])
        if g._data.dtype != edge[3]:
            if g._data.dtype.kind == "c" and edge[3].kind != "c":
                g = g.real          # (a real input's gradient is the real part, as torch's)
            g = g.to(_FROM_NP[edge[3]])     # (an Ember dtype: .to takes no NumPy dtype)
        return g
    if type(g) is not np.ndarray and type(g) not in _ARRAYS:
        if hasattr(g, "grad_fn"):
            g = g._data
        else:
            g = _asarray(g, dtype=edge[3])
    if g.shape != edge[2]:
        g = _sum_to(g, edge[2])
    if g.dtype != edge[3]:
        if g.dtype.kind == "c" and edge[3].kind != "c":
            g = g.real          # (a real input's gradient is the real part, as torch's)
        g = g.astype(edge[3])
    return g


def _collect(roots, need_order):
    """Dependency counts (edges into each node) over the graph reached from roots.

    With ``need_order`` also returns nodes in post-order (inputs before users).
    """
    deps = {}
    seen = set()
    post = [] if need_order else None
    for r in roots:
        if r in seen:
            continue
        seen.add(r)
        if not need_order:
            stack = [r]
            while stack:
                n = stack.pop()
                for e in n._next:
                    if e is not None:
                        m = e[0]
                        deps[m] = deps.get(m, 0) + 1
                        if m not in seen:
                            seen.add(m)
                            stack.append(m)
            continue
        stack = [(r, 0)]
        while stack:
            n, i = stack[-1]
            nx = n._next
            if i < len(nx):
                stack[-1] = (n, i + 1)
                e = nx[i]
                if e is not None:
                    m = e[0]
                    deps[m] = deps.get(m, 0) + 1
                    if m not in seen:
                        seen.add(m)
                        stack.append((m, 0))
            else:
                stack.pop()
                post.append(n)
    return deps, post


def run_backward(roots, grads, retain_graph, create_graph, targets=None, accumulate=True,
                 target_tensors=None):
    """Walk the graph from ``roots`` (edges) seeded with ``grads``.

    Nodes run from the most recently created down (see ``_next_seq`` in
    function.py), each once all gradient for it has arrived.  ``targets``
    (edges): when given, only the graph leading to them runs; returns their
    gradients (``accumulate=False``) or accumulates into the target tensors
    only (``accumulate=True``).
    """
    needed = capture = None
    if targets is not None:
        _, post = _collect([e[0] for e in roots], True)
        capture = {}
        for k, (node, nr) in enumerate(targets):
            capture.setdefault(node, []).append((k, nr))
        needed = set()
        for n in post:
            if n in capture or any(e is not None and e[0] in needed for e in n._next):
                needed.add(n)
    results = [None] * (len(targets) if targets is not None else 0)

    buffers = {}
    heap = []
    for (node, nr), g in zip(roots, grads):
        buf = buffers.get(node)
        if buf is None:
            buf = buffers[node] = [None] * node._n_out
            heappush(heap, (-node._seq, node))
        buf[nr] = g if buf[nr] is None else buf[nr] + g

    # Backward records only under create_graph, as torch's.  Grad mode is
    # per thread (grad_mode.state), so this switch is seen by this walk and
    # the hooks it calls, never by another thread; the caller's mode comes
    # back when the walk ends, however it ends.
    prev_mode = _gm.enabled
    _gm.enabled = create_graph
    anomaly = _anomaly.enabled      # (process-wide: read once, for the whole walk)
    quiet()                         # (inf/nan silent, as torch's: see backends/cpu/_fperr.py)
    if capture is None and not create_graph and not anomaly:
        try:
            _walk_plain(heap, buffers, retain_graph)
        finally:
            _gm.enabled = prev_mode
        return None
    # The general walk: autograd.grad / backward(inputs=...), create_graph,
    # anomaly mode.  First-order Ops are still called directly.
    fast = not create_graph and not anomaly
    try:
        while heap:
            node = heappop(heap)[1]
            buf = buffers.pop(node)
            if node._pre_hooks is not None:
                buf = _run_pre_hooks(node, buf, create_graph)
            if capture is not None:
                caps = capture.get(node)
                if caps is not None:
                    leaf = type(node) is AccumulateGrad
                    for k, nr in caps:
                        g = buf[nr]
                        if accumulate:
                            if g is None:
                                continue
                            if leaf:    # (its hooks run, as in a full backward)
                                _accumulate_leaf(node, g, create_graph)
                                continue
                            t = target_tensors[k]
                            with _grad_lock(t):
                                _accumulate(t, g, create_graph)
                        else:
                            # A leaf's hooks see (and may replace) the gradient
                            # autograd.grad returns, as torch's do.
                            if leaf and g is not None and node.variable._hooks:
                                g = _leaf_hooks(node.variable, g, create_graph)
                            results[k] = g
                if not any(e is not None and e[0] in needed for e in node._next):
                    continue
            if type(node) is AccumulateGrad:
                if capture is None and buf[0] is not None:
                    _accumulate_leaf(node, buf[0], create_graph)
                continue
            if node._n_out == 1:
                if buf[0] is None:
                    continue
            elif all(g is None for g in buf):
                continue
            fn = node._fn
            if fast and fn._raw and node._n_out == 1 and node._post_hooks is None:
                res = fn.backward(node, buf[0])
                if not retain_graph and node._saved is not None:
                    node._saved = _FREED
            elif anomaly:
                res = _call_node_anomaly(node, buf, create_graph, retain_graph)
            else:
                res = _call_node(node, buf, create_graph, retain_graph)
            _send(node, res, buffers, heap, create_graph)
            res = g = None
    finally:
        _gm.enabled = prev_mode
    if targets is not None and not accumulate:
        return results
    return None


def _sum_large(buf, nr, g):
    """``buf[nr] + g``, two gradients of one input, the first a large NumPy
    array: a pair of arrays by the backend's ``add`` (the CPU splits a CNN's
    residual gradient sums over its threads), anything else by ``+``.  When
    the buffer alone holds ``buf[nr]`` (a fresh array some backward made,
    owning its memory: no view, no saved state, no other edge shares it),
    ``g`` is added into it instead (``add_into``): the same sums, without a
    new array, into memory still in cache (2 MB cold: 300 -> 220 us).  A
    view spanning all of its base qualifies when it is the base's only
    holder (a conv's input gradient, reshaped), as for _adoptable.  (The
    callers add small gradients themselves: a call costs more than a small
    sum.)"""
    a = buf[nr]
    if type(g) is not np.ndarray:
        return a + g
    if (getrefcount(a) <= _BUFFER_REFS and a.flags.writeable and g.dtype is a.dtype
            and g.shape == a.shape and _sole_owner(a)):
        return _kernels(a).add_into(a, g)
    return _kernels(a).add(a, g)


def _sole_owner(a):
    """Whether the array ``a`` (held by one reference) reaches memory no other
    array does: it owns its data, or is a contiguous view of all of a base
    that owns its data and that ``a`` alone holds."""
    base = a.base
    if base is None:
        return True
    return (type(base) is np.ndarray and base.base is None and base.nbytes == a.nbytes
            and a.flags.c_contiguous and getrefcount(base) <= _SOLE_VIEW_REFS + 1)


def _buffer_refs(buf, nr):
    a = buf[nr]
    return getrefcount(a)


# References to a gradient array that only an engine buffer holds, as
# _sum_large sees them (the buffer, its local, getrefcount's argument),
# measured on the same call shape as _OWNED_REFS is.
_BUFFER_REFS = _buffer_refs([np.empty(1)], 0)


def _walk_plain(heap, buffers, retain_graph):
    """run_backward's loop for the case of every training step: first order,
    all leaves, no anomaly mode.  The general loop above, minus what this
    case never needs; an Op's backward is called directly, and ``_send`` is
    written out inline (a call per node is ~1% of op_overhead's step)."""
    nd = np.ndarray
    while heap:
        node = heappop(heap)[1]
        buf = buffers.pop(node)
        if node._pre_hooks is not None:
            buf = _run_pre_hooks(node, buf, False)
        if type(node) is AccumulateGrad:
            if buf[0] is not None:
                _accumulate_leaf(node, buf[0], False)
            continue
        if node._n_out == 1 and node._post_hooks is None and node._fn._raw:
            g = buf[0]
            if g is None:
                continue
            res = node._fn.backward(node, g)
            if not retain_graph and node._saved is not None:
                node._saved = _FREED
            g = None
        else:
            if all(g is None for g in buf):
                continue
            res = _call_node(node, buf, False, retain_graph)
        buf = None
        # ---- _send(node, res, buffers, heap, False), inline
        if type(res) is not tuple:
            res = (res,)
        for e, g in zip(node._next, res):
            if e is None or g is None:
                continue
            if type(g) is not nd or g.shape != e[2] or g.dtype is not e[3]:
                g = _fix(g, e, False)
            nxt = e[0]
            b = buffers.get(nxt)
            if b is None:
                b = buffers[nxt] = [None] * nxt._n_out
                heappush(heap, (-nxt._seq, nxt))
                b[e[1]] = g
                continue
            nr = e[1]
            prev = b[nr]
            if prev is None:
                b[nr] = g
            elif type(prev) is nd and prev.size >= _LARGE:
                prev = None    # (only the buffer holds it now: see _sum_large)
                b[nr] = _sum_large(b, nr, g)
            else:
                g = prev + g
                prev = None    # (no reference left: see _accumulate_leaf)
                # (two 0-d arrays add up to a NumPy scalar)
                b[nr] = _asarray(g) if isinstance(g, np.generic) else g
        # (drop our references, so a leaf may adopt its gradient: see _accumulate_leaf)
        res = g = b = None


def _send(node, res, buffers, heap, graph):
    """Route a node's input gradients ``res`` along its edges: fixed to each
    input's shape and dtype, added into the next node's buffer (queued on
    the heap when it first gets one).  The caller then drops its references
    to ``res``, so a leaf may adopt its gradient array without a copy (see
    _accumulate_leaf)."""
    if type(res) is not tuple:
        res = (res,)
    nd = np.ndarray
    for e, g in zip(node._next, res):
        if e is None or g is None:
            continue
        if type(g) is not nd or g.shape != e[2] or g.dtype is not e[3]:
            g = _fix(g, e, graph)
        nxt = e[0]
        b = buffers.get(nxt)
        if b is None:
            b = buffers[nxt] = [None] * nxt._n_out
            heappush(heap, (-nxt._seq, nxt))
            b[e[1]] = g
            continue
        nr = e[1]
        prev = b[nr]
        if prev is None:
            b[nr] = g
        elif type(prev) is nd and prev.size >= _LARGE:
            prev = None    # (only the buffer holds it now: see _sum_large)
            b[nr] = _sum_large(b, nr, g)
        else:
            g = prev + g
            prev = None    # (no reference left: see _accumulate_leaf)
            # (two 0-d arrays add up to a NumPy scalar)
            b[nr] = _asarray(g) if isinstance(g, np.generic) else g


def _run_pre_hooks(node, buf, create_graph):
    buf = list(buf)
    for out_nr, fn in list(node._pre_hooks):
        if out_nr == -1:  # a node pre-hook sees all grad outputs
            r = fn(tuple(_as_tensor(g) for g in buf))
            if r is not None:
                buf = [(x if create_graph else x._data) if isinstance(x, TensorBase) else x for x in r]
            continue
        g = buf[out_nr]
        if g is None:
            continue
        r = fn(_as_tensor(g))
        if r is not None:
            _checks.hook_result(_checks.hook_name(fn), r, g)
            buf[out_nr] = r if create_graph else r._data
    return buf


def _as_tensor(g):
    if g is None or isinstance(g, TensorBase):
        return g
    return _wrap(g)


def _call_node(node, buf, create_graph, retain_graph):
    fn = node._fn
    if node._saved is _FREED:
        raise RuntimeError(_BACKWARD_FREED_MSG)
    if node._n_out > 1 and node._materialize:
        meta = node._out_meta
        xp = _ns(*[g._data if isinstance(g, TensorBase) else g for g in buf])
        buf = [g if g is not None else _zeros(xp, meta[i], create_graph) for i, g in enumerate(buf)]
    once = create_graph and getattr(fn.backward, "_once_differentiable", False)
    if once:
        res = _call_once_differentiable(node, fn, buf)
    elif fn._raw:
        node._graph = create_graph
        res = fn.backward(node, *buf)
        node._graph = False
    else:
        res = _call_public(node, fn, buf, create_graph)
    if type(res) is not tuple:
        res = (res,) if not isinstance(res, list) else tuple(res)
    if not fn._raw and len(res) != len(node._next):
        if len(res) < len(node._next) or any(r is not None for r in res[len(node._next):]):
            raise RuntimeError(f"function {node._name} returned an incorrect number of gradients "
                               f"(expected {len(node._next)}, got {len(res)})")
    if _anomaly.enabled:
        _check_anomaly(node, res)
    if node._post_hooks is not None:
        for h in node._post_hooks:
            r = h(tuple(_as_tensor(g) for g in res), tuple(_as_tensor(g) for g in buf))
            if r is not None:
                res = tuple(r)
    if not retain_graph and node._saved is not None:
        node._saved = _FREED
    return res


def _zeros(xp, meta, create_graph):
    z = xp.zeros(meta[0], dtype=meta[1])
    return _wrap(z) if create_graph else z


def _call_public(node, fn, buf, create_graph):
    tbuf = [(_wrap(g) if type(g) in _ARRAYS else g) for g in buf]
    res = fn.backward(node, *tbuf)
    if type(res) is not tuple:
        res = tuple(res) if type(res) is list else (res,)
    _checks.function_grads(node._name, res, node._next)
    if create_graph:
        return res
    return tuple(r._data if isinstance(r, TensorBase) else r for r in res)


def _call_once_differentiable(node, fn, buf):
    """Run a backward that can't be recorded, and make its results raise if
    anyone differentiates through them."""
    from .function import Function
    if fn._raw:
        raw = [g._data if isinstance(g, TensorBase) else g for g in buf]
    else:
        raw = [_wrap(g._data) if isinstance(g, TensorBase) else g for g in buf]
    prev = _gm.enabled
    _gm.enabled = False
    try:
        res = fn.backward(node, *raw)
    finally:
        _gm.enabled = prev
    if not fn._raw:
        res = res if type(res) is tuple else (res,)
        res = tuple(r._data if isinstance(r, TensorBase) else r for r in res)
    if type(res) is not tuple:
        res = (res,)
    # The results hang off an error node whose edges are the op's own inputs
    # (and any recorded incoming gradients), so differentiating them again
    # reaches it and raises, as torch's once_differentiable does.
    from .function import _next_seq
    err = _DoubleBackwardError._Node()
    err._seq = _next_seq()
    err._saved = err._saved_info = None
    err._next = list(node._next) + [_edge(g) for g in buf
                                    if isinstance(g, TensorBase) and g.requires_grad]
    err.needs_input_grad = [e is not None for e in err._next]
    err._n_out = len(res)
    err._out_meta = tuple((_asarray(r).shape, _asarray(r).dtype) for r in res)
    err.op_name = node._name
    return tuple(None if r is None else _wrap(_asarray(r), err, i) for i, r in enumerate(res))


def _wrap_plain(r):
    return _wrap(_asarray(r))


def _import_err_op():
    from .function import Op

    class _DoubleBackwardError(Op):
        """Carries a once-differentiable result; differentiating it raises."""
        _ctx_fields = ("op_name",)
        _node_name = "DoubleBackwardError"

        @staticmethod
        def forward(ctx, anchor, value, name):
            ctx.op_name = name
            return _asarray(value)

        @staticmethod
        def backward(ctx, *grads):     # (one per result of the op's backward: any number)
            raise RuntimeError(f"{ctx.op_name} is not differentiable twice: its backward is "
                               "implemented without recording, so create_graph=True cannot "
                               "differentiate through it")
    return _DoubleBackwardError


_DoubleBackwardError = _import_err_op()


def _forward_trace(node):
    return "".join(node._trace) if node._trace else \
        "  (not recorded: the node was created before anomaly detection was enabled)\n"


def _call_node_anomaly(node, buf, create_graph, retain_graph):
    """_call_node under anomaly detection: if the backward fails (or returns
    NaN), first say where its forward ran, as torch does."""
    try:
        return _call_node(node, buf, create_graph, retain_graph)
    except Exception:
        import warnings
        warnings.warn(f"Error detected in {node._name}. Traceback of forward call that caused "
                      f"the error:\n{_forward_trace(node)}", UserWarning, stacklevel=2)
        raise


def _check_anomaly(node, res):
    """torch checks for NaN only (an infinite gradient is legitimate, e.g.
    sqrt at 0); the error also carries the forward's stack."""
    if not _anomaly.check_nan:
        return
    for i, g in enumerate(res):
        if g is None:
            continue
        arr = getattr(g, "_data", g)
        if type(arr) in _ARRAYS and (arr.dtype.kind in "fc" or _isf(arr.dtype)) and _ns(arr).isnan(arr).any():
            raise RuntimeError(f"Function '{node._name}' returned nan values in its {i}th "
                               f"output.\n\nThe forward call that created it:\n"
                               f"{_forward_trace(node)}")


def _count_refs_inner(g):
    return getrefcount(g)


def _count_refs_outer(node, g, create_graph):
    return _count_refs_inner(g)


# References to a gradient array that only the engine holds, as _adoptable
# sees them: the popped buffer list, _accumulate_leaf's and _adoptable's
# arguments and getrefcount's own.  Any other holder -- another edge's
# buffer, a node's saved state, a hook that kept it, a view -- adds one.
# Measured on the same call shape, so it holds on any CPython version.
def _calibrate():
    buf = [np.empty(1)]
    return _count_refs_outer(None, buf[0], False)


_OWNED_REFS = _calibrate()


def _base_refs_of_sole_view():
    """getrefcount of an array's ``.base`` when one view alone holds it, as
    _adoptable reads it (measured, as _OWNED_REFS is)."""
    v = np.empty(2).reshape(1, 2)
    return getrefcount(v.base)


_SOLE_VIEW_REFS = _base_refs_of_sole_view()


def _adoptable(g, t):
    """Whether ``g`` can become ``t.grad`` as is: a fresh, contiguous array of
    t's dtype that nothing else references (torch steals the buffer too).
    A reshaped view of such an array (a conv's or batch norm's weight
    gradient, computed in another layout) qualifies when it spans all of
    its base and is the base's only holder."""
    if not (type(g) is np.ndarray and g.dtype is t._data.dtype and g.flags.c_contiguous
            and g.flags.writeable and getrefcount(g) <= _OWNED_REFS):
        return False
    base = g.base
    if base is None:
        return True
    return (type(base) is np.ndarray and base.base is None and base.nbytes == g.nbytes
            and getrefcount(base) <= _SOLE_VIEW_REFS + 1)   # (+1: the local ``base``)


def _leaf_hooks(t, g, create_graph):
    """Run leaf ``t``'s tensor hooks on its gradient ``g``; the gradient they leave."""
    for h in list(t._hooks):
        r = h(g if isinstance(g, TensorBase) else _wrap(g))
        if r is not None:
            _checks.hook_result(_checks.hook_name(h), r, g)
            g = r if create_graph else (r._data if isinstance(r, TensorBase) else _asarray(r))
        r = None
    return g


def _accumulate_leaf(node, g, create_graph):
    t = node.variable
    if t._hooks:
        g = _leaf_hooks(t, g, create_graph)
    with _GRAD_LOCKS[(id(t) >> 4) & 63]:     # (_grad_lock(t), inline: once per leaf per step)
        # (``_grad``, not the ``grad`` property: an adopted gradient has t's dtype
        # and array type, and _fix gave it t's shape, so the setter's checks pass)
        if t._grad is None and not create_graph and _adoptable(g, t):
            t._grad = _wrap(g)
        else:
            _accumulate(t, g, create_graph)
    post = t._post_acc_hooks
    if post:
        for h in list(post):
            h(t)


# Several threads may run backward at once into the same leaves (threads
# sharing one model).  Reading .grad and adding to it must then be one step,
# or one thread's gradient is lost; torch locks each leaf's accumulator.
# Here a leaf's lock is one of a fixed set, picked by its id: no lock to make
# per leaf, and threads training separate models rarely meet on one.
_GRAD_LOCKS = tuple(threading.Lock() for _ in range(64))


def _grad_lock(t):
    return _GRAD_LOCKS[(id(t) >> 4) & 63]     # (ids are multiples of 16)


def _accumulate(t, g, create_graph):
    """Add gradient ``g`` into ``t.grad`` (the caller holds _grad_lock(t))."""
    if create_graph:
        if not isinstance(g, TensorBase):
            g = _wrap(g)
        t.grad = g if t.grad is None else t.grad + g
        return
    if isinstance(g, TensorBase):
        g = g._data
    cur = t.grad
    if cur is None:
        # A fresh copy: the incoming array may be shared with another edge.
        t.grad = _wrap(g.copy() if type(g) is _SparseData
                       else _ns(g).array(g, dtype=t._data.dtype, order="C"))
    elif cur.requires_grad:
        t.grad = _wrap(cur._data + g)
    else:
        cur._data += g
