"""The CUDA backend: CuPy arrays on NVIDIA GPUs, device type "cuda".

Registered lazily: ``import ember`` never imports CuPy (it takes ~1.4 s and
would touch the driver).  The first time something asks for a "cuda" device
(``device="cuda"``, ``.cuda()``, ``ember.cuda.is_available()`` ...),
``load()`` imports CuPy and counts the devices; with no CuPy or no usable
device the backend stays unregistered and ``why()`` says why, which is what
asking for "cuda" then raises.

* arrays: ``cupy.ndarray``; namespace ``xp = cupy``;
* moves: ``from_host`` copies a NumPy array to the current device,
  ``to_host`` copies back (``cupy.asnumpy``); ``host=False``, so
  ``Tensor.numpy()`` refuses a cuda tensor as torch does;
* kernels: ``KERNELS``, a table over the generic formulas, which
  ``kernels.py`` fills with CuPy kernels;
* ``runtime``: device numbers, memory, streams, random generators
  (``_runtime.py``), what ``ember.cuda`` answers with.

(``ember.backends.cuda`` is torch's flags module, ``matmul.allow_tf32`` ...;
this package is the backend itself.)
"""
import threading

from .._table import CUDA as KERNELS  # noqa: F401  (filled by kernels.py)

_lock = threading.Lock()
_state = {"tried": False, "backend": None, "why": None}


def load():
    """The registered CUDA backend, registering it on the first call; None
    when CuPy or a CUDA device is missing (``why()`` says which).  A backend
    registered under "cuda" by someone else (a test's stand-in) is returned
    as it is."""
    from .. import _registry
    b = _registry.get("cuda")
    if b is not None or _state["tried"]:
        return b
    with _lock:
        if not _state["tried"]:
            _state["backend"] = _try_register()
            _state["tried"] = True
    return _registry.get("cuda")


def why():
    """Why the CUDA backend is unavailable (after ``load()`` returned None)."""
    return _state["why"] or "the CUDA backend is not registered"


def _try_register():
    try:
        import cupy
    except ImportError as e:
        _state["why"] = (f"CuPy is not installed ({e}); install it with "
                         "`pip install cupy-cuda13x` (Ember's `cuda` extra)")
        return None
    try:
        n = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:      # (cupy.cuda.runtime.CUDARuntimeError: no driver, no device)
        _state["why"] = f"CuPy found no usable CUDA device ({type(e).__name__}: {e})"
        return None
    if n == 0:
        _state["why"] = "CuPy found no CUDA device (device count 0)"
        return None
    from .._registry import Backend, register
    from ._runtime import CupyRuntime
    from . import kernels  # noqa: F401  (fills KERNELS)
    return register(Backend("cuda", cupy, KERNELS, (cupy.ndarray,), host=False,
                            from_host=cupy.asarray, to_host=cupy.asnumpy,
                            runtime=CupyRuntime(cupy, n)))
