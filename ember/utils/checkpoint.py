"""Activation checkpointing: keep a segment's inputs, not its activations, and
run the segment again during backward to get them back.

Two variants, as in torch:

* ``use_reentrant=True``: the segment runs under no_grad (nothing of it is
  recorded) inside one custom Function.  Its backward reruns the segment
  with recording on and calls ``backward`` on the rerun, from inside the
  outer backward: the inputs' gradients are returned, the parameters'
  accumulate into their ``.grad``.  As in torch, gradients reach only
  through inputs that require grad, and ``autograd.grad`` /
  ``backward(inputs=...)`` cannot see the parameters.
* ``use_reentrant=False``: the segment runs recorded once, which tells Ember
  every tensor it reads (its inputs and any parameters it closes over);
  that graph is dropped at once and replaced by one node whose inputs are
  those tensors.  Backward reruns the segment and differentiates the rerun
  with ``autograd.grad``, so parameters get gradients by the ordinary path
  (``autograd.grad``, ``inputs=``, inputs that don't require grad all
  work).  The segment's activations exist only while it runs, then go:
  what stays until backward is the inputs and outputs.  (torch avoids even
  the transient copy with saved-tensor hooks, which Ember does not have.)

``preserve_rng_state=True`` (the default) replays the default generator's
state during the rerun, so dropout draws the same masks.
"""
import contextlib
import warnings

from .. import random as _random
from .._tensor_base import TensorBase
from ..autograd.engine import backward as _backward, grad as _grad
from ..autograd.function import Function, AccumulateGrad, _next_seq
from ..autograd.grad_mode import enable_grad, no_grad, is_grad_enabled

__all__ = ["checkpoint", "checkpoint_sequential", "CheckpointError", "noop_context_fn"]

_REENTRANT_WARNING = (
    "torch.utils.checkpoint: the use_reentrant parameter should be passed explicitly. Starting "
    "in PyTorch 2.9, calling checkpoint without use_reentrant will raise an exception. "
    "use_reentrant=False is recommended, but if you need to preserve the current default "
    "behavior, you can pass use_reentrant=True. Refer to docs for more details on the "
    "differences between the two variants.")


class CheckpointError(RuntimeError):
    """The rerun of a checkpointed segment did not reproduce its forward."""


def noop_context_fn():
    return contextlib.nullcontext(), contextlib.nullcontext()


def checkpoint(function, *args, use_reentrant=None, context_fn=noop_context_fn,
               determinism_check="default", debug=False, early_stop=True, **kwargs):
    """``function(*args, **kwargs)``, keeping only its inputs for backward and
    recomputing its activations there (see the module docstring).

    ``preserve_rng_state`` (keyword, default True) replays the random state
    in the recomputation; ``context_fn`` (non-reentrant only) returns two
    context managers, for the forward and for the recomputation."""
    if use_reentrant is None:
        warnings.warn(_REENTRANT_WARNING, UserWarning, stacklevel=2)
        use_reentrant = True
    preserve = kwargs.pop("preserve_rng_state", True)
    if determinism_check not in ("default", "none"):
        raise ValueError(f"determinism_check should be one of ['default', 'none'], but got "
                         f"{determinism_check}")
    if use_reentrant:
        if context_fn is not noop_context_fn or debug:
            raise ValueError("Passing `context_fn` or `debug` is only supported when "
                             "use_reentrant=False.")
        if kwargs:
            raise ValueError("Unexpected keyword arguments: " + ",".join(kwargs))
        return _Reentrant.apply(function, preserve, *args)
    return _non_reentrant(function, args, kwargs, preserve, context_fn,
                          determinism_check == "default")


def checkpoint_sequential(functions, segments, input, use_reentrant=None, **kwargs):
    """Run ``functions`` (a Sequential or a list of modules) on ``input`` in
    ``segments`` chunks, checkpointing all but the last chunk."""
    if use_reentrant is None:
        warnings.warn(_REENTRANT_WARNING, UserWarning, stacklevel=2)
        use_reentrant = True
    preserve = kwargs.pop("preserve_rng_state", True)
    if kwargs:
        raise ValueError("Unexpected keyword arguments: " + ",".join(arg for arg in kwargs))
    from ..nn.modules.container import Sequential
    if isinstance(functions, Sequential):
        functions = list(functions.children())
    functions = list(functions)
    size = len(functions) // segments
    end = -1
    for start in range(0, size * (segments - 1), size):
        end = start + size - 1
        input = checkpoint(_run_range(functions, start, end), input,
                           use_reentrant=use_reentrant, preserve_rng_state=preserve)
    return _run_range(functions, end + 1, len(functions) - 1)(input)


def _run_range(functions, start, end):
    def forward(x):
        for j in range(start, end + 1):
            x = functions[j](x)
        return x
    return forward


# ---- random state ------------------------------------------------------------------------

@contextlib.contextmanager
def _replayed_rng(state):
    """Run with the default generator at ``state``; put the current one back after."""
    if state is None:
        yield
        return
    now = _random.get_rng_state()
    _random.set_rng_state(state)
    try:
        yield
    finally:
        _random.set_rng_state(now)


def _draws(preserve):
    """Where a segment's random numbers come from: with ``preserve_rng_state``,
    the host's generator whatever the device (its state is what is saved and
    replayed, so the recomputation draws the same dropout masks on CUDA too)."""
    return _random.host_draws() if preserve else contextlib.nullcontext()


def _as_tuple(out):
    return out if isinstance(out, tuple) else (out,)


# ---- use_reentrant=True ------------------------------------------------------------------

class _Reentrant(Function):
    _node_name = "CheckpointFunctionBackward"

    @staticmethod
    def forward(ctx, run_function, preserve, *args):
        ctx.run_function = run_function
        ctx.rng = _random.get_rng_state() if preserve else None
        ctx.tensor_at = [i for i, a in enumerate(args) if isinstance(a, TensorBase)]
        ctx.args = [None if isinstance(a, TensorBase) else a for a in args]
        ctx.save_for_backward(*[args[i] for i in ctx.tensor_at])
        if not any(isinstance(a, TensorBase) and a.requires_grad for a in args):
            warnings.warn("None of the inputs have requires_grad=True. Gradients will be None",
                          UserWarning, stacklevel=4)
        with no_grad(), _draws(preserve):
            return ctx.run_function(*args)

    @staticmethod
    def backward(ctx, *grads):
        args = list(ctx.args)
        saved = ctx.saved_tensors
        for i, t in zip(ctx.tensor_at, saved):
            args[i] = t.detach().requires_grad_(t.requires_grad)
        with _replayed_rng(ctx.rng), enable_grad(), _draws(ctx.rng is not None):
            outs = _as_tuple(ctx.run_function(*args))
        pairs = [(o, g) for o, g in zip(outs, grads)
                 if isinstance(o, TensorBase) and o.requires_grad and g is not None]
        if not pairs:
            raise RuntimeError("none of output has requires_grad=True, this checkpoint() is not "
                               "necessary")
        _backward([o for o, _ in pairs], [g for _, g in pairs])
        return (None, None) + tuple(a.grad if isinstance(a, TensorBase) else None for a in args)


# ---- use_reentrant=False -----------------------------------------------------------------

def _non_reentrant(function, args, kwargs, preserve, context_fn, check):
    if not is_grad_enabled():
        return function(*args, **kwargs)
    rng = _random.get_rng_state() if preserve else None
    fresh = [a.detach().requires_grad_(a.requires_grad) if isinstance(a, TensorBase) else a
             for a in args]
    first = _next_seq()
    fwd_ctx, recompute_ctx = context_fn()
    with fwd_ctx, _draws(preserve):
        out = function(*fresh, **kwargs)
    single = not isinstance(out, tuple)
    outs = _as_tuple(out)
    diff = [i for i, o in enumerate(outs) if isinstance(o, TensorBase) and o.requires_grad]
    if not diff:
        return out
    externals = _read_tensors([outs[i] for i in diff], fresh, first)
    if externals is None:
        # The segment reads a tensor computed outside it that Ember cannot
        # name (a non-leaf closed over); run it plainly, recorded.
        return function(*args, **kwargs)
    tensor_at = [i for i, a in enumerate(args) if isinstance(a, TensorBase)]
    state = _SegmentState(function, args, kwargs, tensor_at, rng, recompute_ctx, diff,
                          [(tuple(outs[i].shape), outs[i].dtype) for i in diff], check,
                          len(externals))
    state.single = single
    full = list(outs)
    state.outputs = [outs[i].detach() for i in diff]
    del out, outs
    for i in diff:
        full[i] = None                 # (the segment's graph goes here)
    results = _as_tuple(_NonReentrant.apply(state, *[args[i] for i in tensor_at], *externals))
    state.outputs = None
    for k, i in enumerate(diff):
        full[i] = results[k]
    return full[0] if state.single else tuple(full)


def _read_tensors(outs, fresh, first_seq):
    """The tensors requiring grad, other than the segment's own inputs, that
    the graph of ``outs`` reads: the parameters it closes over.  None when
    it also reads a non-leaf tensor made before the segment started."""
    ours = {id(a) for a in fresh if isinstance(a, TensorBase)}
    found, seen = {}, set()
    stack = [o.grad_fn for o in outs if o.grad_fn is not None]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, AccumulateGrad):
            v = node.variable
            if id(v) not in ours:
                found[id(v)] = v
            continue
        if node._seq < first_seq:
            return None
        for e in node._next:
            if e is not None and e[0] is not None:
                stack.append(e[0])
    return list(found.values())


class _SegmentState:
    """What the rerun needs: the function, its non-tensor arguments, the RNG
    state, which outputs carry gradient and their shapes and dtypes."""

    def __init__(self, function, args, kwargs, tensor_at, rng, recompute_ctx, diff, meta, check,
                 n_ext):
        self.function, self.kwargs, self.tensor_at = function, kwargs, tensor_at
        self.args = [None if isinstance(a, TensorBase) else a for a in args]
        self.rng, self.recompute_ctx, self.diff, self.meta = rng, recompute_ctx, diff, meta
        self.check, self.n_ext = check, n_ext
        self.needs = [a.requires_grad for a in args if isinstance(a, TensorBase)]
        self.single = False
        self.outputs = None


class _NonReentrant(Function):
    _node_name = "CheckpointBackward"

    @staticmethod
    def forward(ctx, state, *tensors):
        """``tensors``: the segment's tensor inputs, then the parameters it
        reads; the outputs were computed already (``state.outputs``)."""
        ctx.state = state
        ctx.save_for_backward(*tensors)
        outs = state.outputs
        return outs[0] if len(outs) == 1 else tuple(outs)

    @staticmethod
    def backward(ctx, *grads):
        st = ctx.state
        saved = ctx.saved_tensors
        inputs, externals = saved[:len(saved) - st.n_ext], saved[len(saved) - st.n_ext:]
        args = list(st.args)
        higher = is_grad_enabled()        # (backward under create_graph)
        for i, t, need in zip(st.tensor_at, inputs, st.needs):
            # under create_graph, a view keeps the rerun connected to the
            # outer graph, so the gradients can be differentiated again
            args[i] = t.view_as(t) if higher and need and t.requires_grad else \
                t.detach().requires_grad_(need)
        with _replayed_rng(st.rng), enable_grad(), st.recompute_ctx, _draws(st.rng is not None):
            outs = _as_tuple(st.function(*args, **st.kwargs))
        outs = [outs[i] for i in st.diff]
        if st.check:
            got = [(tuple(o.shape), o.dtype) for o in outs]
            if got != st.meta:
                raise CheckpointError(
                    "torch.utils.checkpoint: Recomputed values for the following tensors have "
                    "different metadata than during the forward pass.\n"
                    f"forward: {st.meta}\nrecomputed: {got}")
        wrt = [args[i] for i in st.tensor_at if args[i].requires_grad] + list(externals)
        pairs = [(o, g) for o, g in zip(outs, grads) if o.requires_grad and g is not None]
        if pairs and wrt:
            gs = _grad([o for o, _ in pairs], wrt, [g for _, g in pairs], allow_unused=True,
                       create_graph=higher)
        else:
            gs = [None] * len(wrt)
        it = iter(gs)
        in_grads = [next(it) if args[i].requires_grad else None for i in st.tensor_at]
        ext_grads = list(it)
        return (None,) + tuple(in_grads) + tuple(ext_grads)
