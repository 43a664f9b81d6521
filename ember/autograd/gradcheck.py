"""Numerical gradient checks: compare backward against central differences.

Run in float64 (inputs in float32 are refused, as torch warns they're too
imprecise).  ``gradcheck`` checks first derivatives, ``gradgradcheck``
second derivatives through ``create_graph=True``.
"""
import numpy as np

from .._tensor_base import TensorBase, _wrap
from ..backends import backend_of
from .engine import grad
from .grad_mode import enable_grad
from .._bfloat16 import is_float as _isf

# The numerics run on the host, in NumPy: outputs come back with
# ``numpy(force=True)``; seeds and grad_outputs go to the output's device.


class GradcheckError(RuntimeError):
    pass


def _as_tuple(x):
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _numerical_jacobian(fn, inputs, k, eps):
    """d(all outputs, flattened)/d(inputs[k]) by central differences."""
    x = inputs[k]
    flat = x._data.reshape(-1)  # a view: perturb in place
    cols = []
    for i in range(flat.size):
        orig = flat[i]
        flat[i] = orig + eps
        plus = _flat_outputs(fn(*inputs))
        flat[i] = orig - eps
        minus = _flat_outputs(fn(*inputs))
        flat[i] = orig
        cols.append((plus - minus) / (2 * eps))
    if not cols:
        return np.zeros((0, _flat_outputs(fn(*inputs)).size))
    return np.stack(cols)  # (n_in, n_out)


def _flat_outputs(out):
    outs = [o for o in _as_tuple(out) if isinstance(o, TensorBase) and _isf(o._data.dtype)]
    if not outs:
        return np.zeros(0)
    return np.concatenate([o.numpy(force=True).astype(np.float64).reshape(-1) for o in outs])


def _analytical_jacobian(fn, inputs, k, nondet_tol=0.0):
    with enable_grad():
        out = fn(*inputs)
    outs = [o for o in _as_tuple(out) if isinstance(o, TensorBase) and _isf(o._data.dtype)]
    n_out = sum(o._data.size for o in outs)
    rows = np.zeros((inputs[k]._data.size, n_out))
    col = 0
    for o in outs:
        for j in range(o._data.size):
            if not o.requires_grad:
                col += 1
                continue
            seed = np.zeros(o._data.shape, dtype=o._data.dtype)
            seed.reshape(-1)[j] = 1
            seed = _wrap(backend_of(o._data).from_host(seed))
            g = grad(o, inputs[k], seed, retain_graph=True, allow_unused=True)[0]
            if g is not None:
                rows[:, col] = g.numpy(force=True).reshape(-1)
            col += 1
    return rows


def gradcheck(func, inputs, *, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True,
              nondet_tol=0.0, check_undefined_grad=True, check_grad_dtypes=False,
              check_batched_grad=False, check_batched_forward_grad=False,
              check_forward_ad=False, check_backward_ad=True, fast_mode=False, masked=None):
    """True when func's backward matches finite differences for every input
    that requires grad; otherwise raises GradcheckError (or returns False)."""
    import warnings
    inputs = _as_tuple(inputs)
    func, inputs = _realified(func, inputs)
    for x in inputs:
        if isinstance(x, TensorBase) and x.requires_grad and x._data.dtype != np.float64:
            warnings.warn(f"Input #{inputs.index(x)} requires gradient and is not a double "
                          "precision floating point. This check will likely fail.", UserWarning)
    for k, x in enumerate(inputs):
        if not (isinstance(x, TensorBase) and x.requires_grad):
            continue
        num = _numerical_jacobian(func, inputs, k, eps)
        ana = _analytical_jacobian(func, inputs, k)
        if not np.allclose(ana, num, rtol=rtol, atol=atol):
            msg = (f"Jacobian mismatch for output 0 with respect to input {k},\n"
                   f"numerical:{num}\nanalytical:{ana}\n")
            if raise_exception:
                raise GradcheckError(msg)
            return False
    return True


def _realified(func, inputs):
    """``func`` and ``inputs`` over real numbers only, as torch checks complex functions:
    each complex input becomes a real (..., 2) tensor of its parts, rebuilt inside, and each
    complex output two real outputs (its real and imaginary parts).  The Jacobians then
    check the gradient convention too (dL/dRe z + i dL/dIm z)."""
    was_c = [isinstance(x, TensorBase) and x._data.dtype.kind == "c" for x in inputs]
    if not any(was_c):
        return (lambda *xs: _real_outputs(func(*xs))), inputs
    new = []
    for x, c in zip(inputs, was_c):
        if c:
            d = x._data
            pair = backend_of(d).xp.stack([d.real, d.imag], -1)
            new.append(_wrap(pair).requires_grad_(x.requires_grad))
        else:
            new.append(x)

    def real_func(*xs):
        args = [x[..., 0] + x[..., 1] * 1j if c else x for x, c in zip(xs, was_c)]
        return _real_outputs(func(*args))
    return real_func, tuple(new)


def _real_outputs(out):
    outs = []
    for o in _as_tuple(out):
        if isinstance(o, TensorBase) and o._data.dtype.kind == "c":
            outs += [o.real, o.imag]
        else:
            outs.append(o)
    return tuple(outs)


def gradgradcheck(func, inputs, grad_outputs=None, *, eps=1e-6, atol=1e-5, rtol=1e-3,
                  gen_non_contig_grad_outputs=False, raise_exception=True, nondet_tol=0.0,
                  check_undefined_grad=True, check_grad_dtypes=False, check_batched_grad=False,
                  check_fwd_over_rev=False, check_rev_over_rev=True, fast_mode=False, masked=False):
    """gradcheck of the function (inputs, grad_outputs) -> d(func)/d(inputs)."""
    inputs = _as_tuple(inputs)
    out = _as_tuple(func(*inputs))
    if grad_outputs is None:
        rng = np.random.default_rng(0)
        grad_outputs = tuple(
            _wrap(backend_of(o._data).from_host(rng.standard_normal(o._data.shape)))
            .requires_grad_(True) for o in out if isinstance(o, TensorBase) and o.requires_grad)
    grad_outputs = _as_tuple(grad_outputs)
    n_in = len(inputs)
    diff_idx = [i for i, x in enumerate(inputs) if isinstance(x, TensorBase) and x.requires_grad]

    def first_grads(*args):
        xs, gos = args[:n_in], args[n_in:]
        outs = [o for o in _as_tuple(func(*xs)) if isinstance(o, TensorBase) and o.requires_grad]
        gs = grad(outs, [xs[i] for i in diff_idx], gos, create_graph=True, allow_unused=True)
        return tuple(g for g in gs if g is not None)

    return gradcheck(first_grads, inputs + grad_outputs, eps=eps, atol=atol, rtol=rtol,
                     raise_exception=raise_exception)
