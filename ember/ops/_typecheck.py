"""Torch's TypeError for a non-tensor where a tensor belongs, at no cost on
the normal path.

Op functions read ``input._data`` straight away (a check first would cost
every call); handed a str, a list or None they would fail with Python's
AttributeError.  ``checked`` wraps the functions exported as ``ember.<name>``
so that such a failure is re-raised as torch words it:
"exp(): argument 'input' (position 1) must be Tensor, not str".  A TypeError
from a shared helper that names the argument but not the op ("argument 'dim'
must be int, not str") gets the op's name in front.
"""
import functools
import inspect

from .._errors import not_a_tensor

_MISSING = ("has no attribute '_data'", "has no attribute 'numel'", "has no attribute 'dim'",
            "has no attribute 'shape'", "has no attribute 'dtype'")


def checked(fn, name):
    """``fn`` with non-tensor arguments reported as torch's TypeError."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except AttributeError as e:
            msg = str(e)
            if any(m in msg for m in _MISSING) or any(
                    msg.startswith(f"'{type(a).__name__}' object has no attribute")
                    for a in args[:1]):
                _raise_type_error(fn, name, args, kwargs, e)
            raise
        except TypeError as e:
            # a shared helper (``_tensor_base._dim``) says "argument 'dim' must be int, not str"
            # without knowing the op: add its name, as torch's messages start
            if str(e).startswith("argument '"):
                raise TypeError(f"{name}(): {e}") from None
            raise
    return wrapper


def _raise_type_error(fn, name, args, kwargs, err):
    from .._tensor_base import TensorBase
    try:
        params = list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        params = []
    for i, a in enumerate(args):
        if not isinstance(a, TensorBase) and not isinstance(a, (int, float, bool, complex)):
            pname = params[i] if i < len(params) and not params[i].startswith("*") else "input"
            raise not_a_tensor(name, pname, a, i + 1) from None
    for k, a in kwargs.items():
        if a is not None and not isinstance(a, (TensorBase, int, float, bool, complex, str)):
            raise not_a_tensor(name, k, a) from None
