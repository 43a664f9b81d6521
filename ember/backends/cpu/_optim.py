"""CPU optimizer kernels: the updates in one compiled pass per parameter
(``_numba``, no temporaries) where the kernels are enabled and take the
arrays; anything else goes to the generic formula."""
from .._table import CPU as KERNELS
from ..generic import optim as _generic
from . import _jit


def _compiled(d, *others):
    """The compiled kernels, when they may take these arrays: one float32/64
    dtype, all contiguous (so that they flatten to views of the parameter)."""
    dt = d.dtype
    if dt.kind != "f" or dt.itemsize < 4 or not d.flags.c_contiguous:
        return None
    if not all(a.dtype == dt and a.flags.c_contiguous for a in others):
        return None
    return _jit.kernels()


@KERNELS.register
def adam_step(d, g, m, v, step, lr, beta1, beta2, eps, vmax=None):
    """One Adam update in place (see the generic ``adam_step``); compiled
    without amsgrad, formula for formula."""
    k = None if vmax is not None else _compiled(d, g, m, v)
    if k is None:
        return _generic.adam_step(d, g, m, v, step, lr, beta1, beta2, eps, vmax)
    step_size, bc2_sqrt = _generic.adam_corrections(lr, beta1, beta2, step)
    w1 = 1 - beta1
    f = d.dtype.type     # (scalars rounded from Python's double as NumPy would)
    k.adam_update(d.reshape(-1), g.reshape(-1), m.reshape(-1), v.reshape(-1),
                  f(w1), f(1.0 - w1), abs(w1) < 0.5, f(beta2), f(1 - beta2), f(bc2_sqrt),
                  f(eps), f(-step_size))


@KERNELS.register
def sgd_step(d, g, neg_lr):
    """d += g * neg_lr in place; compiled, without a temporary for g * neg_lr."""
    k = _jit.kernels()
    # (_compiled's test written out: this runs once per parameter per step)
    dt = d.dtype
    if (k is None or dt.kind != "f" or dt.itemsize < 4 or g.dtype != dt
            or not (d.flags.c_contiguous and g.flags.c_contiguous)):
        return _generic.sgd_step(d, g, neg_lr)
    k.add_scaled(d.reshape(-1), g.reshape(-1), dt.type(neg_lr))


@KERNELS.register
def sgd_momentum_step(d, g, buf, momentum, neg_lr):
    """buf = momentum * buf + g, then d += buf * neg_lr, in place: one
    compiled pass over the three arrays instead of three NumPy passes."""
    k = _jit.kernels()
    dt = d.dtype
    if (k is None or dt.kind != "f" or dt.itemsize < 4 or g.dtype != dt or buf.dtype != dt
            or not (d.flags.c_contiguous and g.flags.c_contiguous and buf.flags.c_contiguous)):
        return _generic.sgd_momentum_step(d, g, buf, momentum, neg_lr)
    f = dt.type     # (scalars rounded from Python's double as NumPy would)
    k.momentum_update(d.reshape(-1), g.reshape(-1), buf.reshape(-1), f(momentum), f(neg_lr))
