"""Access to the optional compiled kernels (``ember._kernels``, needs Numba).

``kernels()`` returns the kernel module, or None when Numba is missing or
``EMBER_JIT=0`` is set; callers then take their NumPy path.  Numba is
imported on first use, not by ``import ember``.  ``set_enabled`` switches
the kernels off and on at run time (the tests compare both paths); the
switch is process-wide, like torch's ``torch.backends.*`` flags.
"""
import os
import threading

_module = None
_tried = False
_enabled = os.environ.get("EMBER_JIT", "1") != "0"
_load_lock = threading.Lock()
_features = None       # (the host CPU's, by _host_features)


def kernels():
    """The compiled-kernel module, or None (no Numba, or switched off)."""
    if not _enabled:
        return None
    if not _tried:
        _load()
    return _module


def module():
    """The compiled-kernel module whether or not the switch is on (None
    without Numba): for code that needs the compiled loops themselves."""
    if not _tried:
        _load()
    return _module


def _load():
    """Import the kernels once.  Threads arriving meanwhile wait for the
    import instead of seeing "tried, nothing there" and taking the NumPy path
    for that one call (results would then differ in the last bits)."""
    global _module, _tried
    with _load_lock:
        if _tried:
            return
        try:
            from . import _numba as _kernels
            _module = _kernels
            _hold_compiler_across_fork()
        except ImportError:   # (Numba not installed: NumPy paths only)
            _module = None
        except Exception as exc:  # a broken Numba install, no writable cache dir ...
            import warnings
            warnings.warn(f"ember: compiled kernels unavailable ({type(exc).__name__}: {exc}); "
                          "using the NumPy paths", RuntimeWarning, stacklevel=3)
            _module = None
        _tried = True


def _hold_compiler_across_fork():
    """Make ``fork`` wait while another thread compiles a kernel.  Numba
    compiles under one process-wide lock; a child forked while another
    thread held it would wait for it forever at its first compile (that
    thread does not exist in the child)."""
    if hasattr(os, "register_at_fork"):
        from numba.core.compiler_lock import global_compiler_lock as lock
        os.register_at_fork(before=lock.acquire, after_in_parent=lock.release,
                            after_in_child=lock.release)


def kernels_for(dtype):
    """kernels(), for arrays of ``dtype``: the kernels handle float32 and
    float64 (not half, bfloat16 or NumPy's long double)."""
    if dtype.kind != "f" or (dtype.itemsize != 4 and dtype.itemsize != 8) or not _enabled:
        return None
    return _module if _tried else kernels()   # (inline: this runs for every kernel use)


def set_enabled(flag):
    """Use the compiled kernels (True) or the NumPy paths (False); returns the old setting."""
    global _enabled
    old, _enabled = _enabled, bool(flag)
    return old


def available():
    """Whether the compiled kernels can be used (Numba importable).  Leaves
    the switch alone: flipping it, even briefly, would switch every thread."""
    return module() is not None


def _host_features():
    """The host CPU's features as LLVM names them (``avx512f``, ``avx2``,
    ``fma``: True/False), asked once; empty where llvmlite cannot tell (then
    the BLAS paths stay)."""
    global _features
    if _features is None:
        try:
            from llvmlite import binding
            _features = dict(binding.get_host_cpu_features())
        except Exception:
            _features = {}
    return _features


def wide_vectors():
    """Whether the compiled code may use 512-bit vectors (the host's AVX-512):
    the register-blocked kernels (direct convolutions, the blocked Linear)
    hold 16 sums of 16 floats in 16 of its 32 vector registers; with
    256-bit vectors they would spill, and the BLAS paths stay."""
    return bool(_host_features().get("avx512f", False))


def fma_vectors():
    """Whether the compiled code may use 256-bit vectors with fused
    multiply-add (the host's AVX2 and FMA): the direct kernels' register
    blocks then compile for them as four narrower blocks (``_numba._conv_block``)."""
    f = _host_features()
    return bool(f.get("avx2", False) and f.get("fma", False))
