"""The dtype tables both directions share: torch's storage classes and dtype names,
and how each storage's bytes become a NumPy array."""
import numpy as np

from .. import _dtype as D


# torch's legacy storage class name -> torch dtype name
_STORAGE_TYPES = {
    "FloatStorage": "float32", "DoubleStorage": "float64", "HalfStorage": "float16",
    "BFloat16Storage": "bfloat16", "LongStorage": "int64", "IntStorage": "int32",
    "ShortStorage": "int16", "CharStorage": "int8", "ByteStorage": "uint8",
    "BoolStorage": "bool", "ComplexFloatStorage": "complex64",
    "ComplexDoubleStorage": "complex128",
}
_STORAGE_OF = {v: k for k, v in _STORAGE_TYPES.items()}

# torch dtype name (and its aliases) -> the canonical name
_DTYPE_ALIASES = {
    "float32": "float32", "float": "float32", "float64": "float64", "double": "float64",
    "float16": "float16", "half": "float16", "bfloat16": "bfloat16",
    "int64": "int64", "long": "int64", "int32": "int32", "int": "int32",
    "int16": "int16", "short": "int16", "int8": "int8", "uint8": "uint8", "bool": "bool",
    "complex64": "complex64", "cfloat": "complex64", "complex128": "complex128",
    "cdouble": "complex128",
}
# dtypes torch has and Ember never will through NumPy alone: known, so the error can say so
_FOREIGN_DTYPES = ("uint16", "uint32", "uint64", "complex32", "chalf", "float8_e4m3fn",
                   "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz", "float8_e8m0fnu",
                   "float4_e2m1fn_x2", "qint8", "quint8", "qint32", "quint4x2", "quint2x4",
                   "bits8", "bits16", "bits1x8", "bits2x4", "bits4x2")

# NumPy byte layout of each storage dtype (bfloat16: raw 16-bit words, see _bf16)
_RAW_NP = {"float32": "<f4", "float64": "<f8", "float16": "<f2", "bfloat16": "<u2",
           "int64": "<i8", "int32": "<i4", "int16": "<i2", "int8": "|i1", "uint8": "|u1",
           "bool": "|b1", "complex64": "<c8", "complex128": "<c16"}


def _ember_bf16():
    """Ember's bfloat16 dtype when it has one (through ml_dtypes), else None."""
    bf = getattr(D, "bfloat16", None)
    if not isinstance(bf, D.dtype):
        return None
    if getattr(bf, "np", None) is None:          # (its NumPy type may load on first use)
        load = getattr(D, "_load_bfloat16", None)
        try:
            if load is not None:
                load()
        except ImportError:
            return None
    return bf if getattr(bf, "np", None) is not None else None


def _ember_dtype(name):
    """The Ember dtype of canonical torch dtype ``name``, or None if Ember lacks it."""
    if name == "bfloat16":
        return _ember_bf16()
    d = D._BY_NAME.get(name)
    if d is None:
        d = getattr(D, name, None)       # (complex dtypes, where Ember has them)
    return d if isinstance(d, D.dtype) else None


def _host_dtype(name):
    """The NumPy dtype a storage of torch dtype ``name`` is loaded as: Ember's own, or
    float32 for bfloat16 when Ember has no bfloat16 (widened exactly)."""
    if name == "bfloat16":
        bf = _ember_bf16()
        return bf.np if bf is not None else np.dtype(np.float32)
    d = _ember_dtype(name)
    return d.np if d is not None else None


def _typed(raw, name, big_endian):
    """The uint8 buffer ``raw`` as a 1-D array of torch dtype ``name`` (a view of it,
    except for byte-swapped data and for bfloat16 widened to float32)."""
    dt = np.dtype(_RAW_NP[name])
    arr = raw.view(dt.newbyteorder(">") if big_endian else dt)
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    if name == "bfloat16":
        bf = _ember_bf16()
        if bf is not None:
            return arr.view(bf.np)
        # bfloat16 is the high half of a float32: widen exactly
        return (arr.astype(np.uint32) << 16).view(np.float32)
    return arr
