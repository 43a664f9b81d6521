"""ember.testing: torch.testing's ``assert_close`` (and the deprecated
``assert_allclose``), ``make_tensor``.

``assert_close(actual, expected)`` compares tensors, NumPy arrays, Python
numbers, and sequences / mappings of them, element by element:
``|actual - expected| <= atol + rtol * |expected|``, with torch's default
tolerances for the dtypes involved, and raises torch's AssertionError
messages ("Tensor-likes are not close!", mismatched elements, greatest
differences and where).  Metadata (shape, dtype, device, optionally
strides) must match first.
"""
import math
import numbers
import warnings
from collections.abc import Mapping, Sequence

import numpy as np

from .. import _dtype as D
from .._tensor_base import TensorBase
from .._bfloat16 import is_float as _isf

__all__ = ["assert_close", "assert_allclose", "make_tensor"]

# dtype -> (rtol, atol); any other dtype (integers, bool) compares exactly
_PRECISION = {D.float16: (1e-3, 1e-5), D.bfloat16: (1.6e-2, 1e-5), D.float32: (1.3e-6, 1e-5),
              D.float64: (1e-7, 1e-7)}
_ALLCLOSE_PRECISION = {D.float16: (1e-3, 1e-3), D.float32: (1e-4, 1e-5), D.float64: (1e-5, 1e-8)}


class _Mismatch(Exception):
    """A failed comparison: the exception type to raise and torch's message.
    ``structural``: the inputs' containers differ (keys, lengths, types);
    torch's ``msg`` replaces only the other messages."""

    def __init__(self, kind, message, path=(), structural=False):
        self.kind, self.message, self.path = kind, message, path
        self.structural = structural


def assert_close(actual, expected, *, allow_subclasses=True, rtol=None, atol=None,
                 equal_nan=False, check_device=True, check_dtype=True, check_layout=True,
                 check_stride=False, msg=None):
    """Raise AssertionError unless ``actual`` and ``expected`` are close.

    ``rtol``/``atol``: both or neither (default: from the dtypes: float16
    1e-3/1e-5, float32 1.3e-6/1e-5, float64 1e-7/1e-7, exact otherwise).
    ``equal_nan``: NaNs compare equal.  ``check_dtype``/``check_device``/
    ``check_stride``: require equal dtypes (else both are promoted), devices,
    strides.  ``msg``: a string replacing the message, or a callable turning
    the generated message into the one raised."""
    opts = dict(allow_subclasses=allow_subclasses, rtol=rtol, atol=atol, equal_nan=equal_nan,
                check_device=check_device, check_dtype=check_dtype, check_stride=check_stride)
    try:
        _compare(actual, expected, (), opts)
    except _Mismatch as m:
        text = m.message
        if m.path:
            text += "\n\nThe failure occurred for item " + "".join(f"[{p!r}]" for p in m.path)
        if not m.structural:
            if callable(msg):
                text = msg(text)
            elif msg is not None:
                text = msg
        raise m.kind(text) from None


def assert_allclose(actual, expected, rtol=None, atol=None, equal_nan=True, msg=""):
    """Deprecated in torch since 1.12 (use :func:`assert_close`): numbers and
    lists become tensors of ``actual``'s dtype; looser default tolerances;
    dtypes need not match; NaNs equal by default."""
    warnings.warn("`torch.testing.assert_allclose()` is deprecated since 1.12 and will be "
                  "removed in a future release. Please use `torch.testing.assert_close()` "
                  "instead. You can find detailed upgrade instructions in "
                  "https://github.com/pytorch/pytorch/issues/61844.", FutureWarning, stacklevel=2)
    from .._creation import tensor
    if not isinstance(actual, TensorBase):
        actual = tensor(actual)
    if not isinstance(expected, TensorBase):
        expected = tensor(expected, dtype=actual.dtype)
    if rtol is None and atol is None:
        rtol, atol = _tolerances([actual.dtype, expected.dtype], _ALLCLOSE_PRECISION)
    assert_close(actual, expected, rtol=rtol, atol=atol, equal_nan=equal_nan, check_device=True,
                 check_dtype=False, check_stride=False, msg=msg or None)


# ---- the comparison, recursive over containers --------------------------------------------

def _is_tensor_like(x):
    return isinstance(x, (TensorBase, np.ndarray))


def _is_number(x):
    return isinstance(x, (bool, numbers.Number)) and not isinstance(x, np.ndarray)


def _compare(actual, expected, path, opts):
    if _is_tensor_like(actual) and _is_tensor_like(expected):
        return _compare_tensors(_as_tensor(actual), _as_tensor(expected), path, opts)
    if _is_number(actual) and _is_number(expected):
        return _compare_numbers(actual, expected, path, opts)
    if isinstance(actual, Mapping) and isinstance(expected, Mapping):
        if set(actual) != set(expected):
            missing = sorted(set(expected) - set(actual), key=repr)
            extra = sorted(set(actual) - set(expected), key=repr)
            raise _Mismatch(AssertionError,
                            "The keys of the mappings do not match:\n"
                            f"Missing keys in the actual mapping: {missing}\n"
                            f"Additional keys in the actual mapping: {extra}", path, True)
        for k in expected:
            _compare(actual[k], expected[k], path + (k,), opts)
        return
    if _is_sequence(actual) and _is_sequence(expected):
        if len(actual) != len(expected):
            raise _Mismatch(AssertionError, f"The length of the sequences mismatch: "
                            f"{len(actual)} != {len(expected)}", path, True)
        for i, (a, e) in enumerate(zip(actual, expected)):
            _compare(a, e, path + (i,), opts)
        return
    raise _Mismatch(TypeError, f"No comparison pair was able to handle inputs of type "
                    f"{_type_repr(actual)} and {_type_repr(expected)}.", path, True)


def _is_sequence(x):
    return isinstance(x, Sequence) and not isinstance(x, str)


def _type_repr(x):
    t = type(x)
    if isinstance(x, TensorBase):
        return "<class 'ember.Tensor'>"
    return repr(t)


def _as_tensor(x):
    if isinstance(x, TensorBase):
        return x
    from .._creation import as_tensor
    return as_tensor(x)


def _tolerances(dtypes, table):
    rt = [table.get(d, (0.0, 0.0))[0] for d in dtypes]
    at = [table.get(d, (0.0, 0.0))[1] for d in dtypes]
    return max(rt), max(at)


def _number_dtype(x):
    if isinstance(x, bool):
        return D.bool
    if isinstance(x, numbers.Integral):
        return D.int64
    return D.float64


def _compare_numbers(actual, expected, path, opts):
    _check_tolerances(opts)
    if opts["check_dtype"] and type(actual) is not type(expected):
        raise _Mismatch(AssertionError, f"The (d)types do not match: {type(actual)} != "
                        f"{type(expected)}.", path)
    rtol, atol = opts["rtol"], opts["atol"]
    if rtol is None:
        rtol, atol = _tolerances([_number_dtype(actual), _number_dtype(expected)], _PRECISION)
    a, e = complex(actual), complex(expected)
    if _numbers_close(a, e, rtol, atol, opts["equal_nan"]):
        return
    raise _Mismatch(AssertionError, _scalar_message(actual, expected, rtol, atol), path)


def _numbers_close(a, e, rtol, atol, equal_nan):
    if a == e:
        return True
    if _isnan(a) or _isnan(e):
        return equal_nan and _isnan(a) and _isnan(e)
    if _isinf(a) or _isinf(e):
        return False
    return abs(a - e) <= atol + rtol * abs(e)


def _isnan(z):
    return math.isnan(z.real) or math.isnan(z.imag)


def _isinf(z):
    return math.isinf(z.real) or math.isinf(z.imag)


def _scalar_message(actual, expected, rtol, atol):
    """torch's message for two numbers (or two 0-d tensors' values)."""
    diff = abs(actual - expected)
    if isinstance(diff, bool):
        diff = int(diff)
    rel = math.inf if expected == 0 else diff / abs(expected)
    exact = rtol == 0 and atol == 0
    lines = [f"Scalars are not {'equal' if exact else 'close'}!", "",
             f"Expected {expected} but got {actual}.",
             f"Absolute difference: {diff}" + _allowed(atol, exact),
             f"Relative difference: {rel}" + _allowed(rtol, exact)]
    return "\n".join(lines)


def _allowed(tol, exact):
    """The tolerance note; none when comparing for equality."""
    return "" if exact else f" (up to {tol} allowed)"


def _check_tolerances(opts):
    """(checked once a pair of values is reached, as torch does)"""
    if (opts["rtol"] is None) != (opts["atol"] is None):
        raise ValueError("Both 'rtol' and 'atol' must be either specified or omitted, but got "
                         f"no {'rtol' if opts['rtol'] is None else 'atol'}.")


def _compare_tensors(actual, expected, path, opts):
    _check_tolerances(opts)

    def meta(attr, a, e):
        raise _Mismatch(AssertionError, f"The values for attribute '{attr}' do not match: "
                        f"{a} != {e}.", path)
    if actual.shape != expected.shape:
        meta("shape", actual.shape, expected.shape)
    if opts["check_device"] and actual.device != expected.device:
        meta("device", actual.device, expected.device)
    if opts["check_dtype"] and actual.dtype != expected.dtype:
        meta("dtype", actual.dtype, expected.dtype)
    if opts["check_stride"] and actual.stride() != expected.stride():
        meta("stride()", actual.stride(), expected.stride())
    rtol, atol = opts["rtol"], opts["atol"]
    if rtol is None:
        rtol, atol = _tolerances([actual.dtype, expected.dtype], _PRECISION)
    a = actual.numpy(force=True)
    e = expected.numpy(force=True)
    if a.dtype.name == "bfloat16" or e.dtype.name == "bfloat16":
        a, e = a.astype(np.float32), e.astype(np.float32)   # (exact; NumPy can't compare bf16)
    if a.dtype != e.dtype:
        common = D.promote_types(actual.dtype, expected.dtype).np
        a, e = a.astype(common), e.astype(common)
    matches = _close_arrays(a, e, rtol, atol, opts["equal_nan"])
    if matches.all():
        return
    if a.ndim == 0:
        raise _Mismatch(AssertionError, _scalar_message(a.item(), e.item(), rtol, atol), path)
    raise _Mismatch(AssertionError, _tensor_message(a, e, matches, rtol, atol), path)


def _close_arrays(a, e, rtol, atol, equal_nan):
    """Elementwise |a - e| <= atol + rtol |e| (equal infinities and, with
    equal_nan, NaNs match), as torch.isclose."""
    if a.dtype.kind not in "fc" and not _isf(a.dtype):
        if rtol == 0 and atol == 0:
            return a == e
        a, e = a.astype(np.float64), e.astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        ok = a == e
        finite = np.isfinite(a) & np.isfinite(e)
        ok |= finite & (np.abs(a - e) <= atol + rtol * np.abs(e))
        if equal_nan:
            ok |= np.isnan(a) & np.isnan(e)
    return ok


def _tensor_message(a, e, matches, rtol, atol):
    """torch's message for tensors: mismatch count, then the greatest absolute
    and relative differences among the mismatched elements, with their index."""
    n = matches.size
    bad = n - int(matches.sum())
    flat_a, flat_e, flat_m = a.reshape(-1), e.reshape(-1), matches.reshape(-1)
    if a.dtype.kind not in "fc" and not _isf(a.dtype):
        flat_a, flat_e = flat_a.astype(np.int64), flat_e.astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        abs_diff = np.abs(flat_a - flat_e)
        abs_diff[flat_m] = 0
        rel_diff = abs_diff / np.abs(flat_e)
        if a.dtype.kind not in "fc" and not _isf(a.dtype):       # (an integer division gives the default float)
            rel_diff = rel_diff.astype(D.get_default_dtype().np)
        rel_diff[flat_m] = 0
    i_abs, i_rel = int(np.argmax(abs_diff)), int(np.argmax(rel_diff))

    def where(i):
        return tuple(int(k) for k in np.unravel_index(i, a.shape))
    exact = rtol == 0 and atol == 0
    lines = [f"Tensor-likes are not {'equal' if exact else 'close'}!", "",
             f"Mismatched elements: {bad} / {n} ({bad / n:.1%})",
             f"Greatest absolute difference: {abs_diff[i_abs].item()} at index "
             f"{where(i_abs)}" + _allowed(atol, exact),
             f"Greatest relative difference: {rel_diff[i_rel].item()} at index "
             f"{where(i_rel)}" + _allowed(rtol, exact)]
    return "\n".join(lines)


# ---- make_tensor --------------------------------------------------------------------------

def make_tensor(*shape, dtype, device=None, low=None, high=None, requires_grad=False,
                noncontiguous=False, exclude_zero=False, memory_format=None):
    """A tensor of ``shape`` filled with random values from [low, high) (torch's
    defaults: [-9, 9) for floats, [-9, 10) for signed integers, [0, 10) for
    uint8, random bools), drawn from Ember's default generator."""
    from .._creation import tensor
    from ..random import _rng
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    dt = D.to_dtype(dtype)
    rng = _rng(None)
    if low is not None and high is not None and low > high:
        raise ValueError(f"`low` must be less than or equal to `high`, but got {low} > {high}")
    if dt is D.bool:
        arr = rng.integers(0, 2, size=shape).astype(bool)
    elif dt.is_floating_point:
        lo = -9.0 if low is None else float(low)
        hi = 9.0 if high is None else float(high)
        arr = rng.uniform(lo, hi, size=shape).astype(dt.np)
        if exclude_zero:
            arr[arr == 0] = np.finfo(dt.np).tiny
    else:
        lo = (0 if dt is D.uint8 else -9) if low is None else math.ceil(low)
        hi = 10 if high is None else math.ceil(high)
        arr = rng.integers(lo, hi, size=shape).astype(dt.np)
        if exclude_zero:
            arr[arr == 0] = 1
    return tensor(arr, dtype=dt, device=device, requires_grad=requires_grad)
