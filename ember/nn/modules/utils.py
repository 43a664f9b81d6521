"""Argument helpers shared by layers: ``_pair(3) == (3, 3)`` and friends (as
torch.nn.modules.utils), and ``_empty`` for allocating parameters."""
import collections.abc
from itertools import repeat

import numpy as np

from ... import _dtype as D
from ..._tensor import _wrap, _check_device

__all__ = []


def _ntuple(n, name="parse"):
    def parse(x):
        if isinstance(x, collections.abc.Iterable) and not isinstance(x, str):
            return tuple(x)
        return tuple(repeat(x, n))
    parse.__name__ = name
    return parse


_single = _ntuple(1, "_single")
_pair = _ntuple(2, "_pair")
_triple = _ntuple(3, "_triple")
_quadruple = _ntuple(4, "_quadruple")


def _reverse_repeat_tuple(t, n):
    """Reverse ``t`` and repeat each element ``n`` times (padding layouts)."""
    return tuple(x for x in reversed(t) for _ in range(n))


def _list_with_default(out_size, defaults):
    if isinstance(out_size, (int, np.integer)):
        return out_size
    if len(defaults) <= len(out_size):
        raise ValueError(f"Input dimension should be at least {len(out_size) + 1}")
    return [v if v is not None else d for v, d in zip(out_size, defaults[-len(out_size):])]


def _empty(shape, device=None, dtype=None):
    """An uninitialised tensor for a parameter: ``dtype`` (default: the default
    float dtype) on ``device`` (only the CPU exists)."""
    _check_device(device)
    from ..._creation import _size  # (torch's errors for negative or non-int sizes)
    dt = D.to_dtype(dtype) if dtype is not None else D.get_default_dtype()
    return _wrap(np.empty(_size(tuple(shape)), dtype=dt.np))
