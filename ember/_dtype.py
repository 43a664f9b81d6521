"""Data types and torch's type-promotion rules.

An Ember dtype wraps a NumPy dtype.  Promotion follows torch, not NumPy:

* categories are ordered bool < integer < floating < complex;
* operands are ranked: tensors with dims > zero-dim tensors > Python scalars;
  a lower-ranked operand only changes the result when its *category* is
  higher than every higher-ranked operand's (``int_tensor * 2.5`` is float32,
  ``float32_tensor * float64_scalar_tensor`` stays float32);
* a Python float that wins becomes the default dtype, a Python int int64.
"""
import builtins as _b

import numpy as np

from ._bfloat16 import state as _bf16_state
from . import backends as _backends

_pybool, _pyint, _pyfloat = _b.bool, _b.int, _b.float

__all__ = [
    "dtype", "float16", "half", "float32", "float", "float64", "double",
    "bfloat16", "int8", "int16", "short", "int32", "int", "int64", "long",
    "uint8", "bool", "get_default_dtype", "set_default_dtype", "promote_types",
    "result_type", "can_cast", "finfo", "iinfo",
    "complex64", "cfloat", "complex128", "cdouble",
]

_BOOL, _INT, _FLOAT, _COMPLEX = 0, 1, 2, 3

# NumPy dtype name -> (torch scalar-type name, torch C++ type name), as torch's messages
# spell them.  The one table of these names: use dtype.scalar_name / dtype.c_name, or
# scalar_name_of / c_name_of for a NumPy dtype.  (bfloat16 and the complex types have no
# Ember dtype; they are here so a name lookup for them still reads like torch.)
_TORCH_NAMES = {
    "float16": ("Half", "c10::Half"),
    "float32": ("Float", "float"),
    "float64": ("Double", "double"),
    "bfloat16": ("BFloat16", "c10::BFloat16"),
    "int8": ("Char", "signed char"),
    "int16": ("Short", "short int"),
    "int32": ("Int", "int"),
    "int64": ("Long", "long int"),
    "uint8": ("Byte", "unsigned char"),
    "bool": ("Bool", "bool"),
    "complex64": ("ComplexFloat", "c10::complex<float>"),
    "complex128": ("ComplexDouble", "c10::complex<double>"),
}


class dtype:
    """A tensor element type (``ember.float32`` ...), comparable to torch's."""

    __slots__ = ("name", "np", "category", "itemsize", "is_floating_point", "is_signed",
                 "scalar_name", "c_name")

    def __init__(self, name, np_dtype, category):
        self.name = name
        self.np = np.dtype(np_dtype)
        # torch's two spellings of the type in its messages: the scalar-type name
        # ("Float"; the legacy tensor type is scalar_name + "Tensor") and the C++ name ("float")
        self.scalar_name, self.c_name = _TORCH_NAMES[self.np.name]
        self.category = category
        self.itemsize = self.np.itemsize
        self.is_floating_point = category == _FLOAT
        self.is_signed = category >= _FLOAT or self.np.kind == "i"

    @property
    def is_complex(self):
        return self.category == _COMPLEX

    def to_real(self):
        """The real dtype of this complex dtype's parts (complex64 -> float32); self otherwise."""
        return _COMPLEX_PARTS.get(self, self)

    def to_complex(self):
        """The complex dtype with parts of this float dtype (float32 -> complex64)."""
        return _complex_of(self)

    def __repr__(self):
        return "ember." + self.name

    def __reduce__(self):
        return (_dtype_by_name, (self.name,))


float16 = half = dtype("float16", np.float16, _FLOAT)
float32 = float = dtype("float32", np.float32, _FLOAT)
float64 = double = dtype("float64", np.float64, _FLOAT)
int8 = dtype("int8", np.int8, _INT)
int16 = short = dtype("int16", np.int16, _INT)
int32 = int = dtype("int32", np.int32, _INT)
int64 = long = dtype("int64", np.int64, _INT)
uint8 = dtype("uint8", np.uint8, _INT)
bool = dtype("bool", np.bool_, _BOOL)
complex64 = cfloat = dtype("complex64", np.complex64, _COMPLEX)
complex128 = cdouble = dtype("complex128", np.complex128, _COMPLEX)
_COMPLEX_PARTS = {complex64: float32, complex128: float64}
# NumPy has no bfloat16: ml_dtypes provides it, imported on first use (_load_bfloat16
# below).  Until then ember.bfloat16 is a dtype without its NumPy type (np is None);
# to_dtype and lookup load it, or raise ImportError saying to install ml_dtypes.
bfloat16 = dtype.__new__(dtype)
for _k, _v in dict(name="bfloat16", np=None, category=_FLOAT, itemsize=2, is_floating_point=True,
                   is_signed=True, scalar_name="BFloat16", c_name="c10::BFloat16").items():
    setattr(bfloat16, _k, _v)

_ALL = (float16, float32, float64, int8, int16, int32, int64, uint8, bool, complex64, complex128)
_FROM_NP = {d.np: d for d in _ALL}
_BY_NAME = {d.name: d for d in _ALL}
_BY_NAME.update(half=float16, float=float32, double=float64, short=int16,
                int=int32, long=int64, cfloat=complex64, cdouble=complex128)


def _complex_of(d):
    """The complex dtype holding parts of float dtype ``d`` (float64 -> complex128;
    float16 and float32 -> complex64: Ember has no complex32)."""
    if d.category == _COMPLEX:
        return d
    return complex128 if d is float64 else complex64


def _dtype_by_name(name):
    if name == "bfloat16":
        _load_bfloat16()
        return bfloat16
    return _BY_NAME[name]


def _load_bfloat16():
    """Import ml_dtypes (once) and make bfloat16 a full dtype: it gets its NumPy type
    and joins the tables (promotion then follows NumPy's for ml_dtypes: bf16 + f16 ->
    f32, as torch), and op dispatch starts checking for it (_bfloat16.state).
    ImportError naming the package to install when it is missing."""
    if bfloat16.np is not None:
        return
    try:
        import ml_dtypes
    except ImportError:
        raise ImportError("ember.bfloat16 needs the ml_dtypes package (NumPy's bfloat16 type, "
                          "the one JAX uses): pip install ml_dtypes") from None
    np_dtype = np.dtype(ml_dtypes.bfloat16)
    bfloat16.np = np_dtype
    _FROM_NP[np_dtype] = bfloat16
    _BY_NAME["bfloat16"] = bfloat16
    _FILL_NAMES["bfloat16"] = "c10::BFloat16"
    _LIMITS[np_dtype] = (-3.3895313892515355e38, 3.3895313892515355e38)
    _bf16_state.dtype = np_dtype
    _bf16_state.on = True


def _np_name(d):
    if isinstance(d, np.dtype):
        return d.name
    if type(d) is dtype:
        return d.np.name
    return np.dtype(d).name


def scalar_name_of(d):
    """torch's scalar-type name ("Float", "Long", ...) of a NumPy dtype (or type, or
    Ember dtype); a dtype torch has no name for gets NumPy's name."""
    n = _np_name(d)
    names = _TORCH_NAMES.get(n)
    return names[0] if names is not None else n


def tensor_type_name(d):
    """torch's legacy tensor-type name of a NumPy dtype: "ember.FloatTensor"."""
    return "ember." + scalar_name_of(d) + "Tensor"


def c_name_of(d):
    """torch's C++ type name ("float", "long int", "c10::Half", ...) of a NumPy dtype
    (or type, or Ember dtype); a dtype torch has no name for gets NumPy's name."""
    n = _np_name(d)
    names = _TORCH_NAMES.get(n)
    return names[1] if names is not None else n


def from_numpy_dtype(np_dtype):
    """The Ember dtype for a NumPy dtype; raises TypeError for unsupported ones."""
    try:
        return _FROM_NP[np_dtype]
    except KeyError:
        pass
    np_dtype = np.dtype(np_dtype)
    if np_dtype in _FROM_NP:
        return _FROM_NP[np_dtype]
    if np_dtype.name == "bfloat16" and bfloat16.np is None:   # (an ml_dtypes array met first)
        _load_bfloat16()
        return from_numpy_dtype(np_dtype)
    raise TypeError(
        f"can't convert np.ndarray of type {np_dtype}. The only supported types are: "
        "float64, float32, float16, complex64, complex128, int64, int32, int16, int8, uint8, "
        "and bool.")


def to_dtype(d, fn=None):
    """The Ember dtype a ``dtype=`` argument names: an Ember dtype, or Python's ``float``
    (float64), ``int`` (int64) or ``bool``, as torch takes; None stays None.  Anything
    else (a string, a NumPy dtype) raises torch's TypeError, naming function ``fn``."""
    if type(d) is dtype:
        if d.np is None:
            _load_bfloat16()
        return d
    if d is None:
        return None
    if d is _pyfloat:
        return float64
    if d is _pyint:
        return int64
    if d is _pybool:
        return bool
    where = f"{fn}(): argument 'dtype'" if fn else "argument 'dtype'"
    raise TypeError(f"{where} must be torch.dtype, not {_type_name(d)}")


def _type_name(v):
    """A value's type as torch's argument errors print it: ``str``, ``type``,
    ``numpy.dtypes.Float32DType``."""
    t = type(v)
    return t.__name__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


def lookup(d):
    """An Ember dtype from anything that names one inside Ember: an Ember dtype, a
    NumPy dtype or type, a Python type or a name ("float32").  (Public ``dtype=``
    arguments go through the stricter to_dtype, as torch's.)"""
    if type(d) is dtype or d is None or d in (_pyfloat, _pyint, _pybool):
        return to_dtype(d)
    if isinstance(d, str) and d in _BY_NAME:
        return _BY_NAME[d]
    if d == "bfloat16" or d is bfloat16:
        return to_dtype(bfloat16)
    try:
        return from_numpy_dtype(np.dtype(d))
    except TypeError:
        raise TypeError(f"{d!r} is not a dtype Ember supports") from None


class _DefaultDtype:
    __slots__ = ("default", "np")


_state = _DefaultDtype()
_state.default = float32
_state.np = np.dtype(np.float32)


def get_default_dtype():
    """The dtype Python floats and float factories get (float32 unless changed)."""
    return _state.default


def set_default_dtype(d):
    d = to_dtype(d)
    if d not in (float16, bfloat16, float32, float64):
        raise TypeError(f"only floating-point types are supported as the default type, got {d}")
    _state.default = d
    _state.np = d.np


def promote_types(a, b):
    """torch.promote_types: the smallest dtype both ``a`` and ``b`` cast to."""
    a, b = to_dtype(a), to_dtype(b)
    return _promote_np(a.np, b.np)


_PROMOTE_CACHE = {}


def _promote_np(x, y):
    """Promote two NumPy dtypes of tensors of the same rank class (torch rules)."""
    if x is y:
        return _FROM_NP[x]
    key = (x, y)
    r = _PROMOTE_CACHE.get(key)
    if r is None:
        a, b = from_numpy_dtype(x), from_numpy_dtype(y)
        if a.category != b.category and (a.category == _COMPLEX) + (b.category == _COMPLEX) == 1 \
                and _FLOAT in (a.category, b.category):
            # complex with float keeps the wider parts: float64 + complex64 -> complex128
            c, f = (a, b) if a.category == _COMPLEX else (b, a)
            r = complex128 if float64 in (f, c.to_real()) else c
        elif a.category != b.category:
            # The higher category wins outright: int64 + float16 -> float16.
            r = a if a.category > b.category else b
        else:
            r = from_numpy_dtype(np.promote_types(x, y))
        _PROMOTE_CACHE[key] = r
    return r


def _scalar_category(v):
    t = type(v)
    if t is _pybool:
        return _BOOL
    if t is _pyint:
        return _INT
    if t is _pyfloat:
        return _FLOAT
    if t is complex:
        return _COMPLEX
    if isinstance(v, np.generic):
        return from_numpy_dtype(v.dtype).category
    if isinstance(v, (_pybool, np.bool_)):
        return _BOOL
    if isinstance(v, _pyint):
        return _INT
    if isinstance(v, _pyfloat):
        return _FLOAT
    if isinstance(v, complex):
        return _COMPLEX
    raise TypeError(f"unsupported operand type {type(v).__name__}")


def _default_for_category(cat):
    if cat == _COMPLEX:
        return _complex_of(_state.default)
    return (bool, int64, _state.default)[cat]


def result_type(*operands):
    """torch.result_type over tensors, ndarrays and Python scalars.

    Tensors (anything with ``.data`` or an ndarray) of ndim > 0 outrank 0-dim
    ones, which outrank Python scalars; see the module docstring.
    """
    dim_dt = zero_dt = None
    scalar_cat = -1
    for v in operands:
        arr = getattr(v, "_data", v) if not isinstance(v, np.ndarray) else v
        if isinstance(arr, np.ndarray) or type(arr) in _backends.ARRAY_TYPES:   # (CuPy's too)
            if arr.ndim:
                dim_dt = arr.dtype if dim_dt is None else _promote_np(dim_dt, arr.dtype).np
            else:
                zero_dt = arr.dtype if zero_dt is None else _promote_np(zero_dt, arr.dtype).np
        else:
            c = _scalar_category(v)
            if c > scalar_cat:
                scalar_cat = c
    best = None
    if dim_dt is not None:
        best = _FROM_NP[dim_dt]
    if zero_dt is not None:
        z = _FROM_NP[zero_dt]
        if best is None or z.category > best.category:
            # (a complex 0-dim tensor over float ones gives their complex: float32 -> complex64)
            best = _complex_of(best) if best is not None and z.category == _COMPLEX \
                and best.category == _FLOAT else z
    if scalar_cat >= 0 and (best is None or scalar_cat > best.category):
        best = _complex_of(best) if best is not None and scalar_cat == _COMPLEX \
            and best.category == _FLOAT else _default_for_category(scalar_cat)
    return best


def can_cast(from_, to):
    """torch.can_cast: False only when casting would lower the category."""
    return to_dtype(from_).category <= to_dtype(to).category


class finfo:
    """Machine limits of a floating dtype (``bits, eps, max, min, tiny, resolution``)."""

    def __init__(self, type=None):
        d = to_dtype(type) if type is not None else _state.default
        d = d.to_real()          # (a complex dtype's limits are its parts', as torch's)
        if not d.is_floating_point:
            raise TypeError(f"finfo() requires a floating point input type, got {d}")
        fi = np.finfo(d.np) if d is not bfloat16 else _bf16_finfo()
        self.dtype = d.name
        self.bits = fi.bits
        self.eps = _pyfloat(fi.eps)
        self.max = _pyfloat(fi.max)
        self.min = _pyfloat(fi.min)
        self.tiny = self.smallest_normal = _pyfloat(fi.tiny)
        # (torch's resolution is 10**-digits: 0.01 for bfloat16, where ml_dtypes rounds it)
        self.resolution = _pyfloat(fi.resolution) if d is not bfloat16 else 0.01

    def __repr__(self):
        return (f"finfo(resolution={self.resolution}, min={self.min}, max={self.max}, "
                f"eps={self.eps}, smallest_normal={self.tiny}, tiny={self.tiny}, dtype={self.dtype})")


def _bf16_finfo():
    import ml_dtypes
    return ml_dtypes.finfo(bfloat16.np)


class iinfo:
    """Machine limits of an integer dtype (``bits, max, min``)."""

    def __init__(self, type):
        d = to_dtype(type)
        if d.category >= _FLOAT:
            raise TypeError(f"iinfo() requires an integer input type, got {d}")
        ii = np.iinfo(d.np) if d is not bool else None
        self.dtype = d.name
        self.bits = d.itemsize * 8
        self.max = _pyint(ii.max) if ii else 1
        self.min = _pyint(ii.min) if ii else 0

    def __repr__(self):
        return f"iinfo(min={self.min}, max={self.max}, dtype={self.dtype})"


# ---- range checks of Python numbers entering a dtype --------------------------------------
# torch refuses a number that does not fit the dtype it is stored in (torch.tensor, full,
# fill_, masked_fill, a scalar in where/clamp/setitem): "value cannot be converted to type
# uint8_t without overflow".  Its factories from Python data name the type as NumPy does
# ("uint8"), its fill paths by the C++ type ("uint8_t", "int").  The rules are c10's:
# an integer fits an unsigned type when its magnitude does (-1 is 255, as two's
# complement wraps), a signed type when it is in range; a float fits an integer type when
# it is finite and in range, a float type when it is infinite, NaN, or within +-max.
_FILL_NAMES = {"uint8": "uint8_t", "int8": "int8_t", "int16": "int16_t", "int32": "int",
               "int64": "int64_t", "float16": "c10::Half", "float32": "float",
               "float64": "double", "bool": "bool"}


def overflow_error(np_dtype, fill=True):
    """torch's RuntimeError for a value that does not fit ``np_dtype``."""
    name = _FILL_NAMES.get(np_dtype.name, np_dtype.name) if fill else np_dtype.name
    return RuntimeError(f"value cannot be converted to type {name} without overflow")


def _limits(np_dtype):
    """(lowest, max) of a NumPy number dtype, as Python numbers (cached)."""
    r = _LIMITS.get(np_dtype)
    if r is None:
        if np_dtype.kind == "f":
            m = _pyfloat(np.finfo(np_dtype).max)
            r = (-m, m)
        else:
            ii = np.iinfo(np_dtype)
            r = (_pyint(ii.min), _pyint(ii.max))
        _LIMITS[np_dtype] = r
    return r


_LIMITS = {}


def checked_scalar(v, np_dtype, fill=True, check_floats=True):
    """The Python number ``v`` as ``np_dtype`` stores it (a negative int for an unsigned
    type wraps), or torch's overflow RuntimeError when it does not fit.  ``fill`` picks
    the fill paths' wording; ``check_floats=False`` lets any number into a float type
    (torch.tensor's rule: 1e40 becomes inf in float32)."""
    kind = np_dtype.kind if np_dtype is not bfloat16.np else "f"
    if kind == "b" or kind == "c" or type(v) is _pybool or isinstance(v, np.bool_):
        return v
    if kind == "f" and not check_floats:
        return v
    lo, hi = _limits(np_dtype)
    if isinstance(v, (_pyint, np.integer)):
        v = _pyint(v)
        if v >= 1 << 64:          # (torch reads a number as a 64-bit C integer first)
            raise OverflowError("int too big to convert")
        if v < -(1 << 63):
            raise OverflowError("can't convert negative int to unsigned")
        if kind == "u":
            if -hi <= v <= hi:
                return v % (hi + 1)
        elif lo <= v <= hi:
            return v
        raise overflow_error(np_dtype, fill)
    if isinstance(v, (_pyfloat, np.floating)):
        v = _pyfloat(v)
        if kind == "f":
            if v != v or v in (_pyfloat("inf"), _pyfloat("-inf")) or lo <= v <= hi:
                return v
        elif v == v and lo <= v <= hi:
            return v
        raise overflow_error(np_dtype, fill)
    return v


def checked_fill(v, np_dtype, numel):
    """checked_scalar for a fill of ``numel`` elements (full, fill_, scalar_tensor): torch
    skips its float16 check when it fills a single element (1e5 becomes inf there)."""
    return checked_scalar(v, np_dtype, check_floats=numel != 1 or np_dtype != np.float16)


def check_array_fits(arr, np_dtype, fill=False):
    """Raise torch's overflow RuntimeError if an array built from Python data (int64 or
    float64) holds a value an integer ``np_dtype`` cannot take (see checked_scalar);
    float and bool targets take anything here, as torch.tensor's."""
    kind = np_dtype.kind
    if kind not in "iu" or arr.size == 0 or arr.dtype.kind not in "iuf" or arr.dtype == np_dtype:
        return
    if arr.size <= 16:                  # (a few numbers: cheaper one by one)
        for v in arr.ravel().tolist():
            checked_scalar(v, np_dtype, fill)
        return
    lo, hi = _limits(np_dtype)
    if arr.dtype.kind == "f":
        if not np.isfinite(arr).all():
            raise overflow_error(np_dtype, fill)
    elif kind == "u":
        lo = -hi
    if arr.min() < lo or arr.max() > hi:
        raise overflow_error(np_dtype, fill)


def wrap_int(v, np_dtype):
    """A Python int operand of an integer tensor, wrapped into its dtype as torch's
    arithmetic does (``int8_tensor + 200`` adds -56); torch's OverflowError for an int
    beyond 64 bits."""
    if v >= 1 << 64:
        raise OverflowError("int too big to convert")
    if v < -(1 << 63):
        raise OverflowError("can't convert negative int to unsigned")
    lo, hi = _limits(np_dtype)
    if lo <= v <= hi:
        return v
    span = hi - lo + 1
    return (v - lo) % span + lo
