"""vmap: map a function over a batch dimension of its inputs.

How it runs (two paths, same results):

* **Batched** -- one call on the whole batch -- when Ember can tell that
  ``func`` maps over a leading dimension by itself, i.e. ``func(x)[b] ==
  func(x[b])``.  That holds for: an elementwise Ember function (``ember.sin``,
  ``F.relu`` ... , see ``_ELEMENTWISE``); an ``nn.Module`` built only of
  layers that act on trailing dimensions (Linear, the elementwise
  activations, LayerNorm/RMSNorm, Embedding, Softmax/LogSoftmax over a
  negative dim, Dropout in eval mode, nested in Sequential), with no hooks
  and ``forward`` not replaced; and an inner ``vmap`` of one of these with
  in_dims=out_dims=0 (so nested vmaps batch too).  The call must have one
  positional tensor argument, mapped over an int ``in_dims``.
* **Loop** -- everything else: ``func`` runs once per example, on views
  ``x.select(in_dim, b)`` of the inputs (so gradients flow back through
  vmap to the batched inputs), and the results are stacked at ``out_dims``.

Ember cannot inspect what an arbitrary Python function does with its input
(``x.sum()`` is not batch-safe, ``x * 2`` is), so it batches only what it
can prove, and loops otherwise.

``randomness`` follows torch: ``"error"`` raises if ``func`` draws random
numbers (seen as a change of the default generator's state), ``"same"``
gives every example the same draws, ``"different"`` independent ones.
"""
import numpy as np

from .._tensor_base import TensorBase
from ..ops.shape import stack, movedim
from ..random import default_generator
from ..utils._pytree import tree_flatten, tree_unflatten, broadcast_prefix

_RANDOMNESS = ("error", "different", "same")


def vmap(func, in_dims=0, out_dims=0, randomness="error", *, chunk_size=None):
    """``vmap(func, in_dims=0, out_dims=0)(*args)`` runs ``func`` on each slice
    of the batched arguments and stacks the results.

    ``in_dims``: an int (every argument mapped over that dim), None (not
    mapped), or a tuple (of ints/None/nested tuples) matching ``args``.
    ``out_dims``: where the batch dimension goes in each output (an int or
    a tuple per output; None for an output that does not depend on the
    batch).  See the module docstring for when the call is batched and when
    it loops."""
    if randomness not in _RANDOMNESS:
        raise RuntimeError(f"Only allowed values for randomness are 'error', 'different', or "
                           f"'same'. Got {randomness}")
    if chunk_size is not None and (not isinstance(chunk_size, int) or chunk_size <= 0):
        raise ValueError(f"vmap: chunk_size should be None or greater than 0. "
                         f"(got {chunk_size})")
    fname = getattr(func, "__name__", type(func).__name__)

    def wrapper(*args, **kwargs):
        where = f"vmap({fname}, in_dims={in_dims}, ...)(<inputs>)"
        dims = _in_dims(in_dims, args, where)
        leaves, spec = tree_flatten(args)
        size = _batch_size(leaves, dims, where)
        if _batchable(func, args, kwargs, in_dims, out_dims, randomness):
            return _run_batched(func, args[0], dims[0], out_dims)
        return _run_loop(func, leaves, spec, dims, size, kwargs, out_dims, randomness, fname)
    wrapper.__name__ = wrapper.__qualname__ = f"vmap({fname})"
    wrapper.__doc__ = getattr(func, "__doc__", None)
    # (an outer vmap may batch this one in one call, see _batchable)
    wrapper._ember_vmap = (func, in_dims, out_dims, randomness)
    return wrapper


# ---- arguments ---------------------------------------------------------------------------

def _in_dims(in_dims, args, where):
    """One in_dim (int or None) per leaf of ``args``."""
    if not (in_dims is None or isinstance(in_dims, (int, tuple, list))) or isinstance(in_dims, bool):
        raise ValueError(f"{where}: expected `in_dims` to be int or a (potentially nested) tuple "
                         f"matching the structure of inputs, got: {type(in_dims)}.")
    if isinstance(in_dims, (tuple, list)):
        if len(in_dims) != len(args):
            _, a_spec = tree_flatten(tuple(args))
            _, d_spec = tree_flatten(tuple(in_dims))
            raise ValueError(f"{where}: in_dims is not compatible with the structure of `inputs`. "
                             f"in_dims has structure {d_spec} but inputs has structure {a_spec}.")
        try:
            return broadcast_prefix(tuple(in_dims), tuple(args))
        except ValueError:
            raise ValueError(f"{where}: in_dims is not compatible with the structure of "
                             "`inputs`.") from None
    return broadcast_prefix(in_dims, tuple(args))


def _batch_size(leaves, dims, where):
    sizes = []
    for x, d in zip(leaves, dims):
        if d is None:
            continue
        if not isinstance(d, int) or isinstance(d, bool):
            raise ValueError(f"{where}: in_dim must be an int or None, got {d!r}")
        if not isinstance(x, TensorBase):
            raise ValueError(f"{where}: Got in_dim={d} for an input but the input is of type "
                             f"{type(x)}. We cannot vmap over non-Tensor arguments, please use "
                             "None as the respective in_dim")
        n = x._data.ndim
        if not -n <= d < n:
            raise ValueError(f"{where}: Got in_dim={d} for some input, but that input is a "
                             f"Tensor of dimensionality {n} so expected in_dim to satisfy "
                             f"-{n} <= in_dim < {n}.")
        sizes.append(x._data.shape[d])
    if not sizes:
        raise ValueError("vmap: Expected at least one Tensor to vmap over")
    if any(s != sizes[0] for s in sizes):
        raise ValueError("vmap: Expected all tensors to have the same size in the mapped "
                         f"dimension, got sizes {sizes} for the mapped dimension")
    return sizes[0]


# ---- the loop ----------------------------------------------------------------------------

def _state():
    return default_generator.get_state()


def _run_loop(func, leaves, spec, dims, size, kwargs, out_dims, randomness, fname):
    if size == 0:
        return _run_empty(func, leaves, spec, dims, kwargs, out_dims, fname)
    results = []
    start = _state() if randomness != "different" else None
    for b in range(size):
        if randomness == "same":
            default_generator.set_state(start)
        example = [x if d is None else x.select(d, b) for x, d in zip(leaves, dims)]
        out = func(*tree_unflatten(example, spec), **kwargs)
        if randomness == "error" and b == 0 and _changed(start, _state()):
            raise RuntimeError("vmap: called random operation while in randomness error mode. "
                               "Please either use the 'same' or 'different' randomness flags on "
                               "vmap or perform the randomness operation out of vmap")
        results.append(out)
    return _stack_outputs(results, out_dims, fname)


def _run_empty(func, leaves, spec, dims, kwargs, out_dims, fname):
    """A batch of size 0: func runs once on a zero-filled example, to learn
    its outputs' shapes, and each output comes back with 0 examples."""
    example = []
    for x, d in zip(leaves, dims):
        if d is None:
            example.append(x)
        else:
            shape = list(x.shape)
            del shape[d]
            example.append(x.new_zeros(shape))
    out = func(*tree_unflatten(example, spec), **kwargs)
    stacked = _stack_outputs([out], out_dims, fname)
    leaves_out, out_spec = tree_flatten(stacked)
    odims = _out_dims(out_dims, out, fname)
    empty = [o if d is None else o.narrow(d, 0, 0) for o, d in zip(leaves_out, odims)]
    return tree_unflatten(empty, out_spec)


def _changed(a, b):
    """Whether two generator states (uint8 tensors) differ."""
    return not np.array_equal(a.numpy(), b.numpy())


def _stack_outputs(results, out_dims, fname):
    flat0, out_spec = tree_flatten(results[0])
    per_example = [tree_flatten(r)[0] for r in results]
    odims = _out_dims(out_dims, results[0], fname)
    stacked = []
    for k, d in enumerate(odims):
        column = [leaves[k] for leaves in per_example]
        if d is None:
            first = column[0]
            if isinstance(first, TensorBase) and any(
                    not _same_tensor(first, c) for c in column[1:]):
                raise ValueError(f"vmap({fname}, ...): `{fname}` can not return a BatchedTensor "
                                 "when out_dim is None")
            stacked.append(first)
            continue
        if not all(isinstance(c, TensorBase) for c in column):
            bad = next(c for c in column if not isinstance(c, TensorBase))
            raise ValueError(f"vmap({fname}, ...): `{fname}` must only return Tensors, got type "
                             f"{type(bad)}. Did you mean to set out_dims= to None for output?")
        s = stack(column)
        stacked.append(s if d == 0 else movedim(s, 0, d))
    return tree_unflatten(stacked, out_spec)


def _out_dims(out_dims, out, fname):
    """One out_dim per leaf of ``out``."""
    if isinstance(out_dims, (tuple, list)):
        if isinstance(out, tuple) and len(out_dims) == len(out):
            return broadcast_prefix(tuple(out_dims), out)
        if len(out_dims) == 1 and not isinstance(out, tuple):
            return broadcast_prefix(out_dims[0], out)
        raise ValueError(f"vmap({fname}, ..., out_dims={out_dims})(<inputs>): out_dims is not "
                         "compatible with the structure of `outputs`.")
    return broadcast_prefix(out_dims, out)


def _same_tensor(a, b):
    return a is b or (isinstance(b, TensorBase) and a._data.shape == b._data.shape
                      and bool((a._data == b._data).all()))


# ---- the batched path ------------------------------------------------------------------

def _elementwise_functions():
    """Ember functions that act elementwise (one tensor in, same shape out);
    ``ember.sin`` is a wrapper (ops/_typecheck.py) whose ``__wrapped__`` is
    ``ops.math.sin``."""
    from ..ops import math as M, elementwise as E
    from ..nn import functional as F
    names = ["abs", "neg", "exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sqrt",
             "rsqrt", "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh",
             "asinh", "acosh", "atanh", "sigmoid", "erf", "erfc", "erfinv", "reciprocal",
             "floor", "ceil", "trunc", "frac", "square", "sign", "relu", "logit"]
    funcs = {getattr(M, n, None) or getattr(E, n, None) for n in names} - {None}
    for n in ["relu", "relu6", "gelu", "silu", "mish", "elu", "selu", "celu", "leaky_relu",
              "softplus", "softsign", "tanhshrink", "hardtanh", "hardswish", "hardsigmoid",
              "logsigmoid", "sigmoid", "tanh"]:
        if hasattr(F, n):
            funcs.add(getattr(F, n))
    return funcs


_ELEMENTWISE = None


def _trailing_module_types():
    import ember.nn as nn
    names = ["Linear", "Identity", "ReLU", "ReLU6", "Tanh", "Sigmoid", "GELU", "SiLU", "Mish",
             "LeakyReLU", "ELU", "SELU", "CELU", "Softplus", "Softsign", "Hardtanh",
             "Hardswish", "Hardsigmoid", "Tanhshrink", "LogSigmoid", "LayerNorm", "RMSNorm",
             "Embedding", "Sequential", "Dropout", "Softmax", "LogSoftmax"]
    return {getattr(nn, n) for n in names if hasattr(nn, n)}


_MODULE_TYPES = None


def _module_is_trailing(m):
    """Whether module ``m`` (and all it contains) maps over leading dims."""
    global _MODULE_TYPES
    if _MODULE_TYPES is None:
        _MODULE_TYPES = _trailing_module_types()
    from ..nn.modules import module as _module
    if _module._GlobalHookFlag.on:
        return False
    for sub in m.modules():
        t = type(sub)
        if t not in _MODULE_TYPES or "forward" in sub.__dict__:
            return False
        d = sub.__dict__
        if d["_forward_hooks"] or d["_forward_pre_hooks"] or d["_backward_hooks"] \
                or d["_backward_pre_hooks"]:
            return False
        name = t.__name__
        if name == "Dropout" and sub.training and sub.p > 0:
            return False          # (random: the loop applies the randomness rules)
        if name in ("Softmax", "LogSoftmax") and (sub.dim is None or sub.dim >= 0):
            return False
    return True


def _is_trailing_func(func):
    global _ELEMENTWISE
    if _ELEMENTWISE is None:
        _ELEMENTWISE = _elementwise_functions()
    from ..nn.modules.module import Module
    if isinstance(func, Module):
        return _module_is_trailing(func)
    inner = getattr(func, "_ember_vmap", None)
    if inner is not None:
        f, i, o, r = inner
        return i == 0 and o == 0 and _is_trailing_func(f)
    return _elementwise_only(func)


def _batchable(func, args, kwargs, in_dims, out_dims, randomness):
    if kwargs or len(args) != 1 or not isinstance(args[0], TensorBase):
        return False
    d = in_dims[0] if isinstance(in_dims, (tuple, list)) and len(in_dims) == 1 else in_dims
    if not isinstance(d, int) or isinstance(d, bool) or not isinstance(out_dims, int):
        return False
    if args[0]._data.ndim < 2 and not _elementwise_only(func):
        return False             # (a layer needs a feature dim per example)
    return _is_trailing_func(func)


def _elementwise_only(func):
    global _ELEMENTWISE
    if _ELEMENTWISE is None:
        _ELEMENTWISE = _elementwise_functions()
    try:
        return getattr(func, "__wrapped__", func) in _ELEMENTWISE
    except TypeError:            # (an unhashable callable)
        return False


def _run_batched(func, x, in_dim, out_dim):
    x = movedim(x, in_dim, 0) if in_dim not in (0, -x._data.ndim) else x
    out = func(x)
    return out if out_dim == 0 else movedim(out, 0, out_dim)
