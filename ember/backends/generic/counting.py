"""Counting kernels: bincount, histc, histogram.  Their outputs' sizes depend
on the values, so they run on the host copy of the input (NumPy) and the
result comes back to the input's backend; a device backend registers its own."""
import numpy as np

from .._registry import backend_of
from .._table import GENERIC


def _host(x):
    return backend_of(x).to_host(x)


def _back(host, like):
    return backend_of(like).from_host(host)


@GENERIC.register
def bincount(x, weights, minlength, out_dtype):
    """Counts (or summed ``weights``) of the values 0..max of a 1-D integer array."""
    h = _host(x)
    w = None if weights is None else _host(weights).astype(np.float64)
    return _back(np.bincount(h, weights=w, minlength=minlength).astype(out_dtype), x)


@GENERIC.register
def histc(x, bins, lo, hi):
    """Counts in ``bins`` equal bins over [lo, hi] (values outside ignored; hi
    goes to the last bin), in x's dtype."""
    v = _host(x).reshape(-1).astype(np.float64)
    v = v[(v >= lo) & (v <= hi)]
    idx = np.floor((v - lo) * bins / (hi - lo)).astype(np.int64)
    idx[idx == bins] = bins - 1
    return _back(np.bincount(idx, minlength=bins).astype(x.dtype), x)


@GENERIC.register
def histogram(x, bins, lo, hi, edges, weights, density):
    """(hist, edges) over ``edges`` (an array) or ``bins`` equal bins on
    [lo, hi]; in x's dtype."""
    v = _host(x).reshape(-1).astype(np.float64)
    e = _host(edges).astype(np.float64) if edges is not None else np.linspace(lo, hi, bins + 1)
    w = None if weights is None else _host(weights).reshape(-1).astype(np.float64)
    hist, _ = np.histogram(v, bins=e, weights=w, density=density)
    return _back(hist.astype(x.dtype), x), _back(e.astype(x.dtype), x)
