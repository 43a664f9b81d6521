"""Keep freed memory in the process, as torch's CPU allocator does.

A training step allocates and frees the same large arrays every
iteration.  glibc hands blocks over 128 KiB back to the OS on free and maps
fresh pages (one page fault per 4 KiB) on the next allocation; for conv
nets that costs as much as the arithmetic (LeNet step 29 ms -> 17 ms here).
Raising the mmap and trim thresholds keeps those blocks for reuse.  Set
EMBER_MALLOC_TUNE=0 to leave the allocator alone.
"""
import ctypes
import os
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def tune():
    if os.environ.get("EMBER_MALLOC_TUNE", "1") == "0" or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        ok = libc.mallopt(_M_MMAP_THRESHOLD, 1 << 30) and libc.mallopt(_M_TRIM_THRESHOLD, 1 << 30)
        return bool(ok)
    except (OSError, AttributeError):  # not glibc (musl, ...): nothing to tune
        return False


tuned = tune()
