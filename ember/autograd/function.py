"""Function: one differentiable operation, its forward and backward side by side.

Two flavours share one graph machinery:

* ``Function`` is torch's public contract: ``forward(ctx, *args)`` gets
  Tensors (run with recording off) and ``backward(ctx, *grads)`` gets and
  returns Tensors.  Users subclass it for custom ops.
* ``Op`` is what Ember's own primitives subclass: forward gets and returns
  raw NumPy arrays, and backward gets raw arrays too -- unless the backward
  pass is itself being recorded (``create_graph=True``), in which case the
  very same backward code is handed Ember Tensors, so its operators and the
  ``ember.ops._bw`` helpers build a graph.  One formula serves both orders.

Calling ``apply`` records a node (the ``ctx`` object, which becomes the
outputs' ``grad_fn``) only when recording is on and some input requires grad.
A node keeps, per positional input, an *edge*: ``(next_node, output_nr,
shape, numpy_dtype)``.  The engine uses shape and dtype to reduce a
broadcast gradient and cast it back, so no backward has to.
"""
import itertools
import os
import threading
import traceback
import warnings as _warnings
import weakref

import numpy as np

from .grad_mode import state as _gm
from .anomaly import state as _anomaly
from .._dtype import tensor_type_name
from .._errors import not_a_tensor
from ..backends import ARRAY_TYPES as _ARRAYS, asarray as _asarray, backend_of, quiet, _fperr
from .. import _tensor_base
from .._tensor_base import TensorBase, _wrap
from .._bfloat16 import state as _bf16, plan as _bf16_plan, widened as _widened

_new = object.__new__


_FREED = object()

_BACKWARD_FREED_MSG = (
    "Trying to backward through the graph a second time (or directly access saved "
    "tensors after they have already been freed). Saved intermediate values of the "
    "graph are freed when you call .backward() or autograd.grad(). Specify "
    "retain_graph=True if you need to backward through the graph a second time or "
    "if you need to access saved tensors after calling backward.")


class Node:
    """A recorded operation in the autograd graph (torch's ``grad_fn``).

    It also serves as ``ctx`` for the Function's forward and backward, so
    custom attributes set on ctx in forward are there in backward.  Rarely
    set fields are class-level defaults, so making a node costs almost
    nothing.
    """

    # Fields every recorded op sets are slots (a store to a slot is cheap; the
    # first store to __dict__ allocates it); so are the named facts an Op keeps
    # for backward (its ``_ctx_fields``, see FunctionMeta).  Every node is made
    # with _saved and _saved_info set (see _record_raw, _apply_public, AccumulateGrad).
    __slots__ = ("_next", "needs_input_grad", "_n_out", "_out_meta", "_seq", "_saved",
                 "_saved_info", "__dict__", "__weakref__")

    _fn = None            # the Function subclass this node belongs to
    _name = "Node"
    _pre_hooks = None
    _post_hooks = None
    _graph = False        # True while backward runs under create_graph
    _non_diff = None
    _materialize = True
    _trace = None         # forward stack, under anomaly detection
    _saved_out = False    # a custom Function saved one of its outputs (see _unlink...)
    _dirty = None

    # ---- the ctx API used inside forward/backward -------------------------------
    def save_for_backward(self, *tensors):
        self._saved = tensors

    def mark_non_differentiable(self, *tensors):
        self._non_diff = tensors

    def mark_dirty(self, *tensors):
        self._dirty = tensors

    def set_materialize_grads(self, value):
        self._materialize = bool(value)

    @property
    def saved_tensors(self):
        saved = self._saved
        if saved is None:
            return ()
        if saved is _FREED:
            raise RuntimeError(_BACKWARD_FREED_MSG)
        info = self._saved_info
        if info is not None:
            for e in info:      # (inline: this runs once per node in every backward)
                if e is not None and e[2][0] != e[3]:
                    _check_versions(self, info)
            if self._graph and self._fn._raw:
                return _reconstruct(self, saved, info)
            if self._saved_out:
                return _relink_saved_outputs(self, saved, info)
        return saved

    # ---- graph introspection, as torch ----------------------------------------------
    @property
    def next_functions(self):
        return tuple((e[0], e[1]) if e is not None else (None, 0) for e in self._next)

    def name(self):
        return self._name

    def register_hook(self, fn):
        """``fn(grad_inputs, grad_outputs)`` runs after this node's backward."""
        if self._post_hooks is None:
            self._post_hooks = []
        self._post_hooks.append(fn)
        return _RemovableHandle(self._post_hooks, fn)

    def register_prehook(self, fn):
        """``fn(grad_outputs)`` runs before this node's backward."""
        return self._add_pre_hook(-1, fn)

    def _add_pre_hook(self, out_nr, fn):
        """Add a hook the engine runs before this node's backward.  The list
        is kept in torch's (>= 2.0) order, whatever the registration order:
        the output tensors' hooks first, then ``retain_grad``'s (so ``.grad``
        holds the gradient the tensor hooks made), then the node's own
        pre-hooks (``register_prehook``, ``out_nr == -1``)."""
        if self._pre_hooks is None:
            self._pre_hooks = []
        entry = (out_nr, fn)
        rank = _pre_hook_rank(entry)
        hooks = self._pre_hooks
        at = len(hooks)
        while at and _pre_hook_rank(hooks[at - 1]) > rank:
            at -= 1
        hooks.insert(at, entry)
        return _RemovableHandle(self._pre_hooks, entry)

    @property
    def metadata(self):
        return self.__dict__.setdefault("_metadata", {})

    def __repr__(self):
        return f"<{self._name} object at {hex(id(self))}>"

    def __call__(self, *grads):
        return self._fn.backward(self, *grads)


def _pre_hook_rank(entry):
    """0: a tensor's hook, 1: retain_grad's, 2: a node pre-hook (see _add_pre_hook)."""
    out_nr, fn = entry
    if out_nr == -1:
        return 2
    return 1 if getattr(fn, "_ember_retain", False) else 0


class AccumulateGrad(Node):
    """The node at a leaf that requires grad: adds incoming gradient to ``.grad``."""

    __slots__ = ("variable",)
    _name = "AccumulateGrad"

    def __init__(self, variable):
        self.variable = variable
        self.needs_input_grad = ()
        # Leaves run last, after every node that feeds them; each still gets its
        # own number, so the engine's heap never has to compare two nodes.
        self._seq = -1 - _next_seq()
        self._next = ()
        self._n_out = 1
        self._saved = self._saved_info = None


def _new_accumulator(t):
    """A leaf's AccumulateGrad node.  The node holds the leaf; the leaf holds
    it only weakly (as torch does), so no leaf <-> node cycle keeps either
    alive: the graphs that use it keep it."""
    with _ACCUM_LOCK:   # (two threads reaching a new leaf at once must share one node)
        fn = t._accum
        fn = fn() if fn is not None else None
        if fn is None:
            fn = AccumulateGrad(t)
            t._accum = weakref.ref(fn)
    return fn


_ACCUM_LOCK = threading.Lock()


class _RemovableHandle:
    __slots__ = ("_list", "_item")

    def __init__(self, lst, item):
        self._list, self._item = lst, item

    def remove(self):
        try:
            self._list.remove(self._item)
        except ValueError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.remove()


class _NoGrads(dict):
    """``needs_input_grad`` when nothing is recorded.  Empty, so a forward's
    ``if ctx.needs_input_grad:`` ("only when recording": a recorded node's list
    is never empty) is one truth test with no Python call; and every entry
    reads False (``need[1]``), so a forward that looks at one outside that
    test still works."""

    def __missing__(self, i):
        return False


class _NullCtx:
    """Stands in for ctx when nothing is recorded: saves go nowhere."""

    needs_input_grad = _NoGrads()

    def __setattr__(self, name, value):
        pass  # nothing recorded: don't keep what forward stores for backward alive

    def save_for_backward(self, *a):
        pass

    def mark_non_differentiable(self, *a):
        pass

    def mark_dirty(self, *a):
        pass

    def set_materialize_grads(self, v):
        pass


_NULL_CTX = _NullCtx()


class FunctionMeta(type):
    """Gives every Function subclass its own Node class, named like torch's
    (``Mul`` -> ``MulBackward0``), which becomes the outputs' grad_fn.

    The names in the class's ``_ctx_fields`` (``ctx.axes``, ``ctx.keepdim``...)
    become slots of that Node class: storing them costs what storing one
    tuple did, with no dict per node.  A name not listed still works (it goes
    to the node's ``__dict__``), only slower."""

    def __init__(cls, name, bases, ns):
        super().__init__(name, bases, ns)
        # (a user's Function is "MyFnBackward" in torch; its built-in ops are "MulBackward0")
        node_name = ns.get("_node_name") or (name.lstrip("_") + "Backward0" if cls._raw
                                             else name + "Backward")
        fields = tuple(cls._ctx_fields)
        hidden = [f for f in fields if hasattr(Node, f)]
        if hidden:  # (a slot named "name" would hide grad_fn.name(), ...)
            raise TypeError(f"{name}._ctx_fields: {hidden} would hide the node's own attributes")
        cls._Node = type(node_name, (Node,), {"__slots__": fields, "_fn": cls, "_name": node_name})


class Function(metaclass=FunctionMeta):
    """Base for custom differentiable operations (torch.autograd.Function).

    Subclass with static ``forward(ctx, *args)`` and ``backward(ctx, *grads)``
    and call ``MyFn.apply(*args)``.  backward returns one gradient (or None)
    per forward argument.
    """

    _raw = False          # Op sets True: forward/backward see ndarrays
    _nondiff = False      # True for ops whose outputs never require grad
    _view = False         # True for ops whose output may share the input's memory
    _ctx_fields = ()      # names forward stores on ctx for backward (slots: see FunctionMeta)
    once_differentiable = False

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("You must implement the forward function for custom autograd.Function.")

    @staticmethod
    def backward(ctx, *grads):
        raise NotImplementedError("You must implement either the backward or vjp method for "
                                  "your custom autograd.Function to use it with backward mode AD.")

    @staticmethod
    def setup_context(ctx, inputs, output):
        return None

    @classmethod
    def apply(cls, *args, **kwargs):
        return _apply_public(cls, args, kwargs)   # (Op.apply serves the raw-array ops)


class Op(Function):
    """Base of Ember's built-in primitives (raw-array forward and backward)."""

    _raw = True

    _bf16_native = False  # True for ops that move bfloat16 data without computing on it
    _bf16_scalars = False  # True: a Python float operand is rounded to bfloat16 (torch's add)

    @classmethod
    def apply(cls, *args, **kwargs):
        if _bf16.on and not cls._view:   # (bfloat16 in use: see _bf16_twin)
            cls = _bf16_twin(cls, args)
        if _gm.enabled and not cls._nondiff:
            if len(args) == 1 and not kwargs:   # (exp, tanh, relu, most of math)
                a = args[0]
                if isinstance(a, TensorBase) and a.requires_grad:
                    return _record_unary(cls, a)
            else:
                for a in args:
                    if isinstance(a, TensorBase) and a.requires_grad:
                        return _record_raw(cls, args, kwargs)
        return _run_unrecorded(cls, args, kwargs)


def _bf16_twin(cls, args):
    """Op.apply's detour once bfloat16 has been loaded: on bfloat16 arrays, the op's
    widened twin (computed in float32, rounded once: see ember/_bfloat16.py), else the
    op itself.  Views and ops that only move data run on the bfloat16 arrays as they
    are."""
    if cls._bf16_native or _bf16.dtype is None:
        return cls
    how = _bf16_plan([a._data if isinstance(a, TensorBase) else a for a in args])
    return cls if how is None else _widened(cls, how)


def once_differentiable(backward):
    """Decorator for a backward that cannot itself be differentiated.

    Used with ``create_graph=True``, the result raises when differentiated
    again, naming the op, instead of giving a silently wrong answer.
    """
    backward._once_differentiable = True
    return backward


# ---- the recording machinery --------------------------------------------------------

# While ``ember.onnx.export`` traces a model: its recorder (ember/onnx/_tracer.py).
# It then also stands in for ``_run_unrecorded`` below (Op.apply looks that name
# up at each call), so it sees every op run without a graph, and ordinary ops
# pay nothing for it.
_tracer = None


def is_tracing():
    """True in the thread running ``ember.onnx.export``'s trace (ops that
    compute differently for export ask this; nn code must not import ember.onnx)."""
    t = _tracer
    return t is not None and t.thread == threading.get_ident()


def _run_unrecorded(cls, args, kwargs):
    """apply() with nothing to record: forward on the arrays, wrap the result.

    Every op of a no_grad forward (inference, decoding) comes here, so it is
    written for speed: a single NumPy output is wrapped inline (a call
    fewer: view 2.8 -> 2.5 us), and a one-argument op (relu, exp, most
    unary ops) skips the argument list (relu 3.2 -> 2.9 us with both)."""
    f = _warnings.filters   # quiet() inline, as in _record_raw (inf/nan silent, as torch's)
    if not f or f[0] is not _fperr.installed:
        quiet()
    try:
        if len(args) == 1 and not kwargs:
            a = args[0]
            out = cls.forward(_NULL_CTX, a._data if isinstance(a, TensorBase) else a)
        else:
            arrays = []     # (a plain loop: the comprehension is a call of its own, ~0.1 us)
            for a in args:
                arrays.append(a._data if isinstance(a, TensorBase) else a)
            out = cls.forward(_NULL_CTX, *arrays, **kwargs) if kwargs else \
                cls.forward(_NULL_CTX, *arrays)
    except Exception:
        _check_input_type(cls, args)
        return _forward_failed(cls, args, kwargs)
    if type(out) is np.ndarray:
        # (_wrap inline: a fresh leaf Tensor with its own version counter)
        t = _new(_tensor_base.Tensor)
        t._data = out
        t.grad_fn = None
        t.requires_grad = False
        t._vc = [0]
    elif type(out) is tuple:
        return tuple(_wrap(o) for o in out)
    else:
        t = _wrap(out)
    if cls._view:
        _mark_view(t, args[0])
    return t


def forward_unrecorded(cls, *arrays):
    """``cls``'s forward on arrays the caller took out of its tensors,
    wrapped, for a functional's no-graph short cut (no_grad, inference: the
    caller has checked nothing needs recording and no ONNX export is
    tracing); it skips ``apply``'s general argument handling (linear,
    layer_norm and attention take 5-11 arguments).  None if the forward
    raised: the caller then goes through ``apply``, which words the error."""
    f = _warnings.filters   # quiet() inline, as in _record_raw (inf/nan silent, as torch's)
    if not f or f[0] is not _fperr.installed:
        quiet()
    try:
        return _wrap(cls.forward(_NULL_CTX, *arrays))
    except Exception:
        return None


def apply_view(cls, x, arg):
    """``cls.apply(x, arg)`` for a one-tensor view op (``cls._view``: reshape,
    permute), with a short cut for the no-graph case (no_grad code, inference):
    the forward on x's array, wrapped and marked a view of x, without
    ``apply``'s general argument handling (~0.65 us of a 1.4 us view; a GPT
    layer makes eight views per token).  Recorded calls, ONNX tracing and
    any failure take ``apply`` (which raises the op's own error)."""
    if (_gm.enabled and x.requires_grad) or _tracer is not None:
        return cls.apply(x, arg)
    try:
        out = cls.forward(_NULL_CTX, x._data, arg)
    except Exception:
        return cls.apply(x, arg)
    t = _new(_tensor_base.Tensor)
    t._data = out
    t.grad_fn = None
    t.requires_grad = False
    b = x._data
    if not _gm.enabled and type(out) is np.ndarray and \
            (out.base if out.base is not None else out) is (b.base if b.base is not None else b):
        # (_mark_view's answer inline for a NumPy view under no_grad, where no
        # view is remembered for the graph: a GPT step makes 32 views)
        t._vc = x._vc
        t._base = x if x._base is None else x._base
        return t
    t._vc = [0]
    _mark_view(t, x)
    return t


# Nodes are numbered in creation order.  A node's inputs always exist before
# it does, so running nodes from the highest number down is a topological
# order -- the engine needs no separate dependency count (torch does the same).
_next_seq = itertools.count().__next__


def _record_raw(cls, args, kwargs):
    """apply() when the graph is recorded: make the node, run forward, wire outputs.

    This runs for every recorded op, so it is written for speed: plain loops,
    the single-output case inline."""
    ctx = cls._Node()
    ctx._seq = _next_seq()
    ctx._saved = ctx._saved_info = None
    arrays = []
    edges = []
    needs = []
    for a in args:
        if isinstance(a, TensorBase):
            d = a._data
            arrays.append(d)
            if a.requires_grad:
                fn = a.grad_fn      # (_edge(a), inline: a call per input is ~1% of op_overhead)
                edges.append((fn, a._out_nr, d.shape, d.dtype) if fn is not None
                             else (_leaf_node(a), 0, d.shape, d.dtype))
                needs.append(True)
                continue
        else:
            arrays.append(a)
        edges.append(None)
        needs.append(False)
    ctx._next = edges
    ctx.needs_input_grad = needs
    f = _warnings.filters   # quiet() inline (~1% of a small op): inf/nan silent, as torch's
    if not f or f[0] is not _fperr.installed:
        quiet()
    try:
        out = cls.forward(ctx, *arrays, **kwargs) if kwargs else cls.forward(ctx, *arrays)
    except Exception:
        return _forward_failed(cls, args, kwargs)
    if _anomaly.enabled:
        ctx._trace = _user_stack()
    if type(out) is np.ndarray or type(out) in _ARRAYS:
        ctx._n_out = 1
        t = _new(_tensor_base.Tensor)   # (ember.Tensor, registered when it loads)
        t._data = out
        t._vc = [0]
        if out.dtype.kind in "fc" or out.dtype is _bf16.dtype:
            t.requires_grad = True
            t.grad_fn = ctx
        else:
            t.requires_grad = False
            t.grad_fn = None
        if cls._view:
            _mark_view(t, args[0])
        saved = ctx._saved
        if saved is not None:
            ctx._saved_info = _saved_info(saved, args, arrays, (out,), t)
        return t
    return _record_outputs(cls, ctx, out, args, arrays)


def _record_outputs(cls, ctx, out, args, arrays):
    """The rest of _record_raw for a forward that returned a tuple of arrays or
    a NumPy scalar (0-d results often are) rather than one array."""
    if type(out) is tuple:
        if not all(type(o) in _ARRAYS for o in out):
            out = tuple(_array_out(ctx, o) for o in out)
        ctx._n_out = len(out)
        outs = tuple(_wrap_out(o, ctx, i) for i, o in enumerate(out))
        if ctx._non_diff:
            for i in ctx._non_diff:
                outs[i].requires_grad = False
                outs[i].grad_fn = None
        ctx._out_meta = tuple((o._data.shape, o._data.dtype) for o in outs)
        out_arrays = tuple(o._data for o in outs)
    else:
        out = _array_out(ctx, out)
        ctx._n_out = 1
        t = _wrap(out)
        if t._data.dtype.kind in "fc" or t._data.dtype is _bf16.dtype:
            t.requires_grad = True
            t.grad_fn = ctx
        outs = t
        out_arrays = (t._data,)
        if cls._view:
            _mark_view(t, args[0])
    if ctx._saved is not None:
        ctx._saved_info = _saved_info(ctx._saved, args, arrays, out_arrays, outs)
    return outs


def _leaf_node(t):
    """The AccumulateGrad node of leaf ``t`` (made on first use)."""
    fn = t._accum
    fn = fn() if fn is not None else None
    return fn if fn is not None else _new_accumulator(t)


def _record_unary(cls, a):
    """_record_raw for an op whose one argument is a Tensor requiring grad
    (exp, tanh, relu, most of math): the same steps without the loops over
    arguments."""
    ctx = cls._Node()
    ctx._seq = _next_seq()
    ctx._saved = ctx._saved_info = None
    d = a._data
    fn = a.grad_fn      # (_edge(a), inline: see _record_raw)
    ctx._next = [(fn, a._out_nr, d.shape, d.dtype) if fn is not None
                 else (_leaf_node(a), 0, d.shape, d.dtype)]
    ctx.needs_input_grad = [True]
    f = _warnings.filters   # quiet() inline, as in _record_raw
    if not f or f[0] is not _fperr.installed:
        quiet()
    out = cls.forward(ctx, d)   # (one operand: no two devices to tell apart)
    if _anomaly.enabled:
        ctx._trace = _user_stack()
    if type(out) is not np.ndarray and type(out) not in _ARRAYS:
        return _record_outputs(cls, ctx, out, (a,), (d,))
    ctx._n_out = 1
    t = _new(_tensor_base.Tensor)   # (ember.Tensor, registered when it loads)
    t._data = out
    t._vc = [0]
    if out.dtype.kind in "fc" or out.dtype is _bf16.dtype:
        t.requires_grad = True
        t.grad_fn = ctx
    else:
        t.requires_grad = False
        t.grad_fn = None
    if cls._view:
        _mark_view(t, a)
    saved = ctx._saved
    if saved is not None:
        ctx._saved_info = _saved_info(saved, (a,), (d,), (out,), t)
    return t


def _record_binary(cls, a, b):
    """_record_raw for an elementwise op on two Tensors (``a * b``, ``a + b``
    ...), the most frequent call in any model: the same steps without the
    loop over arguments.  A binary forward returns one float array."""
    ctx = cls._Node()
    ctx._seq = _next_seq()
    ctx._saved = ctx._saved_info = None
    ad = a._data
    bd = b._data
    # (_edge(a) and _edge(b), inline: see _record_raw)
    ea = eb = None
    if a.requires_grad:
        fn = a.grad_fn
        ea = ((fn, a._out_nr, ad.shape, ad.dtype) if fn is not None
              else (_leaf_node(a), 0, ad.shape, ad.dtype))
    if b.requires_grad:
        fn = b.grad_fn
        eb = ((fn, b._out_nr, bd.shape, bd.dtype) if fn is not None
              else (_leaf_node(b), 0, bd.shape, bd.dtype))
    ctx._next = [ea, eb]
    ctx.needs_input_grad = [ea is not None, eb is not None]
    f = _warnings.filters   # quiet() inline, as in _record_raw
    if not f or f[0] is not _fperr.installed:
        quiet()
    try:
        out = cls.forward(ctx, ad, bd)
    except Exception:
        return _forward_failed(cls, (a, b), _NO_KWARGS)
    if type(out) is not np.ndarray and type(out) not in _ARRAYS:   # (0-d operands: a NumPy scalar)
        out = _array_out(ctx, out)
    if _anomaly.enabled:
        ctx._trace = _user_stack()
    ctx._n_out = 1
    t = _new(_tensor_base.Tensor)   # (ember.Tensor, registered when it loads)
    t._data = out
    t._vc = [0]
    t.requires_grad = True
    t.grad_fn = ctx
    saved = ctx._saved
    if saved is not None:
        ctx._saved_info = _saved_info(saved, (a, b), (ad, bd), (out,), t)
    return t


_EMBER_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def _user_stack():
    """The current stack (anomaly mode), ending at the call into Ember."""
    stack = traceback.extract_stack()
    while len(stack) > 1 and stack[-1].filename.startswith(_EMBER_DIR):
        stack.pop()
    return traceback.format_list(stack)


def _forward_failed(cls, args, kwargs):
    """What follows a forward that raised, called from its ``except``: the op
    again with 0-dim CPU tensors moved to the other tensors' device (see
    ``cpu_scalars_moved``), else torch's error when the tensors live on two
    devices (``check_same_device``), else the forward's own exception."""
    moved = cpu_scalars_moved(args)
    if moved is not None:
        return cls.apply(*moved, **kwargs)
    check_same_device(args)
    raise   # (the exception the caller's ``except`` is handling)


_NO_KWARGS = {}


def check_same_device(args):
    """After a forward failed: if its tensors live on two devices, raise torch's
    error (checked only then, so an op pays nothing for it).  Lists of tensors
    (``cat``'s) are looked into."""
    first = None
    for a in args:
        for x in (a if isinstance(a, (list, tuple)) else (a,)):
            d = x._data if isinstance(x, TensorBase) else x
            if type(d) is not np.ndarray and type(d) not in _ARRAYS:
                continue
            b = backend_of(d)
            if first is None:
                first, first_d = b, d
            elif b is not first:
                raise RuntimeError(f"Expected all tensors to be on the same device, but found at "
                                   f"least two devices, {_device_name(first, first_d)} and "
                                   f"{_device_name(b, d)}!") from None


# ember.ops.device puts its ``to_device`` here when it loads (ops sit above
# autograd, so autograd does not import it).
_mover = [None]


def cpu_scalars_moved(args):
    """After a forward failed: torch lets a 0-dim CPU tensor join an op on
    another device (as a scalar would).  A device's array library may refuse
    the NumPy array (CuPy does), so the op is run again with such tensors
    copied to that device (a differentiable copy: the CPU tensor still gets
    its gradient).  The new arguments, or None when that is not the case."""
    dev_tensor = None
    has_scalar = False
    for a in args:
        for x in (a if isinstance(a, (list, tuple)) else (a,)):
            if not isinstance(x, TensorBase):
                continue
            d = x._data
            if type(d) is np.ndarray:
                if d.ndim != 0:
                    return None         # (a real CPU tensor: check_same_device's error)
                has_scalar = True
            elif type(d) in _ARRAYS:
                dev_tensor = x
    if dev_tensor is None or not has_scalar:
        return None
    to_device = _mover[0]
    dst = backend_of(dev_tensor._data)
    rt = dst.runtime
    index = rt.index_of(dev_tensor._data) if rt is not None else None

    def move(x):
        if isinstance(x, TensorBase) and type(x._data) is np.ndarray:
            return to_device(x, dst, index)
        return x
    return tuple([move(x) for x in a] if type(a) is list else
                 tuple(move(x) for x in a) if type(a) is tuple else move(a) for a in args)


def _device_name(b, d=None):
    rt = b.runtime
    if rt is not None and d is not None:
        return f"{b.name}:{rt.index_of(d)}"
    return "cuda:0" if b.name == "cuda" else b.name


def _check_input_type(cls, args):
    """After a forward failed: if its input wasn't a tensor at all (a str, a
    list, None...), say so as torch does rather than leak NumPy's complaint."""
    if args and not isinstance(args[0], (TensorBase, np.ndarray, np.generic, int, float, complex)):
        name = cls._Node._name
        for suffix in ("Backward0", "Backward1"):
            name = name[:-len(suffix)] if name.endswith(suffix) else name
        raise not_a_tensor(name.lower(), "input", args[0], 1) from None


def _array_out(ctx, o):
    """A forward's NumPy-scalar output (0-d results often are) as a 0-d array,
    swapped into what was saved too: saved outputs are known by identity."""
    a = _asarray(o)
    saved = ctx._saved
    if saved is not None and any(x is o for x in saved):
        ctx._saved = tuple(a if x is o else x for x in saved)
    return a


def _memory_root(a):
    """The object that owns ``a``'s memory.  (NumPy collapses a view of a view
    onto the owner, so one step is enough for its own arrays, but not across
    array subclasses: for other backends' arrays, walk the chain.)"""
    base = a.base
    while base is not None:
        a = base
        base = getattr(a, "base", None)
    return a


def _mark_view(out, src):
    """If ``out`` shares src's memory, share its version counter and base."""
    a, b = out._data, src._data
    if (a.base if a.base is not None else a) is (b.base if b.base is not None else b) or \
            type(a) is not np.ndarray and _memory_root(a) is _memory_root(b):
        out._vc = src._vc
        base = src if src._base is None else src._base
        out._base = base
        if out.requires_grad or (_gm.enabled and (a.dtype.kind in "fc" or a.dtype is _bf16.dtype)):
            # Remember views that are (or may join, when an in-place op with a
            # grad-requiring operand lands on the base) in the graph, so such a
            # change to the base or a sibling view can give them a fresh
            # grad_fn (see ops/inplace.py).
            views = base._views
            if views is None:
                views = _new_view_refs(base)
            views.append(weakref.ref(out))
            if len(views) > views.limit:
                views.prune()


class _ViewRefs(list):
    """Weak references to a base's views (see _mark_view).  Dead references
    are dropped when the list doubles past its live size: appending a plain
    weakref is ~3x cheaper than adding to a WeakSet, on every view op."""
    __slots__ = ("limit",)

    def __init__(self):
        super().__init__()
        self.limit = 32

    def prune(self):
        # Threads sharing a base (a shared model's weights) append to this
        # list concurrently.  Replacing only the first n entries keeps any
        # appended meanwhile; the lock keeps two prunes from overlapping.
        with _VIEWS_LOCK:
            n = len(self)
            self[:n] = [r for r in self[:n] if r() is not None]
            self.limit = max(32, 2 * len(self))

    def live(self):
        """The views still alive."""
        return [v for v in (r() for r in self) if v is not None]


_VIEWS_LOCK = threading.Lock()


def _new_view_refs(base):
    """base._views, made once even when two threads view a new base at once."""
    with _VIEWS_LOCK:
        views = base._views
        if views is None:
            views = base._views = _ViewRefs()
    return views


def _wrap_out(arr, ctx, nr):
    t = _wrap(arr)
    if t._data.dtype.kind in "fc" or t._data.dtype is _bf16.dtype:
        t.requires_grad = True
        t.grad_fn = ctx
        t._out_nr = nr
    return t


def _edge(t):
    """The graph edge a gradient for tensor ``t`` travels along."""
    fn = t.grad_fn
    d = t._data
    if fn is None:
        return (_leaf_node(t), 0, d.shape, d.dtype)
    return (fn, t._out_nr, d.shape, d.dtype)


def _saved_info(saved, args, arrays, out_arrays, outs):
    """For each saved array: where it came from, for version checks and for
    rebuilding graph-connected Tensors under create_graph.  None when every
    saved item is a constant (index arrays, masks...)."""
    info = None
    j = -1
    for s in saved:          # (plain loops: this runs for every recorded op)
        j += 1
        # (a device's arrays too: CuPy's are no np.ndarray, and skipping them would
        # leave a saved CUDA array unchecked for in-place writes, and a constant
        # under create_graph, so a double backward would lose its terms)
        if s is None or (type(s) is not np.ndarray and type(s) not in _ARRAYS
                         and not isinstance(s, np.ndarray)):
            continue
        i = 0
        for a in arrays:
            if s is a:
                t = args[i]
                if t is not a:  # (a raw ndarray argument is a constant...)
                    vc = t._vc
                    entry = ("in", i, vc, vc[0])
                    break
            i += 1
        else:  # (...unless the forward also returned it)
            k = 0
            for o in out_arrays:
                if s is o:
                    t = outs[k] if type(outs) is tuple else outs
                    vc = t._vc
                    entry = ("out", k, vc, vc[0])
                    break
                k += 1
            else:
                continue
        if info is None:
            info = [None] * len(saved)
        info[j] = entry
    return info


def _check_versions(ctx, info):
    for j, e in enumerate(info):
        if e is not None and e[2][0] != e[3]:
            saved = ctx._saved[j]
            which = {"in": "input", "t": "saved tensor"}.get(e[0], "output") + f" {e[1]}"
            raise RuntimeError(
                "one of the variables needed for gradient computation has been modified "
                f"by an inplace operation: [{tensor_type_name(saved.dtype)} {list(saved.shape)}], which is "
                f"{which} of {ctx._name}, is at version {e[2][0]}; expected version {e[3]} "
                "instead. Hint: the backtrace further above can point at the operation that "
                "failed to compute its gradient; enable anomaly detection with "
                "ember.autograd.set_detect_anomaly(True) to find it.")


def _reconstruct(ctx, saved, info):
    """Saved arrays as Tensors connected to the graph (create_graph mode)."""
    out = []
    for s, e in zip(saved, info):
        if e is None:
            out.append(s)
        elif e[0] == "in":
            edge = ctx._next[e[1]]
            if edge is None:
                out.append(_wrap(s))
            elif type(edge[0]) is AccumulateGrad:
                out.append(edge[0].variable)
            else:
                out.append(_wrap(s, edge[0], edge[1]))
        else:
            out.append(_wrap(s, ctx, e[1]))
    return tuple(out)


def _apply_public(cls, args, kwargs):
    """apply() for user Functions: forward/backward see Tensors."""
    record = _gm.enabled and any(isinstance(a, TensorBase) and a.requires_grad for a in args)
    ctx = cls._Node()
    ctx._seq = _next_seq()
    ctx._saved = ctx._saved_info = None
    if record:
        ctx._next = [(_edge(a) if isinstance(a, TensorBase) and a.requires_grad else None) for a in args]
    else:
        ctx._next = [None] * len(args)
    ctx.needs_input_grad = tuple(e is not None for e in ctx._next)
    prev = _gm.enabled
    _gm.enabled = False
    try:
        if cls.setup_context is not Function.setup_context:
            out = cls.forward(*args, **kwargs)
            cls.setup_context(ctx, args, out)
        else:
            out = cls.forward(ctx, *args, **kwargs)
    finally:
        _gm.enabled = prev
    is_tuple = isinstance(out, tuple)
    outs = out if is_tuple else (out,)
    if not record:
        return out
    if _anomaly.enabled:
        ctx._trace = _user_stack()
    non_diff = {id(t) for t in (ctx._non_diff or ())}
    dirty = {id(t) for t in (ctx._dirty or ())}
    wrapped = []
    n = 0
    for o in outs:
        if isinstance(o, TensorBase):
            if id(o) in dirty:
                o._vc[0] += 1
            elif any(o is a for a in args):
                # Returning an input unchanged still needs a distinct output
                # (torch makes a view); share data, new graph identity.
                src = o
                o = _wrap(src._data)
                o._vc = src._vc
            if id(o) not in non_diff and (o.dtype.is_floating_point or o.dtype.is_complex):
                o.requires_grad = True
                o.grad_fn = ctx
                o._out_nr = n
            else:
                o.requires_grad = False
            n += 1
        wrapped.append(o)
    ctx._n_out = n
    ctx._out_meta = tuple((o._data.shape, o._data.dtype) for o in wrapped if isinstance(o, TensorBase))
    ctx._non_diff = tuple(i for i, o in enumerate(w for w in wrapped if isinstance(w, TensorBase))
                          if id(o) in non_diff) or None
    if ctx._saved is not None:
        ctx._saved_info = [("t", i, t._vc, t._vc[0]) if isinstance(t, TensorBase) else None
                           for i, t in enumerate(ctx._saved)]
        if not any(ctx._saved_info):
            ctx._saved_info = None
        elif any(isinstance(t, TensorBase) and t.grad_fn is ctx for t in ctx._saved):
            _unlink_saved_outputs(ctx)
    return tuple(wrapped) if is_tuple else wrapped[0]


def _unlink_saved_outputs(ctx):
    """A saved output would make output -> ctx -> output a reference cycle that
    only the garbage collector frees.  Keep its data and version counter and
    rebuild the graph-connected tensor when backward asks (torch does the same)."""
    saved = list(ctx._saved)
    for j, t in enumerate(saved):
        if isinstance(t, TensorBase) and t.grad_fn is ctx:
            alias = _wrap(t._data)
            alias._vc = t._vc
            saved[j] = alias
            ctx._saved_info[j] = ("tout", t._out_nr, t._vc, t._vc[0])
    ctx._saved = tuple(saved)
    ctx._saved_out = True


def _relink_saved_outputs(ctx, saved, info):
    out = list(saved)
    for j, e in enumerate(info):
        if e is not None and e[0] == "tout":
            t = _wrap(saved[j]._data, ctx, e[1])
            t._vc = e[2]
            out[j] = t
    return tuple(out)
