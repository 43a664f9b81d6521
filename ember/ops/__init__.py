"""Every differentiable primitive, and the wiring that makes them Tensor methods.

Each module lists its public functions in ``__all__``, the ones that are
also Tensor methods in ``METHODS``, and the ones that get an in-place
``name_`` variant in ``INPLACE``.  This file attaches them, plus Python's
operators, to ``Tensor``.
"""
import numpy as np

from .._tensor import Tensor, _wrap
from ..autograd.grad_mode import state as _gm
from ..backends import namespace, ARRAY_TYPES
from . import elementwise, reduction, shape, linalg, inplace, math, indexing
from .inplace import apply_inplace, _result_into, check_writable, writable_alias

_MODULES = [elementwise, reduction, shape, linalg, math, indexing]


def _public(mod):
    names = getattr(mod, "__all__", None)
    if names is None:
        names = [n for n, v in vars(mod).items()
                 if callable(v) and not n.startswith("_") and getattr(v, "__module__", None) == mod.__name__
                 and not isinstance(v, type)]
    return names


def _make_inplace(func, name):
    def method(self, *args, **kwargs):
        return apply_inplace(self, func, *args, **kwargs)
    method.__name__ = name + "_"
    method.__doc__ = f"In-place version of :meth:`{name}`."
    return method


for _mod in _MODULES:
    for _name in getattr(_mod, "METHODS", ()):
        setattr(Tensor, _name, getattr(_mod, _name))
    for _name in getattr(_mod, "INPLACE", ()):
        setattr(Tensor, _name + "_", _make_inplace(getattr(_mod, _name), _name))


# ---- fast in-place arithmetic (the optimizer's hot path) -----------------------------

def _fast_inplace(ufunc, func, name):
    """``self.<name>(other, alpha=)`` with the namespace's ``ufunc`` (a name)
    writing into self's array, when no graph is recorded."""
    def method(self, other, *, alpha=1):
        if _gm.enabled and (self.requires_grad or getattr(other, "requires_grad", False)):
            if alpha != 1:
                return apply_inplace(self, func, other, alpha=alpha)
            return apply_inplace(self, func, other)
        o = other._data if isinstance(other, Tensor) else other
        if alpha != 1:
            o = o * alpha
        d = self._data
        try:
            getattr(namespace(d), ufunc)(d, o, out=d, casting="same_kind")
        except (TypeError, ValueError):
            res = func(_wrap(self._data), other) if alpha == 1 else func(_wrap(self._data), other, alpha=alpha)
            _result_into(self, res._data, name)
        self._vc[0] += 1
        return self
    method.__name__ = name
    return method


Tensor.add_ = _fast_inplace("add", elementwise.add, "add_")
Tensor.sub_ = _fast_inplace("subtract", elementwise.sub, "sub_")
Tensor.subtract_ = Tensor.sub_


def _fast_inplace2(ufunc, func, name):
    """As ``_fast_inplace``, for methods without ``alpha``."""
    def method(self, other):
        if _gm.enabled and (self.requires_grad or getattr(other, "requires_grad", False)):
            return apply_inplace(self, func, other)
        o = other._data if isinstance(other, Tensor) else other
        d = self._data
        try:
            getattr(namespace(d), ufunc)(d, o, out=d, casting="same_kind")
        except (TypeError, ValueError):
            _result_into(self, func(_wrap(self._data), other)._data, name)
        self._vc[0] += 1
        return self
    method.__name__ = name
    return method


Tensor.mul_ = Tensor.multiply_ = _fast_inplace2("multiply", elementwise.mul, "mul_")


def _div_(self, other, *, rounding_mode=None):
    if rounding_mode is not None or self._data.dtype.kind != "f":
        return apply_inplace(self, elementwise.div, other, rounding_mode=rounding_mode)
    return _div_fast(self, other)


_div_fast = _fast_inplace2("true_divide", elementwise.div, "div_")
Tensor.div_ = Tensor.divide_ = Tensor.true_divide_ = _div_


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


def _fill_(self, value):
    """Fill with a number (or a 0-d tensor, differentiably)."""
    if isinstance(value, Tensor):
        if value._data.ndim != 0:
            raise RuntimeError(f"fill_ only supports 0-dimension value tensor but got tensor with "
                               f"{value._data.ndim} dimensions.")
        return copy_(self, value)
    if _gm.enabled and self.requires_grad:
        return apply_inplace(self, _Fill.apply, value, _overlap_ok=True)
    d = self._data
    if not d.flags.writeable:  # an expanded tensor: torch fills it (each alias alike)
        d = writable_alias(d)
    if d.size:
        d[...] = value
    self._vc[0] += 1
    return self


def _zero_(self):
    return _fill_(self, 0)


def copy_(self, src, non_blocking=False):
    """Copy ``src`` (broadcast, cast) into this tensor; differentiable w.r.t. src."""
    xp = namespace(self._data)
    if not isinstance(src, Tensor):
        src = _wrap(xp.asarray(src))        # (numbers, lists, arrays: onto self's device)
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
        if self._data.flags.writeable or self._data.size:  # (read-only + empty: nothing to do)
            xp.copyto(self._data, src._data, casting="unsafe")
    except ValueError:
        from ._util import check_broadcast
        check_broadcast(self._data.shape, src._data.shape)
        raise
    self._vc[0] += 1
    return self


Tensor.fill_ = _fill_
Tensor.zero_ = _zero_
Tensor.copy_ = copy_


# ---- Python operators -----------------------------------------------------------------

_OPERAND = (Tensor, int, float, bool, np.generic)
E = elementwise


def _is_array(x):
    """Whether ``x`` is some backend's array (or an instance of a subclass):
    with Tensors and numbers (``_OPERAND``, tested first: the hot case), what
    Python's operators take; anything else gives NotImplemented."""
    return isinstance(x, tuple(ARRAY_TYPES))


def _binop(func, reflected=False):
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


# The hottest operators are the fast paths themselves (see elementwise.py).
Tensor.__add__ = Tensor.__radd__ = E.fast_add
Tensor.__sub__ = E.fast_sub
Tensor.__rsub__ = E.fast_rsub
Tensor.__mul__ = Tensor.__rmul__ = E.fast_mul
Tensor.__truediv__ = E.fast_div
Tensor.__rtruediv__ = E.fast_rdiv
Tensor.__floordiv__ = _binop(E.floor_divide)
Tensor.__rfloordiv__ = _binop(E.floor_divide, True)
Tensor.__mod__ = _binop(E.remainder)
Tensor.__rmod__ = _binop(E.remainder, True)
Tensor.__pow__ = _binop(E.pow)
Tensor.__rpow__ = _binop(E.pow, True)
Tensor.__matmul__ = _binop(linalg.matmul)
Tensor.__rmatmul__ = _binop(linalg.matmul, True)
Tensor.__eq__ = _binop(E.eq)
Tensor.__ne__ = _binop(E.ne)
Tensor.__lt__ = _binop(E.lt)
Tensor.__le__ = _binop(E.le)
Tensor.__gt__ = _binop(E.gt)
Tensor.__ge__ = _binop(E.ge)


def _logic_or_bitwise(logical, bitwise):
    def f(a, b):
        a_bool = isinstance(a, Tensor) and a._data.dtype == np.bool_ or isinstance(a, bool)
        b_bool = isinstance(b, Tensor) and b._data.dtype == np.bool_ or isinstance(b, bool)
        return logical(a, b) if a_bool and b_bool else bitwise(a, b)
    return f


Tensor.__and__ = _binop(_logic_or_bitwise(E.logical_and, E.bitwise_and))
Tensor.__rand__ = _binop(_logic_or_bitwise(E.logical_and, E.bitwise_and), True)
Tensor.__or__ = _binop(_logic_or_bitwise(E.logical_or, E.bitwise_or))
Tensor.__ror__ = _binop(_logic_or_bitwise(E.logical_or, E.bitwise_or), True)
Tensor.__xor__ = _binop(_logic_or_bitwise(E.logical_xor, E.bitwise_xor))
Tensor.__rxor__ = _binop(_logic_or_bitwise(E.logical_xor, E.bitwise_xor), True)
Tensor.__lshift__ = _binop(E.bitwise_left_shift)
Tensor.__rshift__ = _binop(E.bitwise_right_shift)
Tensor.__hash__ = lambda self: id(self)


def _invert(self):
    if self._data.dtype == np.bool_:
        return E.logical_not(self)
    return E.bitwise_not(self)


Tensor.__neg__ = E.neg
Tensor.__pos__ = lambda self: self
Tensor.__invert__ = _invert


def _iop(name):
    def op(self, other):
        if not isinstance(other, _OPERAND) and not _is_array(other):
            return NotImplemented
        return getattr(self, name)(other)
    return op


Tensor.__iadd__ = _iop("add_")
Tensor.__isub__ = _iop("sub_")
Tensor.__imul__ = _iop("mul_")
Tensor.__itruediv__ = _iop("div_")
Tensor.__ifloordiv__ = _iop("floor_divide_")
Tensor.__imod__ = _iop("remainder_")
Tensor.__ipow__ = _iop("pow_")
Tensor.__iand__ = _iop("bitwise_and_")
Tensor.__ior__ = _iop("bitwise_or_")
Tensor.__ixor__ = _iop("bitwise_xor_")


# ---- public names in Python's own messages ----------------------------------------------
# Functions made by factories (``_compare``, ``_bitwise``, ``_nondiff_unary``...)
# have qualnames such as "_compare.<locals>.f", and Python prints the qualname
# in its argument errors ("_compare.<locals>.f() missing 1 required positional
# argument").  Give each the public name torch's messages use ("eq() missing
# ..."); an alias (``less`` for ``lt``) keeps the first, canonical name.  This
# runs once at import: nothing changes on any call.

def _give_public_names():
    import types
    generic = ("f", "op", "method", "fn", "wrapper", "<lambda>")

    def name_it(f, name):
        if isinstance(f, types.FunctionType) and "<locals>" in f.__qualname__:
            if f.__name__ in generic:
                f.__name__ = name
            f.__qualname__ = f.__name__

    for mod in _MODULES:
        for name in _public(mod):
            name_it(getattr(mod, name, None), name)
    for name, f in list(vars(Tensor).items()):
        name_it(f, name)


_give_public_names()
