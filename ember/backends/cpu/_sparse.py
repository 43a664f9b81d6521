"""CPU sparse kernels: the fast paths; anything else goes to the generic formula."""
import numpy as np

from .._table import CPU as KERNELS
from ..generic.sparse import embedding_rows as _generic_embedding_rows
from ..generic.sparse import embedding_scatter as _generic_embedding_scatter
from . import _jit


@KERNELS.register
def embedding_rows(w, idx):
    """Embedding's forward (see the generic ``embedding_rows``) by ``take``,
    which skips fancy indexing's general set-up: a GPT's 64 tokens from a
    (65, 128) table 4.8 -> 1.9 us, the same rows and the same IndexError."""
    if type(w) is np.ndarray and type(idx) is np.ndarray:
        return w.take(idx, axis=0)
    return _generic_embedding_rows(w, idx)


@KERNELS.register
def embedding_scatter(g, idx, scale, num):
    """Embedding's backward (see the generic ``embedding_scatter``); unscaled
    float32/64 rows are added in order by one compiled loop."""
    flat = idx.reshape(-1)
    k = _jit.kernels_for(g.dtype) if scale is None and flat.shape[0] else None
    if k is not None:
        d = g.shape[-1]
        out = np.zeros((num, d), dtype=g.dtype)
        if k.scatter_add_rows(out, flat, np.ascontiguousarray(g.reshape(-1, d))):
            return out
    return _generic_embedding_scatter(g, idx, scale, num)
