"""Flatten a model's parameters into one vector and back."""
from ..._tensor import Tensor

__all__ = ["parameters_to_vector", "vector_to_parameters"]


def parameters_to_vector(parameters):
    """All parameters, flattened and concatenated into one 1-D tensor (differentiable)."""
    from ...ops.shape import cat
    return cat([p.reshape(-1) for p in parameters])


def vector_to_parameters(vec, parameters):
    """Make each parameter's data the matching slice of ``vec`` (shares its memory)."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected torch.Tensor, but got: {type(vec).__name__}")
    arr = vec._data
    pointer = 0
    for p in parameters:
        n = p._data.size
        p._data = arr[pointer:pointer + n].reshape(p._data.shape)
        p._vc[0] += 1
        pointer += n
