"""CPU special-function kernels: SciPy on the arrays themselves.

NumPy arrays are SciPy's own, so the CPU's kernels are the host formulas of
ember.backends.generic.special, without the generic kernels' round trip
through ``to_host``/``from_host`` (set directly: no wrapper call per op).
"""
from .._table import CPU as KERNELS
from ..generic.special import erfc_host, erfinv_host

KERNELS.erfc = erfc_host
KERNELS.erfinv = erfinv_host
