"""Keep freed memory in the process, as torch's CPU allocator does: opt-in.

A training step allocates and frees the same large arrays every
iteration.  glibc hands blocks over 128 KiB back to the OS on free and maps
fresh pages (one page fault per 4 KiB) on the next allocation; for conv
nets that costs as much as the arithmetic (LeNet step 29 ms -> 17 ms here).
Raising glibc's mmap and trim thresholds keeps those blocks for reuse.

That setting is process-wide (every library's allocations, NumPy's and the
user's own), so Ember leaves it alone unless asked: call
``ember.backends.cpu.tune_allocator()`` or set ``EMBER_MALLOC_TUNE=1`` before
``import ember``.  ``bench/`` opts in, for Ember and torch alike.
"""
import ctypes
import os
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

tuned = False


def tune_allocator():
    """Raise glibc's mmap/trim thresholds to 1 GiB; True when done (glibc only)."""
    global tuned
    if tuned or not sys.platform.startswith("linux"):
        return tuned
    try:
        libc = ctypes.CDLL("libc.so.6")
        tuned = bool(libc.mallopt(_M_MMAP_THRESHOLD, 1 << 30)
                     and libc.mallopt(_M_TRIM_THRESHOLD, 1 << 30))
    except (OSError, AttributeError):  # not glibc (musl, ...): nothing to tune
        tuned = False
    return tuned


if os.environ.get("EMBER_MALLOC_TUNE", "0") == "1":
    tune_allocator()
