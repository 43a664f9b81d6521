"""Argument helpers shared by layers: ``_pair(3) == (3, 3)`` and friends (as
torch.nn.modules.utils), and ``_empty`` / ``_from_host`` for making parameters
and buffers on the right device."""
import collections.abc
from itertools import repeat

import numpy as np

from ..._creation import empty, _finish

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
    float dtype) on ``device`` (default: the default device), as torch's
    ``factory_kwargs``."""
    return empty(tuple(shape), dtype=dtype, device=device)


def _from_host(arr, device=None):
    """A tensor holding the host array ``arr`` on ``device`` (default: the
    default device): for values computed on the host (index maps, masks,
    tables) that meet device tensors."""
    return _finish(arr, False, device)
