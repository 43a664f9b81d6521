"""What exists only as a Tensor method: in-place arithmetic, ``fill_``/``copy_``, and
the glue behind Python's operators (``x + y``, ``x[i]``, ``x += y``).

``ember.Tensor`` (_tensor.py) lists each under its name.  Everything else a
tensor method does is an op function elsewhere in ember.ops.
"""
import numpy as np

from .. import _dtype as D
from .._tensor_base import TensorBase, _wrap
from ..autograd.grad_mode import state as _gm
from ..backends import namespace, ARRAY_TYPES, backend_of, writeable
from . import elementwise
from .inplace import apply_inplace, _result_into, check_writable, writable_alias, check_overlap, overlap
from .._bfloat16 import is_float as _isf, state as _bf16


def inplace_method(func):
    """``x.name_(...)``: op ``func`` (``name``) run in place on ``x``."""
    name = func.__name__

    def method(self, *args, **kwargs):
        check_overlap(self, args)
        if kwargs:
            check_overlap(self, kwargs.values())
        return apply_inplace(self, func, *args, **kwargs)
    method.__name__ = method.__qualname__ = name + "_"
    method.__doc__ = f"In-place version of :meth:`{name}`."
    return method


# ---- fast in-place arithmetic (the optimizer's hot path) -----------------------------

def _fast_inplace(ufunc, func, name):
    """``self.<name>(other, alpha=)`` with the namespace's ``ufunc`` (a name)
    writing into self's array, when no graph is recorded."""
    def method(self, other, *, alpha=1):
        if isinstance(other, TensorBase):
            check_overlap(self, (other,))
        if _gm.enabled and (self.requires_grad or getattr(other, "requires_grad", False)):
            if alpha != 1:
                return apply_inplace(self, func, other, alpha=alpha)
            return apply_inplace(self, func, other)
        o = other._data if isinstance(other, TensorBase) else other
        if alpha != 1:
            o = o * alpha
        d = self._data
        try:
            if d.dtype is _bf16.dtype:      # (NumPy's ufunc would round ``other`` to bfloat16 first)
                raise TypeError
            if type(d) is not np.ndarray and not writeable(d):
                raise TypeError     # (an expanded device array: no read-only flag to refuse it)
            getattr(namespace(d), ufunc)(d, o, out=d, casting="same_kind")
        except (TypeError, ValueError, OverflowError):   # (the general path words it, or wraps)
            res = func(_wrap(self._data), other) if alpha == 1 else func(_wrap(self._data), other, alpha=alpha)
            _result_into(self, res._data, name)
        self._vc[0] += 1
        return self
    method.__name__ = name
    return method


def _fast_inplace2(ufunc, func, name):
    """As ``_fast_inplace``, for methods without ``alpha``."""
    def method(self, other):
        if isinstance(other, TensorBase):
            check_overlap(self, (other,))
        if _gm.enabled and (self.requires_grad or getattr(other, "requires_grad", False)):
            return apply_inplace(self, func, other)
        o = other._data if isinstance(other, TensorBase) else other
        d = self._data
        try:
            if d.dtype is _bf16.dtype:      # (NumPy's ufunc would round ``other`` to bfloat16 first)
                raise TypeError
            if type(d) is not np.ndarray and not writeable(d):
                raise TypeError     # (an expanded device array: no read-only flag to refuse it)
            getattr(namespace(d), ufunc)(d, o, out=d, casting="same_kind")
        except (TypeError, ValueError, OverflowError):   # (the general path words it, or wraps)
            _result_into(self, func(_wrap(self._data), other)._data, name)
        self._vc[0] += 1
        return self
    method.__name__ = name
    return method


def div_(self, other, *, rounding_mode=None):
    if rounding_mode is not None or not _isf(self._data.dtype):
        check_overlap(self, (other,))
        return apply_inplace(self, elementwise.div, other, rounding_mode=rounding_mode)
    return _div_fast(self, other)


_div_fast = _fast_inplace2("true_divide", elementwise.div, "div_")


add_ = _fast_inplace("add", elementwise.add, "add_")
sub_ = _fast_inplace("subtract", elementwise.sub, "sub_")
mul_ = _fast_inplace2("multiply", elementwise.mul, "mul_")


class _Fill(elementwise.Op):
    @staticmethod
    def forward(ctx, x, value):
        return namespace(x).full_like(x, value)

    @staticmethod
    def backward(ctx, g):
        # zeros, not None: torch sends them on, so a NaN further back (e.g.
        # sqrt's gradient at a negative input) still shows in the result
        from ._bw import zeros_like
        return zeros_like(g)


class _CopyFrom(elementwise.Op):
    _node_name = "CopyBackwards"

    @staticmethod
    def forward(ctx, x, src):
        xp = namespace(x)
        return xp.array(xp.broadcast_to(src, x.shape), dtype=x.dtype)

    @staticmethod
    def backward(ctx, g):
        from ._bw import zeros_like
        return (zeros_like(g) if ctx.needs_input_grad[0] else None), g  # (as _Fill)


def fill_(self, value):
    """Fill with a number (or a 0-d tensor, differentiably)."""
    if isinstance(value, TensorBase):
        if value._data.ndim != 0:
            raise RuntimeError(f"fill_ only supports 0-dimension value tensor but got tensor with "
                               f"{value._data.ndim} dimensions.")
        if overlap(self._data, value._data):
            value = value.clone()    # (torch reads the value as a number: no overlap rule)
        return copy_(self, value)
    value = D.checked_fill(value, self._data.dtype, self._data.size)  # (300 for uint8 raises)
    if _gm.enabled and self.requires_grad:
        return apply_inplace(self, _Fill.apply, value, _overlap_ok=True)
    d = self._data
    if not writeable(d):  # an expanded tensor: torch fills it (each alias alike)
        d = writable_alias(d)
    if d.size:
        d[...] = value
    self._vc[0] += 1
    return self


def zero_(self):
    return fill_(self, 0)


def copy_(self, src, non_blocking=False):
    """Copy ``src`` (broadcast, cast) into this tensor; differentiable w.r.t. src."""
    xp = namespace(self._data)
    if not isinstance(src, TensorBase):
        src = _wrap(xp.asarray(src))        # (numbers, lists, arrays: onto self's device)
    elif type(src._data) is not type(self._data):   # (torch copies across devices)
        src = _onto_device_of(src, self)
    check_overlap(self, (src,))
    if _gm.enabled and (self.requires_grad or src.requires_grad):
        try:
            np.broadcast_shapes(src._data.shape, self._data.shape)  # host (shapes, not data)
        except ValueError:
            raise RuntimeError(f"The size of tensor a ({self._data.shape[-1] if self._data.ndim else 1}) "
                               f"must match the size of tensor b ({src._data.shape[-1]}) at "
                               f"non-singleton dimension {self._data.ndim - 1}") from None
        return apply_inplace(self, _CopyFrom.apply, src)
    check_writable(self)
    try:
        if writeable(self._data) or self._data.size:  # (read-only + empty: nothing to do)
            xp.copyto(self._data, src._data, casting="unsafe")
    except ValueError:
        from ._util import check_broadcast
        check_broadcast(self._data.shape, src._data.shape)
        raise
    self._vc[0] += 1
    return self


def _onto_device_of(src, dst):
    """``src`` on ``dst``'s device (a differentiable copy), when it lives elsewhere."""
    from .device import to_device
    a, b = backend_of(src._data), backend_of(dst._data)
    if a is b:
        return src
    return to_device(src, None if b.name == "cpu" else b,
                     b.runtime.index_of(dst._data) if b.runtime is not None else None)


# ---- Python operators -----------------------------------------------------------------

_OPERAND = (TensorBase, int, float, bool, np.generic)
E = elementwise


def _is_array(x):
    """Whether ``x`` is some backend's array (or an instance of a subclass):
    with Tensors and numbers (``_OPERAND``, tested first: the hot case), what
    Python's operators take; anything else gives NotImplemented."""
    return isinstance(x, tuple(ARRAY_TYPES))


def binop(func, reflected=False):
    """Python operator method calling ``func(self, other)`` (``func(other, self)``
    when ``reflected``), or NotImplemented for operands Ember doesn't take."""
    if reflected:
        def op(self, other):
            if not isinstance(other, _OPERAND) and not _is_array(other):
                return NotImplemented
            return func(other, self)
    else:
        def op(self, other):
            if not isinstance(other, _OPERAND) and not _is_array(other):
                return NotImplemented
            return func(self, other)
    return op


def logic_or_bitwise(logical, bitwise):
    """``&``, ``|``, ``^``: logical on two bools, bitwise otherwise (as torch's)."""
    def f(a, b):
        a_bool = isinstance(a, TensorBase) and a._data.dtype == np.bool_ or isinstance(a, bool)
        b_bool = isinstance(b, TensorBase) and b._data.dtype == np.bool_ or isinstance(b, bool)
        return logical(a, b) if a_bool and b_bool else bitwise(a, b)
    return f


and_ = logic_or_bitwise(E.logical_and, E.bitwise_and)
or_ = logic_or_bitwise(E.logical_or, E.bitwise_or)
xor = logic_or_bitwise(E.logical_xor, E.bitwise_xor)


def invert(self):
    """``~x``: logical not of a bool tensor, bitwise not of an integer one."""
    if self._data.dtype == np.bool_:
        return E.logical_not(self)
    return E.bitwise_not(self)


def pos(self):
    """``+x`` is x itself."""
    return self


def where(self, condition, other):
    """``x.where(condition, y)`` is ``where(condition, x, y)``."""
    return elementwise.where(condition, self, other)


def iop(name):
    """``x op= y``: the in-place method ``name`` (``x += y`` is ``x.add_(y)``)."""
    def op(self, other):
        if not isinstance(other, _OPERAND) and not _is_array(other):
            return NotImplemented
        return getattr(self, name)(other)
    return op
