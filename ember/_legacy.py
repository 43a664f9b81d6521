"""torch's legacy tensor types: ``FloatTensor``, ``LongTensor`` ... .

Old torch code calls them as constructors (``torch.FloatTensor(2, 3)``,
``torch.LongTensor([1, 2])``) and tests types with them
(``isinstance(x, torch.FloatTensor)``, ``x.type(torch.LongTensor)``).  Each
is a class whose metaclass makes both work: calling one makes an ordinary
``ember.Tensor`` of its dtype, and ``isinstance`` asks whether a tensor is a
CPU tensor of that dtype.  As in torch, they are not subclasses of Tensor.
"""
from . import _dtype as D
from ._tensor_base import TensorBase, Size, _CPU


class _LegacyTensorType(type):
    """The metaclass (torch's ``torch.tensortype``)."""

    def __instancecheck__(cls, obj):
        return (isinstance(obj, TensorBase) and obj._data.dtype == cls.dtype.np
                and obj.device == _CPU)

    def __call__(cls, *args, device=None):
        """``T()``: empty; ``T(2, 3)`` or ``T(Size)``: uninitialised; ``T(data)``:
        a copy of a list or array; ``T(tensor)``: the tensor itself, whose
        dtype must be T's (torch's TypeError otherwise)."""
        from ._tensor import Tensor
        if len(args) == 1 and isinstance(args[0], TensorBase):
            src = args[0]
            if src._data.dtype != cls.dtype.np:
                raise TypeError(f"expected {cls.dtype.c_name} tensor (got "
                                f"{src.dtype.c_name} tensor)")
            return src
        if len(args) == 1 and isinstance(args[0], (tuple, list)) and not isinstance(args[0], Size):
            return Tensor(args[0], dtype=cls.dtype, device=device)
        return Tensor(*args, dtype=cls.dtype, device=device)

    def __repr__(cls):
        return f"<class 'ember.{cls.__name__}'>"


def _make(dtype):
    name = dtype.scalar_name + "Tensor"
    return _LegacyTensorType(name, (), {
        "dtype": dtype, "_legacy_dtype": dtype, "__module__": "ember",
        "__doc__": f"Legacy constructor of {dtype} CPU tensors."})


FloatTensor = _make(D.float32)
DoubleTensor = _make(D.float64)
HalfTensor = _make(D.float16)
LongTensor = _make(D.int64)
IntTensor = _make(D.int32)
ShortTensor = _make(D.int16)
CharTensor = _make(D.int8)
ByteTensor = _make(D.uint8)
BoolTensor = _make(D.bool)

__all__ = ["FloatTensor", "DoubleTensor", "HalfTensor", "LongTensor", "IntTensor", "ShortTensor",
           "CharTensor", "ByteTensor", "BoolTensor"]


class _CudaLegacyTensorType(type):
    """``ember.cuda.FloatTensor`` ...: no tensor is one, and making one raises
    torch's TypeError for a build without CUDA."""

    def __instancecheck__(cls, obj):
        return False

    def __call__(cls, *args, **kwargs):
        raise TypeError(f"type ember.cuda.{cls.__name__} not available. Torch not compiled "
                        "with CUDA enabled.")

    def __repr__(cls):
        return f"<class 'ember.cuda.{cls.__name__}'>"


def cuda_types():
    """The legacy CUDA tensor types, by name (for ember.cuda)."""
    return {d.scalar_name + "Tensor": _CudaLegacyTensorType(
        d.scalar_name + "Tensor", (), {"dtype": d, "__module__": "ember.cuda"})
        for d in (D.float32, D.float64, D.float16, D.int64, D.int32, D.int16, D.int8, D.uint8,
                  D.bool)}


class _VariableMeta(type):
    """Every tensor is a Variable (``isinstance(t, Variable)`` is True), as in torch."""

    def __instancecheck__(cls, obj):
        return isinstance(obj, TensorBase)

    def __repr__(cls):
        return "<class 'ember.autograd.Variable'>"


class Variable(metaclass=_VariableMeta):
    """``torch.autograd.Variable``, kept for old code.  Before torch 0.4 a
    Variable wrapped a tensor to record gradients; now every tensor does, and
    ``Variable(t, requires_grad=False)`` is ``t``'s data as a new leaf (it
    shares ``t``'s memory, as ``t.detach()``), requiring grad if asked."""

    def __new__(cls, data=None, requires_grad=False, volatile=False):
        import warnings
        if volatile:
            warnings.warn("volatile was removed and now has no effect. Use `with torch.no_grad():`"
                          " instead.", UserWarning, stacklevel=2)
        if data is None:
            from ._tensor import Tensor
            return Tensor([])
        if not isinstance(data, TensorBase):
            raise TypeError(f"Variable data has to be a tensor, but got {type(data).__name__}")
        if requires_grad and not data.is_floating_point():
            raise RuntimeError("Only Tensors of floating point and complex dtype can require "
                               "gradients")
        out = data.detach()
        if requires_grad:
            out.requires_grad_(True)
        return out
