"""Generic optim kernels: formulas over the array namespace (see ember.backends)."""
from .._registry import namespace  # noqa: F401
from .._table import GENERIC  # noqa: F401
