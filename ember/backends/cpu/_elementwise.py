"""Large elementwise sums split over the intra-op threads."""
import numpy as np

from .._table import CPU as KERNELS
from ..generic import elementwise as _generic
from . import _pool


@KERNELS.register
def add(a, b):
    """``a + b`` (``b`` may be a number): for two C-contiguous arrays of one
    shape and dtype, NumPy's add on each thread's range of the elements when
    large (the same sums, so the same bits); anything else is the generic
    ``a + b``."""
    if type(b) is not np.ndarray or a.shape != b.shape or a.dtype != b.dtype \
            or a.size < 2 * _pool.ELEMENT_GRAIN or a.dtype.kind not in "fiuc" \
            or not (a.flags.c_contiguous and b.flags.c_contiguous):
        return _generic.add(a, b)
    return _pool.binary(np.add, a, b)


@KERNELS.register
def add_into(a, b):
    """The generic ``add_into`` (``a += b``), split over the threads as
    ``add`` is when large (the same sums, so the same bits as ``a + b``)."""
    if type(b) is not np.ndarray or a.shape != b.shape or a.dtype != b.dtype \
            or a.size < 2 * _pool.ELEMENT_GRAIN or a.dtype.kind not in "fiuc" \
            or not (a.flags.c_contiguous and b.flags.c_contiguous):
        return _generic.add_into(a, b)
    return _pool.binary(np.add, a, b, a)
