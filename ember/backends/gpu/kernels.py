"""The CUDA backend's fused kernels (CuPy ``ElementwiseKernel``/``RawKernel``s).

Each kernel registers itself in ``KERNELS`` (``@KERNELS.register``) under the
name the ops ask for (``K.softmax``, ``K.layer_norm`` ...); a name not
registered here falls through to the generic formulas over ``xp`` (CuPy), so
every op runs on "cuda" before any kernel is written.  This module is
imported once, when the CUDA backend is registered (never at ``import ember``).
"""
from .._table import CUDA as KERNELS  # noqa: F401  (the table the kernels below register in)
