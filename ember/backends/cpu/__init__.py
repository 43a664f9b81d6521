"""The CPU backend: NumPy arrays, computed with NumPy, sped up where it pays.

What lives here and nowhere else:

* ``_numba``: the compiled (Numba) kernels, reached through ``_jit``, which
  imports Numba on first use and can be switched off (``EMBER_JIT=0``,
  ``_jit.set_enabled``); without them every kernel takes its generic formula.
* ``_pool``: the intra-op thread pool (``set_num_threads``) that splits large
  GEMMs and row kernels over the cores, and the scoped control of NumPy's
  BLAS threads that goes with it.
* ``_rows``: NumPy-specific formulations of short-axis reductions.
* ``_alloc``: the opt-in glibc allocator tuning (``tune_allocator``).

The kernel table ``KERNELS`` holds the kernels this backend does better
than the generic formulas; each decides, per call, from dtype, layout and
size, whether its fast path applies, and otherwise calls the generic one.
"""
import numpy as np

from .._registry import Backend, register, _BY_TYPE
from .._table import CPU as KERNELS
from .. import generic  # noqa: F401  (the fallback table filled first)

CPU = register(Backend("cpu", np, KERNELS, (np.ndarray,)))
for _t in (np.float16, np.float32, np.float64, np.int8, np.int16, np.int32, np.int64, np.uint8,
           np.uint16, np.uint32, np.uint64, np.bool_, np.complex64, np.complex128):
    _BY_TYPE[_t] = CPU      # (NumPy scalars, which 0-d results often are)
del _t

from . import (_rows, _reduction, _gemm, _activation, _norm, _attention,  # noqa: E402,F401
               _linear, _conv, _conv3d, _pooling, _pooling3d, _rnn, _indexing, _special,
               _optim, _sparse, _shape, _loss, _elementwise)  # (register their kernels)

from ._alloc import tune_allocator  # noqa: E402,F401
from ._pool import get_num_threads, set_num_threads  # noqa: E402,F401
