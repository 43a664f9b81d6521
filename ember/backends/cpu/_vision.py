"""CPU vision kernels: the fast paths; anything else goes to the generic formula."""
from .._table import GENERIC  # noqa: F401
from .._table import CPU as KERNELS  # noqa: F401
