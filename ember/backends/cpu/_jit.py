"""Access to the optional compiled kernels (``ember._kernels``, needs Numba).

``kernels()`` returns the kernel module, or None when Numba is missing or
``EMBER_JIT=0`` is set; callers then take their NumPy path.  Numba is
imported on first use, not by ``import ember``.  ``set_enabled`` switches
the kernels off and on at run time (the tests compare both paths).
"""
import os

_module = None
_tried = False
_enabled = os.environ.get("EMBER_JIT", "1") != "0"


def kernels():
    """The compiled-kernel module, or None (no Numba, or switched off)."""
    global _module, _tried
    if not _enabled:
        return None
    if not _tried:
        _tried = True
        try:
            from . import _numba as _kernels
            _module = _kernels
        except ImportError:   # (Numba not installed: NumPy paths only)
            _module = None
        except Exception as exc:  # a broken Numba install, no writable cache dir ...
            import warnings
            warnings.warn(f"ember: compiled kernels unavailable ({type(exc).__name__}: {exc}); "
                          "using the NumPy paths", RuntimeWarning, stacklevel=2)
            _module = None
    return _module


def kernels_for(dtype):
    """kernels(), for arrays of ``dtype``: the kernels handle float32 and float64."""
    if dtype.kind != "f" or dtype.itemsize < 4:
        return None
    return kernels()


def set_enabled(flag):
    """Use the compiled kernels (True) or the NumPy paths (False); returns the old setting."""
    global _enabled
    old, _enabled = _enabled, bool(flag)
    return old


def available():
    """Whether the compiled kernels can be used (Numba importable)."""
    old = set_enabled(True)
    try:
        return kernels() is not None
    finally:
        set_enabled(old)
