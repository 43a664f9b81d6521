"""torch's checks of gradients that user code hands back to the engine: a tensor or
module hook's replacement gradient, and a custom Function's backward results.  Without
them a wrong shape surfaced as NumPy's "cannot reshape array" (or, where the sizes
happened to agree, as a silently wrong gradient)."""
from .._dtype import tensor_type_name
from .._tensor_base import TensorBase


def hook_name(hook):
    """How torch's messages name a hook: its ``__name__`` (``<lambda>`` for a lambda)."""
    return getattr(hook, "__name__", type(hook).__name__)


def hook_result(name, result, original):
    """Check hook ``name``'s replacement ``result`` (not None) for the gradient
    ``original`` (a Tensor or an array): a Tensor of the same type and size."""
    if not isinstance(result, TensorBase):
        raise TypeError(f"expected Variable, but hook returned '{type(result).__name__}'")
    od = original._data if isinstance(original, TensorBase) else original
    rd = result._data
    if rd.dtype != od.dtype or type(rd) is not type(od):
        raise RuntimeError(f"hook '{name}' has changed the type of value (was "
                           f"{tensor_type_name(od.dtype)} got {tensor_type_name(rd.dtype)})")
    if rd.shape != od.shape:
        raise RuntimeError(f"hook '{name}' has changed the size of value")


def function_grads(node_name, res, edges):
    """Check a custom Function's backward results ``res`` against its inputs' ``edges``
    (``(node, output_nr, shape, dtype)`` or None): each is None or a Tensor whose shape
    the input's broadcasts to (the engine then sums it down, as torch's)."""
    for i, (g, e) in enumerate(zip(res, edges)):
        if g is None or e is None:
            continue
        if not isinstance(g, TensorBase):
            raise RuntimeError(f"expected Variable or None (got {type(g).__name__})")
        gshape, shape = tuple(g._data.shape), tuple(e[2])
        if gshape != shape and not _expandable(shape, gshape):
            raise RuntimeError(f"Function {node_name} returned an invalid gradient at index {i} - "
                               f"got {list(gshape)} but expected shape compatible with "
                               f"{list(shape)}")


def _expandable(shape, to):
    """Whether ``shape`` broadcasts to ``to`` (so a gradient of shape ``to`` sums back)."""
    if len(shape) > len(to):
        return False
    for s, t in zip(reversed(shape), reversed(to)):
        if s != t and s != 1:
            return False
    return True
