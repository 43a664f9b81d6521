"""The generic kernel table: each fused kernel as a formula over ``xp``.

Every backend's table falls back to these, so a new backend runs every op
before it has a single kernel of its own.  They are also the reference the
tests compare the compiled CPU kernels with (``EMBER_JIT=0`` runs them).
One module per topic; importing it registers its kernels in ``GENERIC``.
"""
from .._table import GENERIC  # noqa: F401

from . import (rows, reduction, gemm, activation, loss, norm, attention,  # noqa: E402,F401
               linear, conv, rnn, indexing, special, special_functions, counting,
               optim, sparse, shape, pooling, pooling3d, elementwise)
