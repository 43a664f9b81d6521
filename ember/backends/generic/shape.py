"""Generic shape kernels: formulas over the array namespace (see ember.backends)."""
from .._registry import namespace
from .._table import GENERIC


@GENERIC.register
def broadcast_to(x, shape):
    """``x`` broadcast to ``shape``, for reading only (a backward's operand)."""
    return namespace(x).broadcast_to(x, shape)


@GENERIC.register
def diagonal_view(x, offset, axis1, axis2):
    """The diagonal ``offset`` of the (axis1, axis2) planes as the last dim: a
    view, writable when ``x`` is (torch's diagonal is a writable view)."""
    d = namespace(x).diagonal(x, offset, axis1, axis2)
    # NumPy-based namespaces hand out diagonals read-only for historical
    # reasons; namespaces without the flag (CuPy) give writable views already.
    flags = d.flags
    if not getattr(flags, "writeable", True) and x.flags.writeable:
        flags.writeable = True
    return d


@GENERIC.register
def joined_view(pieces, axis):
    """The pieces as one array along ``axis`` without a copy, when they lie
    side by side in one buffer, else None.  Generically: None (concatenate)."""
    return None
