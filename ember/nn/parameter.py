"""Parameter and Buffer: the tensor kinds a Module registers when assigned.

``Parameter`` is a Tensor subclass that requires grad by default; assigning
one to a Module attribute registers it in ``module._parameters``.  ``Buffer``
marks a tensor to be registered in ``module._buffers`` (state that is saved
but not trained, e.g. running statistics).
"""
from .._creation import empty
from .._tensor import Tensor
from .._tensor_base import _new

__all__ = ["Parameter", "Buffer", "UninitializedParameter", "UninitializedBuffer", "is_lazy"]


def _init_from(t, src, requires_grad):
    """Make ``t`` share ``src``'s memory and version counter, as a fresh leaf."""
    Tensor.__init__(t)
    t._data = src._data
    t._vc = src._vc
    if requires_grad:
        t.requires_grad_(True)


class Parameter(Tensor):
    """A trainable tensor of a Module (torch.nn.Parameter).

    ``Parameter(data)`` shares ``data``'s memory; ``Parameter()`` is an empty
    float tensor on the default device.  Only floating-point parameters can require grad.
    """

    def __new__(cls, data=None, requires_grad=True):
        if data is None:
            data = empty(0)
        elif not isinstance(data, Tensor):
            raise TypeError(f"Parameter(): argument 'data' must be Tensor, not {type(data).__name__}")
        t = _new(cls)
        _init_from(t, data, requires_grad)
        return t

    def __init__(self, data=None, requires_grad=True):
        pass  # all set up in __new__

    def __reduce_ex__(self, proto):
        from .._tensor_base import _rebuild
        return (_rebuild, (type(self), self._data, self.requires_grad))


class Buffer(Tensor):
    """Marks a tensor to become a buffer when assigned to a Module attribute.

    ``module.stats = Buffer(t, persistent=False)`` is ``module.register_buffer(
    "stats", t, persistent=False)``; the module stores a plain tensor sharing
    ``t``'s memory.
    """

    def __new__(cls, data=None, *, persistent=True):
        if data is None:
            data = empty(0)
        t = _new(cls)
        _init_from(t, data, data.requires_grad)
        t.persistent = persistent
        return t

    def __init__(self, data=None, *, persistent=True):
        pass


_SHAPE_ERROR = ("Can't access the shape of an uninitialized parameter or buffer. This error "
                "usually happens in `load_state_dict` when trying to load an uninitialized "
                "parameter into an initialized one. Call `forward` to initialize the parameters "
                "before accessing their attributes.")


def _refuse_shape(self):
    raise RuntimeError(_SHAPE_ERROR)


def _refuse_use(name):
    def method(self, *args, **kwargs):
        raise ValueError(f"Attempted to use an uninitialized parameter in {name}. This error "
                         "happens when you are using a `LazyModule` or explicitly manipulating "
                         "`torch.nn.parameter.UninitializedParameter` objects. When using "
                         "LazyModules Call `forward` with a dummy batch to initialize the "
                         "parameters before calling torch functions")
    method.__name__ = name
    return method


class UninitializedTensorMixin:
    """A parameter or buffer whose shape is not known yet (lazy modules):
    it holds no values, refuses to be used, and becomes a plain Parameter /
    Tensor when ``materialize(shape)`` gives it one."""

    cls_to_become = None

    def materialize(self, shape, device=None, dtype=None):
        """Allocate (uninitialised) storage of ``shape`` and become ``cls_to_become``."""
        if device is None:
            device = self.device
        if dtype is None:
            dtype = self.dtype
        self._data = empty(shape, device=device, dtype=dtype)._data
        self._vc[0] += 1
        self.__class__ = self.cls_to_become

    shape = property(_refuse_shape)
    size = _refuse_shape
    dim = _refuse_shape
    numel = _refuse_shape
    ndim = property(_refuse_shape)
    T = property(_refuse_shape)

    def share_memory_(self):
        raise RuntimeError("Can't share memory on an uninitialized parameter or buffer. Call "
                           "`forward` to initialize the parameters before calling "
                           "`module.share_memory()`.")

    def __repr__(self):
        return f"<{type(self).__name__}>"

    __str__ = __repr__

    def __reduce_ex__(self, proto):
        return (type(self), (self.requires_grad,))


# every operator and common method refuses, naming itself (torch refuses any function)
for _name in ("__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__",
              "__truediv__", "__rtruediv__", "__matmul__", "__rmatmul__", "__pow__", "__neg__",
              "__getitem__", "__setitem__", "__iadd__", "__isub__", "__imul__", "__itruediv__",
              "add", "sub", "mul", "div", "matmul", "mm", "sum", "mean", "view", "reshape",
              "t", "numpy", "tolist", "item", "add_", "mul_", "copy_", "fill_", "zero_",
              "normal_", "uniform_"):
    setattr(UninitializedTensorMixin, _name, _refuse_use(_name))
del _name


class UninitializedParameter(UninitializedTensorMixin, Parameter):
    """A Parameter of a lazy module before its first forward."""

    cls_to_become = Parameter

    def __new__(cls, requires_grad=True, device=None, dtype=None):
        t = Parameter.__new__(cls, empty(0, device=device, dtype=dtype), requires_grad)
        return t

    def __init__(self, requires_grad=True, device=None, dtype=None):
        pass


class UninitializedBuffer(UninitializedTensorMixin, Tensor):
    """A buffer of a lazy module before its first forward."""

    cls_to_become = Tensor

    def __new__(cls, requires_grad=False, device=None, dtype=None):
        t = _new(cls)
        _init_from(t, empty(0, device=device, dtype=dtype), requires_grad)
        return t

    def __init__(self, requires_grad=False, device=None, dtype=None):
        pass


def is_lazy(param):
    """Whether ``param`` is an uninitialized parameter or buffer of a lazy module."""
    return isinstance(param, UninitializedTensorMixin)
