"""Backends: an op says *what* to compute, its tensors' backend says *how*.

A backend is one kind of device (``cpu`` today; a GPU backend plugs in the
same way).  It owns three things:

* ``xp``: the array namespace its arrays are computed with (NumPy on the
  CPU; the array-API/``cupy`` pattern).  An op never imports NumPy to
  compute: it asks ``namespace(x)`` for the namespace of its input and
  writes ``xp.exp(x)``, ``xp.where(m, a, b)``.
* ``kernels``: its table of fused kernels (``K.softmax``, ``K.layer_norm``,
  ``K.matmul`` ...).  A name the backend has no special kernel for is
  answered by the generic formula in ``ember.backends.generic``, written
  against ``xp`` too, so every backend has every kernel.
* ``array_types``: the types of its arrays, by which ``backend_of`` finds
  the backend of any array an op is handed.

Ops import this package and nothing below it (no Numba, no threads, no
BLAS): those belong to ``ember.backends.cpu``.  Adding a backend is
``register(Backend(...))`` plus, where it pays, kernels in its own table.

The torch flags modules (``ember.backends.cudnn``, ``.mps``, ``.cuda``)
live here too, as in torch.
"""
from . import cudnn, mps, cuda  # noqa: F401  (torch.backends.<name>: flags modules)
from ._registry import (Backend, register, unregister, get, backend_of, namespace, kernels,  # noqa: F401
                        is_array, asarray, ARRAY_TYPES, DefaultBackend, XP,
                        writeable, make_readonly, placed)
from . import generic  # noqa: E402,F401  (the generic kernel table)
from . import cpu  # noqa: E402,F401  (registers the CPU backend)

# How an op keeps inf/nan silent, as torch's do, without changing the user's
# NumPy error mode: ``quiet()`` before computing (NumPy is the host's array
# library whatever the device).
from .cpu._fperr import quiet  # noqa: E402,F401
from .cpu import _fperr  # noqa: E402,F401  (its ``installed`` filter: the op recorder checks it inline)
